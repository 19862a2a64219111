//! Entra's built-in directory roles that tessera knows (Graph's `unifiedRoleDefinition`
//! template ids), and which delegated Graph permissions each lets its holder use: in Entra a
//! delegated call acts with the signed-in user's privileges, so `User.ReadWrite.All` in a
//! token lets a user without a role create nobody.
//!
//! Template ids: Microsoft Entra built-in roles, "All roles" table
//! (learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
//! Global Administrator, Privileged Role Administrator, User Administrator and Application
//! Administrator were checked there; the others are from the same table, not re-checked.
//! Which permission each role covers is tessera's reading of the role descriptions, not a
//! published mapping.

/// A built-in role: its template id (also its `roleDefinitionId`), name and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryRole {
    pub template_id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    /// Prefixes of the delegated permissions this role lets its holder use for writes
    /// (`"*"`: all of them).
    covers: &'static [&'static str],
}

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

pub const ROLES: &[DirectoryRole] = &[
    DirectoryRole {
        template_id: GLOBAL_ADMINISTRATOR,
        display_name: "Global Administrator",
        description: "Can manage all aspects of the directory.",
        covers: &["*"],
    },
    DirectoryRole {
        template_id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        display_name: "Privileged Role Administrator",
        description: "Can manage role assignments.",
        covers: &["RoleManagement."],
    },
    DirectoryRole {
        template_id: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        display_name: "User Administrator",
        description: "Can manage all aspects of users and groups, including resetting passwords.",
        covers: &["User.", "Group.", "GroupMember."],
    },
    DirectoryRole {
        template_id: "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        display_name: "Groups Administrator",
        description: "Can manage all aspects of groups.",
        covers: &["Group.", "GroupMember."],
    },
    DirectoryRole {
        template_id: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        display_name: "Application Administrator",
        description: "Can create and manage all aspects of app registrations and enterprise apps.",
        covers: &[
            "Application.",
            "AppRoleAssignment.",
            "DelegatedPermissionGrant.",
            "Policy.ReadWrite.ApplicationConfiguration",
        ],
    },
    DirectoryRole {
        template_id: "158c047a-c907-4556-b7ef-446551a6b5f7",
        display_name: "Cloud Application Administrator",
        description: "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
        covers: &[
            "Application.",
            "AppRoleAssignment.",
            "DelegatedPermissionGrant.",
            "Policy.ReadWrite.ApplicationConfiguration",
        ],
    },
    DirectoryRole {
        template_id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        display_name: "Global Reader",
        description: "Can read everything that a Global Administrator can, but not update anything.",
        covers: &[],
    },
];

/// A role by template id (any case) or display name (any case).
pub fn find(id_or_name: &str) -> Option<&'static DirectoryRole> {
    ROLES.iter().find(|r| {
        r.template_id.eq_ignore_ascii_case(id_or_name)
            || r.display_name.eq_ignore_ascii_case(id_or_name)
    })
}

/// Whether a delegated permission acts on the directory beyond what every member may do, so
/// that its holder also needs a role: tenant-wide writes (`*.ReadWrite.All`, `*.ReadWrite.Directory`,
/// `Policy.ReadWrite.*`, `User.RevokeSessions.All`, `Directory.AccessAsUser.All`). Reads and
/// the user's own profile (`User.ReadWrite`) need none.
pub fn needs_role(permission: &str) -> bool {
    let p = permission.to_ascii_lowercase();
    p.starts_with("policy.readwrite.")
        || p == "user.revokesessions.all"
        || p == "directory.accessasuser.all"
        || (p.contains(".readwrite.") && (p.ends_with(".all") || p.ends_with(".directory")))
}

impl DirectoryRole {
    /// Whether holding this role lets a delegated caller use `permission`.
    pub fn covers(&self, permission: &str) -> bool {
        self.covers.iter().any(|c| {
            *c == "*"
                || permission
                    .get(..c.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(c))
        })
    }
}

/// Whether a user holding `roles` (template ids) may use the delegated `permission`.
pub fn allows<S: AsRef<str>>(roles: &[S], permission: &str) -> bool {
    !needs_role(permission)
        || roles
            .iter()
            .filter_map(|r| find(r.as_ref()))
            .any(|r| r.covers(permission))
}

/// Whether any of `roles` is a role that administers something (the portal's door).
pub fn any_admin<S: AsRef<str>>(roles: &[S]) -> bool {
    roles.iter().any(|r| find(r.as_ref()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_a_role_that_covers_them() {
        let none: [&str; 0] = [];
        assert!(!allows(&none, "User.ReadWrite.All"));
        assert!(allows(&none, "User.Read.All"));
        assert!(allows(&none, "User.ReadWrite"));
        assert!(!allows(&none, "Policy.ReadWrite.ApplicationConfiguration"));
        assert!(!allows(&none, "RoleManagement.ReadWrite.Directory"));
        assert!(allows(
            &[GLOBAL_ADMINISTRATOR],
            "RoleManagement.ReadWrite.Directory"
        ));
        let user_admin = ["User Administrator"];
        assert!(allows(&user_admin, "user.readwrite.all"));
        assert!(allows(&user_admin, "GroupMember.ReadWrite.All"));
        assert!(!allows(&user_admin, "Application.ReadWrite.All"));
        let reader = ["f2ef992c-3afb-46b9-b7cf-a126ee74c451"];
        assert!(!allows(&reader, "User.ReadWrite.All"));
        assert!(any_admin(&reader));
        assert!(!any_admin(&["not-a-role"]));
    }
}
