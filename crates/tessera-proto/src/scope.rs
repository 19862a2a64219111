//! Scope grammar of the v2.0 endpoint: OIDC scopes, `resource/permission` pairs, bare
//! permissions meaning Microsoft Graph, and `.default`. One token is for one resource.

use crate::GRAPH_RESOURCE;

/// The OpenID Connect scopes, which are about the sign-in, not about a resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OidcScopes {
    pub openid: bool,
    pub profile: bool,
    pub email: bool,
    pub offline_access: bool,
}

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeRequest {
    pub oidc: OidcScopes,
    /// The resource as written (`https://graph.microsoft.com`, a GUID, `api://x`), when any
    /// non-OIDC scope was asked. Bare permissions (`User.Read`) mean Graph.
    pub resource: Option<String>,
    /// True when the resource was implied by bare permission names (Graph short form).
    pub short_form: bool,
    /// Permission names without the resource prefix, `.default` excluded.
    pub permissions: Vec<String>,
    /// `{resource}/.default` was asked.
    pub default: bool,
    /// Every scope token as sent, in order.
    pub raw: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope names more than one resource: {0}")]
    MultipleResources(String),
    #[error("scope {0} is not valid")]
    Invalid(String),
}

fn oidc_scope(token: &str, oidc: &mut OidcScopes) -> bool {
    let flag = match token.to_ascii_lowercase().as_str() {
        "openid" => &mut oidc.openid,
        "profile" => &mut oidc.profile,
        "email" => &mut oidc.email,
        "offline_access" => &mut oidc.offline_access,
        _ => return false,
    };
    *flag = true;
    true
}

/// Splits `https://graph.microsoft.com/User.Read` at the last `/` into resource and
/// permission. `https://contoso.com//.default` gives resource `https://contoso.com/`.
pub fn split_scope(token: &str) -> (Option<&str>, &str) {
    match token.rfind('/') {
        Some(i) if i > 0 => (Some(&token[..i]), &token[i + 1..]),
        _ => (None, token),
    }
}

/// Canonical comparison key of a resource identifier: Graph's aliases fold together and a
/// trailing slash is insignificant.
pub fn resource_key(resource: &str) -> String {
    let trimmed = resource.trim_end_matches('/').to_ascii_lowercase();
    if trimmed == GRAPH_RESOURCE
        || trimmed == crate::GRAPH_APP_ID
        || trimmed == "https://graph.microsoft.com/v1.0"
    {
        GRAPH_RESOURCE.to_owned()
    } else {
        trimmed
    }
}

/// Parses a space-separated scope string.
pub fn parse(scope: &str) -> Result<ScopeRequest, ScopeError> {
    let mut req = ScopeRequest::default();
    let mut resource_key_seen: Option<String> = None;
    for token in scope.split_whitespace() {
        req.raw.push(token.to_owned());
        if oidc_scope(token, &mut req.oidc) {
            continue;
        }
        let (resource, permission) = split_scope(token);
        let (resource, short) = match resource {
            Some(r) => (r.to_owned(), false),
            None => (GRAPH_RESOURCE.to_owned(), true),
        };
        if permission.is_empty() {
            return Err(ScopeError::Invalid(token.to_owned()));
        }
        let key = resource_key(&resource);
        match &resource_key_seen {
            Some(seen) if *seen != key => {
                return Err(ScopeError::MultipleResources(scope.to_owned()));
            }
            Some(_) => {}
            None => {
                resource_key_seen = Some(key);
                req.resource = Some(resource);
                req.short_form = short;
            }
        }
        if permission == ".default" {
            req.default = true;
        } else if !req
            .permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(permission))
        {
            req.permissions.push(permission.to_owned());
        }
    }
    if req.default && !req.permissions.is_empty() {
        // `.default` stands for everything consented; mixing it with named permissions is
        // refused by Entra (exact wording UNCONFIRMED).
        return Err(ScopeError::Invalid(scope.to_owned()));
    }
    Ok(req)
}

/// The client credentials rule: exactly one `{resource}/.default` and nothing else.
/// Returns the resource as written.
pub fn client_credentials_resource(scope: &str) -> Option<&str> {
    let mut tokens = scope.split_whitespace();
    let only = tokens.next()?;
    if tokens.next().is_some() {
        return None;
    }
    match split_scope(only) {
        (Some(resource), ".default") if !resource.is_empty() => Some(resource),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_means_graph() {
        let r = parse("User.Read openid profile offline_access").expect("valid");
        assert_eq!(r.resource.as_deref(), Some(GRAPH_RESOURCE));
        assert!(r.short_form);
        assert_eq!(r.permissions, vec!["User.Read"]);
        assert!(r.oidc.openid && r.oidc.profile && r.oidc.offline_access && !r.oidc.email);
    }

    #[test]
    fn graph_aliases_are_one_resource() {
        let r = parse("https://graph.microsoft.com/User.Read Mail.Read 00000003-0000-0000-c000-000000000000/Files.Read").expect("one resource");
        assert_eq!(r.permissions.len(), 3);
        assert!(!r.short_form);
    }

    #[test]
    fn two_resources_refused() {
        assert!(matches!(
            parse("User.Read api://other/x"),
            Err(ScopeError::MultipleResources(_))
        ));
    }

    #[test]
    fn default_and_double_slash() {
        let r = parse("https://contoso.com//.default openid").expect("valid");
        assert!(r.default);
        assert_eq!(r.resource.as_deref(), Some("https://contoso.com/"));
        assert!(parse("https://graph.microsoft.com/.default User.Read").is_err());
    }

    #[test]
    fn only_oidc_has_no_resource() {
        let r = parse("openid offline_access").expect("valid");
        assert!(r.resource.is_none());
    }

    #[test]
    fn client_credentials_scope_rule() {
        assert_eq!(
            client_credentials_resource("https://graph.microsoft.com/.default"),
            Some("https://graph.microsoft.com")
        );
        assert_eq!(
            client_credentials_resource("  api://x/.default "),
            Some("api://x")
        );
        assert_eq!(client_credentials_resource("User.Read"), None);
        assert_eq!(
            client_credentials_resource("https://graph.microsoft.com/.default openid"),
            None
        );
        assert_eq!(client_credentials_resource(""), None);
        assert_eq!(client_credentials_resource("/.default"), None);
    }
}
