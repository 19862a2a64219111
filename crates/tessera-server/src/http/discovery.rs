//! Discovery: the OpenID configuration per tenant (GUID, domain or alias), the JWKS,
//! instance discovery and user realm, in the shapes MSAL reads.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_proto::discovery::{InstanceDiscovery, InstanceMetadata, OpenIdConfiguration};
use tessera_proto::errors::{self as aadsts};

use super::Shared;
use crate::directory::TenantAlias;
use crate::respond::{aadsts_response, base_url, correlation_id, json_body};
use crate::state::AppState;

fn cacheable(value: &impl serde::Serialize) -> Response {
    let mut r = json_body(value).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    r
}

/// The tenant a discovery path names: an alias keeps its name, a domain becomes the GUID.
async fn tenant_segment(
    state: &AppState,
    segment: &str,
) -> Result<Option<(String, String)>, Response> {
    if let Some(alias) = TenantAlias::parse(segment) {
        return Ok(Some((alias.as_str().to_owned(), "{tenantid}".to_owned())));
    }
    match state.directory.tenant(segment).await {
        Ok(Some(t)) => Ok(Some((t.id.clone(), t.id.clone()))),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "tenant lookup failed");
            Err(aadsts_response(
                state,
                &aadsts::TRANSIENT.err(),
                &crate::crypto::random_guid(state.random.as_ref()),
            ))
        }
    }
}

fn unknown_tenant(
    state: &AppState,
    segment: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let shown: String = segment.chars().take(100).collect();
    aadsts_response(
        state,
        &aadsts::TENANT_NOT_FOUND_DISCOVERY.with(&[&shown]),
        &correlation_id(state, headers, query, None),
    )
}

/// What a discovery document is built from: the base URL the client used, the tenant as the
/// path names it (an alias keeps its name, a domain becomes the GUID) and as the issuer names it.
pub(crate) struct Discovered {
    base: String,
    path_tenant: String,
    issuer_tenant: String,
    alias: bool,
}

impl FromRequestParts<Arc<AppState>> for Discovered {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let query = parts.uri.query();
        let (path_tenant, issuer_tenant) = match tenant_segment(state, &segment).await? {
            Some(t) => t,
            None => return Err(unknown_tenant(state, &segment, &parts.headers, query)),
        };
        Ok(Self {
            base: base_url(state, &parts.headers, &parts.uri),
            path_tenant,
            issuer_tenant,
            alias: TenantAlias::parse(&segment).is_some(),
        })
    }
}

impl Discovered {
    fn endpoint(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.base, self.path_tenant)
    }
}

pub(crate) async fn openid_configuration(d: Discovered) -> Response {
    let (base, issuer_tenant, alias) = (&d.base, &d.issuer_tenant, d.alias);
    let ep = |p: &str| d.endpoint(p);
    let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    cacheable(&OpenIdConfiguration {
        token_endpoint: ep("oauth2/v2.0/token"),
        token_endpoint_auth_methods_supported: strs(&[
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ]),
        jwks_uri: ep("discovery/v2.0/keys"),
        response_modes_supported: strs(&["query", "fragment", "form_post"]),
        subject_types_supported: strs(&["pairwise"]),
        id_token_signing_alg_values_supported: strs(&["RS256"]),
        response_types_supported: strs(&["code", "id_token", "code id_token", "id_token token"]),
        scopes_supported: strs(&["openid", "profile", "email", "offline_access"]),
        issuer: format!("{base}/{issuer_tenant}/v2.0"),
        request_uri_parameter_supported: false,
        userinfo_endpoint: format!("{base}/oidc/userinfo"),
        authorization_endpoint: ep("oauth2/v2.0/authorize"),
        device_authorization_endpoint: ep("oauth2/v2.0/devicecode"),
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: ep("oauth2/v2.0/logout"),
        claims_supported: strs(&[
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ]),
        kerberos_endpoint: (!alias).then(|| ep("kerberos")),
        tenant_region_scope: (!alias).then(|| "WW".to_owned()),
        cloud_instance_name: "microsoftonline.com".into(),
        cloud_graph_host_name: "graph.windows.net".into(),
        msgraph_host: base.trim_start_matches("https://").to_owned(),
        rbac_url: "https://pas.windows.net".into(),
    })
}

/// The v1.0 OpenID configuration (`/{tenant}/.well-known/openid-configuration`): issuer
/// `https://sts.windows.net/{tid}/` (the `iss` of every v1 token, whatever host served it),
/// the v1 endpoints, and the fields the v1 document adds (research notes §1.4).
pub(crate) async fn openid_configuration_v1(d: Discovered) -> Response {
    let (base, issuer_tenant, alias) = (&d.base, &d.issuer_tenant, d.alias);
    let ep = |p: &str| d.endpoint(p);
    let mut doc = serde_json::json!({
        "token_endpoint": ep("oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/common/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": format!("https://sts.windows.net/{issuer_tenant}/"),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": ep("oauth2/authorize"),
        "device_authorization_endpoint": ep("oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": ep("oauth2/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        "check_session_iframe": ep("oauth2/checksession"),
        "userinfo_endpoint": ep("openid/userinfo"),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base.trim_start_matches("https://"),
        "rbac_url": "https://pas.windows.net",
    });
    if !alias {
        doc["kerberos_endpoint"] = ep("kerberos").into();
        doc["tenant_region_scope"] = "WW".into();
    }
    cacheable(&doc)
}

pub(crate) async fn jwks(
    state: Shared,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let state = state.0;
    let issuer_tenant = match tenant_segment(&state, &segment).await {
        Ok(Some((_, issuer))) => issuer,
        Ok(None) => return unknown_tenant(&state, &segment, &headers, query.as_deref()),
        Err(r) => return r,
    };
    let base = base_url(&state, &headers, &uri);
    cacheable(
        &state
            .keys
            .jwks(Some(&format!("{base}/{issuer_tenant}/v2.0"))),
    )
}

#[derive(Deserialize)]
pub(crate) struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

pub(crate) async fn instance(
    state: Shared,
    Query(q): Query<InstanceQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let state = state.0;
    let base = base_url(&state, &headers, &uri);
    let (host, tenant) = q
        .authorization_endpoint
        .as_deref()
        .and_then(|e| url::Url::parse(e).ok())
        .map(|u| {
            let host = u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            });
            let tenant = u
                .path_segments()
                .and_then(|mut s| s.next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            (host, tenant)
        })
        .unwrap_or((None, None));
    let our_host = base.trim_start_matches("https://").to_owned();
    let host = host.unwrap_or_else(|| our_host.clone());
    let tenant = tenant.unwrap_or_else(|| "common".into());
    cacheable(&InstanceDiscovery {
        tenant_discovery_endpoint: format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        api_version: "1.1".into(),
        metadata: vec![InstanceMetadata {
            preferred_network: host.clone(),
            preferred_cache: host.clone(),
            aliases: vec![host],
        }],
    })
}

pub(crate) async fn user_realm(state: Shared, Path(user): Path<String>) -> Response {
    let state = state.0;
    let domain = user
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    let known = !domain.is_empty() && matches!(state.directory.tenant(&domain).await, Ok(Some(_)));
    let body = if known {
        serde_json::json!({"ver":"1.0","account_type":"Managed","domain_name":domain,"cloud_instance_name":"microsoftonline.com","cloud_audience_urn":"urn:federation:MicrosoftOnline"})
    } else {
        serde_json::json!({"ver":"1.0","account_type":"Unknown","cloud_instance_name":"microsoftonline.com"})
    };
    json_body(&body).into_response()
}
