//! The v1.0 token endpoint's dialect (`/{tenant}/oauth2/token`), translated at the edge of the
//! token core: `resource` in place of `scope` on the way in, string-typed numbers with
//! `expires_on`, `not_before` and `resource` on the way out. Grants, checks and lifetimes are
//! the v2.0 endpoint's own, so a policy or CAE applies the same on both.
//!
//! Sources: the research notes (§1.3 v1 endpoints, §3.1 the recorded v1 response); ADAL's
//! device code requests (`grant_type=device_code` with the device code in `code`). A v1 user
//! grant is for every permission consented on the resource, as `{resource}/.default` is on
//! v2.0, and always returns a refresh token (v1 has no `offline_access` scope).

use tessera_proto::errors as aadsts;
use tessera_proto::token::{GrantType, TokenResponse, V1TokenResponse};

use super::{Failure, Params};

/// The v2.0 scope a v1 request for `resource` stands for: every permission consented on it
/// (`/.default`), and for a user a refresh token (v1 always returns one) and, when OpenID
/// Connect is asked for, an ID token. Used by the v1 token, authorize and device code
/// endpoints alike.
pub(crate) fn scope_for(resource: &str, user: bool, openid: bool) -> String {
    let mut s = format!("{resource}/.default");
    if user {
        s.push_str(" offline_access");
        if openid {
            s.push_str(" openid profile");
        }
    }
    s
}

/// Rewrites a v1 request's parameters into the v2.0 form the grants read.
pub(super) fn translate(params: &mut Params, grant: GrantType) -> Result<(), Failure> {
    let resource = params.get("resource").map(str::to_owned);
    // `scope` on v1 only asks for OpenID Connect (an ID token); anything else in it is ignored.
    let openid = params.get("scope").is_some_and(|s| {
        s.split_whitespace()
            .any(|t| t.eq_ignore_ascii_case("openid"))
    });
    let user = grant != GrantType::ClientCredentials;
    match (grant, resource) {
        (_, Some(resource)) => params.set("scope", scope_for(&resource, user, openid)),
        // A refresh token remembers its resource, an authorization code the resource its
        // sign-in asked for; every other grant must name one.
        (GrantType::RefreshToken | GrantType::AuthorizationCode, None) => {
            params.remove("scope");
        }
        (_, None) => return Err(aadsts::MISSING_PARAMETER.with(&["resource"]).into()),
    }
    if grant == GrantType::DeviceCode
        && params.get("device_code").is_none()
        && let Some(code) = params.get("code").map(str::to_owned)
    {
        params.set("device_code", code);
    }
    Ok(())
}

/// What the v1 response reports of the access token it carries.
struct Issued {
    nbf: i64,
    exp: i64,
    aud: String,
    scp: Option<String>,
}

/// Reads the times, audience and scopes back from the access token the core just minted
/// (always one of ours), so the v1 fields agree with the token to the second.
fn issued(access_token: &str) -> Option<Issued> {
    let parsed = tessera_proto::jwt::parse(access_token).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&parsed.payload).ok()?;
    Some(Issued {
        nbf: claims.get("nbf")?.as_i64()?,
        exp: claims.get("exp")?.as_i64()?,
        aud: claims.get("aud")?.as_str()?.to_owned(),
        scp: claims
            .get("scp")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}

/// The v1 form of a token response. `resource` is the one the request named (v1 tokens for
/// Graph carry it verbatim as `aud`); without one (a refresh), the token's audience.
pub(super) fn response(
    v2: TokenResponse,
    resource: Option<&str>,
    now: i64,
) -> Result<V1TokenResponse, Failure> {
    let issued = issued(&v2.access_token)
        .ok_or_else(|| Failure::Internal("minted access token does not parse".into()))?;
    // v1 reports the delegated permissions without OpenID Connect scopes, as `scp` has them.
    let scope = issued.scp.map(|scp| {
        scp.split_whitespace()
            .filter(|p| !["openid", "profile", "email", "offline_access"].contains(p))
            .collect::<Vec<_>>()
            .join(" ")
    });
    Ok(V1TokenResponse {
        token_type: v2.token_type,
        scope: scope.filter(|s| !s.is_empty()),
        expires_in: (issued.exp - now).max(0).to_string(),
        ext_expires_in: (issued.exp - now).max(0).to_string(),
        expires_on: issued.exp.to_string(),
        not_before: issued.nbf.to_string(),
        resource: resource.map_or(issued.aud, str::to_owned),
        access_token: v2.access_token,
        refresh_token: v2.refresh_token,
        id_token: v2.id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())))
            .expect("no duplicates")
    }

    #[test]
    fn resource_becomes_a_default_scope() {
        let mut p = params(&[("resource", "https://graph.microsoft.com/")]);
        translate(&mut p, GrantType::ClientCredentials).expect("translates");
        assert_eq!(
            p.get("scope"),
            Some("https://graph.microsoft.com//.default")
        );

        let mut p = params(&[
            ("resource", "https://graph.microsoft.com"),
            ("scope", "openid"),
        ]);
        translate(&mut p, GrantType::Password).expect("translates");
        assert_eq!(
            p.get("scope"),
            Some("https://graph.microsoft.com/.default offline_access openid profile")
        );
    }

    #[test]
    fn resource_is_required_except_where_the_grant_remembers_it() {
        let err = translate(&mut params(&[]), GrantType::ClientCredentials).expect_err("needs it");
        assert!(matches!(err, Failure::Aadsts(e) if e.code() == 900144));
        let mut p = params(&[("scope", "whatever")]);
        translate(&mut p, GrantType::RefreshToken).expect("remembered");
        assert_eq!(
            p.get("scope"),
            None,
            "the refresh token's own resource applies"
        );
    }

    #[test]
    fn adal_device_code_in_code() {
        let mut p = params(&[("resource", "https://graph.microsoft.com"), ("code", "DC")]);
        translate(&mut p, GrantType::DeviceCode).expect("translates");
        assert_eq!(p.get("device_code"), Some("DC"));
    }
}
