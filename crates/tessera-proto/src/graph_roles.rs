//! Microsoft Graph's application permissions (its service principal's `appRoles`) that the
//! subset serves, with Graph's own ids, so a script that grants a permission by id (as
//! `New-MgServicePrincipalAppRoleAssignment` and the Graph SDKs do) names the same role here.
//!
//! Ids as listed by Microsoft's permissions reference (learn.microsoft.com/graph/
//! permissions-reference) and checked against CISA ScubaGear's RiskyPermissions.json; the
//! ones marked UNCONFIRMED below were not seen in a source during this work.

/// One application permission: Graph's `appRole` id, its value (the `roles` claim) and
/// its display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphAppRole {
    pub id: &'static str,
    pub value: &'static str,
    pub display_name: &'static str,
}

const fn role(id: &'static str, value: &'static str, display_name: &'static str) -> GraphAppRole {
    GraphAppRole {
        id,
        value,
        display_name,
    }
}

pub const GRAPH_APP_ROLES: &[GraphAppRole] = &[
    role(
        "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Manage all delegated permission grants",
    ),
    role(
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Application.ReadWrite.All",
        "Read and write all applications",
    ),
    role(
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
        "Application.ReadWrite.OwnedBy",
        "Manage apps that this app creates or owns",
    ),
    // UNCONFIRMED id.
    role(
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "Application.Read.All",
        "Read all applications",
    ),
    role(
        "06b708a9-e830-4db3-a914-8e69da51d44f",
        "AppRoleAssignment.ReadWrite.All",
        "Manage app permission grants and app role assignments",
    ),
    role(
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "Directory.Read.All",
        "Read directory data",
    ),
    role(
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Directory.ReadWrite.All",
        "Read and write directory data",
    ),
    role(
        "df021288-bdef-4463-88db-98f22de89214",
        "User.Read.All",
        "Read all users' full profiles",
    ),
    role(
        "741f803b-c850-494e-b5df-cde7c675a1ca",
        "User.ReadWrite.All",
        "Read and write all users' full profiles",
    ),
    role(
        "5b567255-7703-4780-807c-7be8301ae99b",
        "Group.Read.All",
        "Read all groups",
    ),
    role(
        "62a82d76-70ea-41e2-9197-370581804d09",
        "Group.ReadWrite.All",
        "Read and write all groups",
    ),
    role(
        "98830695-27a2-44f7-8c18-0c3ebc9698f6",
        "GroupMember.Read.All",
        "Read all group memberships",
    ),
    // UNCONFIRMED id.
    role(
        "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
        "GroupMember.ReadWrite.All",
        "Read and write all group memberships",
    ),
    // UNCONFIRMED ids.
    role(
        "246dd0d5-5bd0-4def-940b-0421030a5b68",
        "Policy.Read.All",
        "Read your organization's policies",
    ),
    role(
        "be74164b-cff1-491c-8741-e671cb536e13",
        "Policy.ReadWrite.ApplicationConfiguration",
        "Read and write your organization's application configuration policies",
    ),
];

/// The role with Graph's id `id` (case-insensitive).
pub fn by_id(id: &str) -> Option<&'static GraphAppRole> {
    GRAPH_APP_ROLES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The role whose value is `value` (case-insensitive, as Entra compares permission names).
pub fn by_value(value: &str) -> Option<&'static GraphAppRole> {
    GRAPH_APP_ROLES
        .iter()
        .find(|r| r.value.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_values_are_unique_guids() {
        let mut ids: Vec<_> = GRAPH_APP_ROLES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), GRAPH_APP_ROLES.len());
        for r in GRAPH_APP_ROLES {
            assert_eq!(r.id.len(), 36, "{}", r.value);
            assert_eq!(by_value(r.value), Some(r));
            assert_eq!(by_id(&r.id.to_ascii_uppercase()), Some(r));
        }
    }
}
