//! The changes an app's page makes, each one or two Graph calls: authentication, secrets
//! (the new secret's text is shown once and never put in a URL), certificates, grants, SAML,
//! policy assignment, deletion.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tessera_proto::clock::Clock as _;
use tessera_proto::{GRAPH_APP_ID, b64};

use super::view::render;
use super::{LIST, strings};
use crate::portal::collections::{items, text as s};
use crate::portal::html::{self, Notice};
use crate::portal::session::Admin;
use crate::portal::upstream::{Refusal, enc};
use crate::portal::{Portal, Shared};

/// The certificate of a PEM text, as Graph's `keyCredentials` wants it (standard base64 DER).
fn pem_certificate(pem: &str) -> Option<String> {
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = b64::decode_lenient(&clean)?;
    Some(b64::std_encode(der))
}

/// One change on an app's page, through Graph. Returns the done code, or the secret text
/// of a new secret (shown once, never put in a URL).
enum Changed {
    Done(&'static str),
    Secret(String),
}

async fn apply(
    portal: &Portal,
    admin: &Admin,
    app_id: &str,
    f: &std::collections::HashMap<String, String>,
) -> Result<Changed, Refusal> {
    let field = |k: &str| f.get(k).map_or("", |v| v.trim());
    let t = &admin.token;
    let app = portal
        .get(t, &format!("/applications(appId='{}')", enc(app_id)))
        .await?;
    let object = format!("/applications/{}", enc(s(&app, "id")));
    let patch = |body: Value| {
        let object = object.clone();
        async move { portal.graph(t, Method::PATCH, &object, Some(&body)).await }
    };
    let sp_id = || async {
        portal
            .get(t, &format!("/servicePrincipals(appId='{}')", enc(app_id)))
            .await
            .map(|sp| s(&sp, "id").to_owned())
    };
    let graph_sp_id = || async {
        portal
            .get(t, &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
            .await
            .map(|sp| s(&sp, "id").to_owned())
    };
    match field("op") {
        "redirects" => {
            let uris: Vec<&str> = field("redirectUris")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            patch(json!({"web": {"redirectUris": uris}, "isFallbackPublicClient": field("publicClient") == "true"})).await?;
            Ok(Changed::Done("saved"))
        }
        "identifier" => {
            let id = field("identifierUri");
            let uris: Vec<&str> = Some(id).filter(|i| !i.is_empty()).into_iter().collect();
            patch(json!({"identifierUris": uris})).await?;
            Ok(Changed::Done("saved"))
        }
        "add-secret" => {
            let months: i64 = field("months").parse().unwrap_or(24).clamp(1, 24);
            let end = portal.state.clock.unix() + months * 30 * 86_400;
            let end = time::OffsetDateTime::from_unix_timestamp(end)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let added = portal
                .graph(t, Method::POST, &format!("{object}/addPassword"), Some(&json!({"passwordCredential": {"displayName": field("secretName"), "endDateTime": end}})))
                .await?;
            Ok(Changed::Secret(s(&added, "secretText").to_owned()))
        }
        "remove-secret" => {
            portal
                .graph(
                    t,
                    Method::POST,
                    &format!("{object}/removePassword"),
                    Some(&json!({"keyId": field("keyId")})),
                )
                .await?;
            Ok(Changed::Done("removed"))
        }
        "add-cert" | "remove-cert" => {
            let mut keys: Vec<Value> = app
                .get("keyCredentials")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| {
                    field("op") == "add-cert" || !s(c, "keyId").eq_ignore_ascii_case(field("keyId"))
                })
                .map(|c| json!({"keyId": s(c, "keyId")}))
                .collect();
            if field("op") == "add-cert" {
                let key = pem_certificate(field("pem")).ok_or_else(|| Refusal {
                    status: StatusCode::BAD_REQUEST,
                    message: "That is not a PEM certificate (-----BEGIN CERTIFICATE----- ...)."
                        .into(),
                })?;
                keys.push(json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": key, "displayName": field("certName")}));
            }
            patch(json!({"keyCredentials": keys})).await?;
            Ok(Changed::Done(if field("op") == "add-cert" {
                "added"
            } else {
                "removed"
            }))
        }
        "create-sp" => {
            portal
                .graph(
                    t,
                    Method::POST,
                    "/servicePrincipals",
                    Some(&json!({"appId": app_id})),
                )
                .await?;
            Ok(Changed::Done("created"))
        }
        "grant-role" => {
            let sp = sp_id().await?;
            let graph = graph_sp_id().await?;
            portal
                .graph(t, Method::POST, &format!("/servicePrincipals/{}/appRoleAssignments", enc(&sp)), Some(&json!({"principalId": sp, "resourceId": graph, "appRoleId": field("appRoleId")})))
                .await?;
            Ok(Changed::Done("granted"))
        }
        "revoke-role" => {
            let sp = sp_id().await?;
            portal
                .graph(
                    t,
                    Method::DELETE,
                    &format!(
                        "/servicePrincipals/{}/appRoleAssignments/{}",
                        enc(&sp),
                        enc(field("assignmentId"))
                    ),
                    None,
                )
                .await?;
            Ok(Changed::Done("removed"))
        }
        "grant-delegated" => {
            let sp = sp_id().await?;
            let existing = portal
                .get(
                    t,
                    &format!(
                        "/oauth2PermissionGrants?$filter={}",
                        enc(&format!("clientId eq '{sp}'"))
                    ),
                )
                .await
                .map(|v| items(&v).to_vec())?
                .into_iter()
                .next();
            let scope = field("scope");
            match (existing, scope.is_empty()) {
                (Some(g), true) => {
                    portal
                        .graph(
                            t,
                            Method::DELETE,
                            &format!("/oauth2PermissionGrants/{}", enc(s(&g, "id"))),
                            None,
                        )
                        .await?
                }
                (Some(g), false) => {
                    portal
                        .graph(
                            t,
                            Method::PATCH,
                            &format!("/oauth2PermissionGrants/{}", enc(s(&g, "id"))),
                            Some(&json!({"scope": scope})),
                        )
                        .await?
                }
                (None, true) => Value::Null,
                (None, false) => {
                    let graph = graph_sp_id().await?;
                    portal
                        .graph(t, Method::POST, "/oauth2PermissionGrants", Some(&json!({"clientId": sp, "consentType": "AllPrincipals", "resourceId": graph, "scope": scope})))
                        .await?
                }
            };
            Ok(Changed::Done("saved"))
        }
        "saml" => {
            let mut redirects = strings(&app, "/web/redirectUris");
            let acs = field("acs").to_owned();
            if !acs.is_empty() && !redirects.contains(&acs) {
                redirects.push(acs);
            }
            let logout = Some(field("logoutUrl")).filter(|l| !l.is_empty());
            patch(json!({"identifierUris": [field("entityId")], "web": {"redirectUris": redirects, "logoutUrl": logout}})).await?;
            let sp = sp_id().await?;
            portal
                .graph(
                    t,
                    Method::PATCH,
                    &format!("/servicePrincipals/{}", enc(&sp)),
                    Some(&json!({"preferredSingleSignOnMode": "saml"})),
                )
                .await?;
            Ok(Changed::Done("saved"))
        }
        "assign-policy" | "unassign-policy" if field("target") == "servicePrincipal" => {
            let sp = format!("/servicePrincipals/{}", enc(&sp_id().await?));
            policy_reference(portal, t, &sp, field("op"), field("policyId")).await
        }
        "assign-policy" | "unassign-policy" => {
            policy_reference(portal, t, &object, field("op"), field("policyId")).await
        }
        "delete" => {
            portal.graph(t, Method::DELETE, &object, None).await?;
            Ok(Changed::Done("deleted"))
        }
        _ => Err(Refusal::unknown_action()),
    }
}

/// Assigns (`assign-policy`) or removes a lifetime policy on `object` (an application or
/// service principal path).
async fn policy_reference(
    portal: &Portal,
    token: &str,
    object: &str,
    op: &str,
    policy_id: &str,
) -> Result<Changed, Refusal> {
    if op == "assign-policy" {
        let reference =
            format!("https://graph.microsoft.com/v1.0/policies/tokenLifetimePolicies/{policy_id}");
        portal
            .graph(
                token,
                Method::POST,
                &format!("{object}/tokenLifetimePolicies/$ref"),
                Some(&json!({"@odata.id": reference})),
            )
            .await?;
        Ok(Changed::Done("assigned"))
    } else {
        portal
            .graph(
                token,
                Method::DELETE,
                &format!("{object}/tokenLifetimePolicies/{}/$ref", enc(policy_id)),
                None,
            )
            .await?;
        Ok(Changed::Done("removed"))
    }
}

pub(crate) async fn change(
    portal: Shared,
    admin: Admin,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = crate::respond::form_fields(&body);
    if let Some(r) = admin.check_form(&portal, &headers, &f) {
        return r;
    }
    match apply(&portal, &admin, &app_id, &f).await {
        Ok(Changed::Done("deleted")) => html::done(LIST, "deleted"),
        Ok(Changed::Done(code)) => html::done(&format!("/portal/apps/{}", enc(&app_id)), code),
        Ok(Changed::Secret(secret)) => {
            render(
                &portal,
                &admin,
                &app_id,
                Notice::Done("Secret added.".into()),
                None,
                Some(&secret),
            )
            .await
        }
        Err(r) => {
            render(
                &portal,
                &admin,
                &app_id,
                Notice::Error(r.message),
                Some(r.status),
                None,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_certificates_become_base64_der() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAwQ=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificate(pem).as_deref(), Some("AAECAwQ="));
        assert!(pem_certificate("not a certificate").is_none());
    }
}
