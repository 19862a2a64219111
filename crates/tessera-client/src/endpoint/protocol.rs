//! The managed identity request shapes SDKs send and the answers Azure gives, as pure
//! functions: App Service (`GET /msi/token`, `api-version=2019-08-01` with
//! `X-IDENTITY-HEADER`, or the older `2017-09-01` with `Secret`) and IMDS
//! (`GET /metadata/identity/oauth2/token` with `Metadata: true`), their query parameters
//! (`resource`, `api-version`, `client_id`, `object_id`, `mi_res_id`, `principal_id`) and
//! their string-typed numbers. Shapes: learn.microsoft.com "How to use managed identities for
//! App Service and Azure Functions" (REST protocol) and "How to use managed identities for
//! Azure resources on an Azure VM to acquire an access token" (IMDS).

use std::collections::HashMap;

/// Which protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01.
    AppService,
    /// `MSI_ENDPOINT` + `MSI_SECRET`, api-version 2017-09-01 (older SDKs, Cloud Shell).
    AppService2017,
    /// The Instance Metadata Service.
    Imds,
}

/// How a request names the identity it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Default,
    ClientId(String),
    /// `object_id`, `principal_id` or `mi_res_id`: matched against a served credential's name.
    Name(String),
}

/// A request the endpoint will answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRequest {
    pub protocol: Protocol,
    pub resource: String,
    pub selector: Selector,
}

/// A refusal in the protocol's own error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
    pub description: String,
}

impl Refusal {
    fn new(status: u16, error: &str, description: &str) -> Self {
        Self {
            status,
            error: error.to_owned(),
            description: description.to_owned(),
        }
    }

    pub fn body(&self) -> String {
        serde_json::json!({"error": self.error, "error_description": self.description}).to_string()
    }
}

/// The token path of each protocol (after an optional per-run prefix for IMDS).
pub const APP_SERVICE_PATH: &str = "/msi/token";
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Compares secrets in time independent of where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Reads a request: `path` without the query, the decoded `query`, the request headers.
/// `secret` is the per-run secret; `imds_prefix` the path prefix IMDS clients are given
/// (`/<secret>`), since IMDS itself carries no secret.
pub fn read(
    path: &str,
    query: &HashMap<String, String>,
    headers: &[(String, String)],
    secret: &str,
    imds_prefix: &str,
) -> Result<IdentityRequest, Refusal> {
    let protocol = if path == APP_SERVICE_PATH {
        let api = query.get("api-version").map(String::as_str);
        if api == Some("2017-09-01") {
            if !header(headers, "secret").is_some_and(|s| same(s, secret)) {
                return Err(Refusal::new(
                    401,
                    "invalid_request",
                    "The Secret header is missing or wrong",
                ));
            }
            Protocol::AppService2017
        } else {
            if !header(headers, "x-identity-header").is_some_and(|s| same(s, secret)) {
                return Err(Refusal::new(
                    401,
                    "invalid_request",
                    "The X-IDENTITY-HEADER header is missing or wrong",
                ));
            }
            Protocol::AppService
        }
    } else if path.strip_prefix(imds_prefix) == Some(IMDS_PATH) && !imds_prefix.is_empty() {
        imds_metadata(headers)?;
        Protocol::Imds
    } else {
        return Err(Refusal::new(404, "not_found", "No such endpoint."));
    };
    request_of(protocol, query)
}

/// The parameters every protocol shares: `api-version`, `resource`, the identity named.
pub fn request_of(
    protocol: Protocol,
    query: &HashMap<String, String>,
) -> Result<IdentityRequest, Refusal> {
    if !query.contains_key("api-version") {
        return Err(Refusal::new(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        ));
    }
    let resource = query
        .get("resource")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Refusal::new(
                400,
                "invalid_request",
                "Required query variable 'resource' is missing",
            )
        })?
        .to_owned();
    let named = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
    let selector = if let Some(c) = named("client_id").or_else(|| named("clientid")) {
        Selector::ClientId(c)
    } else if let Some(n) = named("object_id")
        .or_else(|| named("principal_id"))
        .or_else(|| named("mi_res_id"))
        .or_else(|| named("msi_res_id"))
    {
        Selector::Name(n)
    } else {
        Selector::Default
    };
    Ok(IdentityRequest {
        protocol,
        resource,
        selector,
    })
}

/// IMDS requests carry `Metadata: true` (SSRF protection, as on Azure).
pub fn imds_metadata(headers: &[(String, String)]) -> Result<(), Refusal> {
    if header(headers, "metadata")
        .map(str::to_ascii_lowercase)
        .as_deref()
        == Some("true")
    {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            "invalid_request",
            "Required metadata header not specified",
        ))
    }
}

/// The `Authorization: Basic <content>` an Azure Arc client sends back with a challenge
/// file's content.
pub fn basic_credential(headers: &[(String, String)]) -> Option<&str> {
    let value = header(headers, "authorization")?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
}

/// The scope a resource asks for: `{resource}/.default`.
pub fn scope_of(resource: &str) -> String {
    let r = resource.trim_end_matches('/');
    if r.ends_with("/.default") {
        r.to_owned()
    } else {
        format!("{r}/.default")
    }
}

/// The success body: App Service's five fields, or IMDS's with `expires_in`, `not_before`
/// and `ext_expires_in`; every number a string, as Azure sends them.
pub fn answer(
    protocol: Protocol,
    token: &str,
    resource: &str,
    client_id: &str,
    now: i64,
    expires_at: i64,
) -> String {
    let mut body = serde_json::json!({
        "access_token": token,
        "client_id": client_id,
        "expires_on": expires_at.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    if protocol == Protocol::Imds {
        let left = (expires_at - now).max(0).to_string();
        body["expires_in"] = serde_json::json!(left);
        body["ext_expires_in"] = serde_json::json!(left);
        body["not_before"] = serde_json::json!(now.to_string());
        body["refresh_token"] = serde_json::json!("");
    }
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_protocol_needs_its_secret_and_names_a_resource() {
        let graph = q(&[
            ("resource", "https://graph.microsoft.com"),
            ("api-version", "2019-08-01"),
        ]);
        let ok = read(
            "/msi/token",
            &graph,
            &h(&[("X-IDENTITY-HEADER", "s3cret")]),
            "s3cret",
            "/p",
        )
        .expect("app service");
        assert_eq!(
            (ok.protocol, ok.selector),
            (Protocol::AppService, Selector::Default)
        );
        for wrong in [h(&[]), h(&[("x-identity-header", "nope!!")])] {
            assert_eq!(
                read("/msi/token", &graph, &wrong, "s3cret", "/p")
                    .expect_err("refused")
                    .status,
                401
            );
        }
        let old = q(&[
            ("resource", "r"),
            ("api-version", "2017-09-01"),
            ("clientid", "c1"),
        ]);
        let r = read(
            "/msi/token",
            &old,
            &h(&[("secret", "s3cret")]),
            "s3cret",
            "/p",
        )
        .expect("2017");
        assert_eq!(
            (r.protocol, r.selector),
            (Protocol::AppService2017, Selector::ClientId("c1".into()))
        );
        let imds = q(&[
            ("resource", "r"),
            ("api-version", "2018-02-01"),
            ("mi_res_id", "/sub/x"),
        ]);
        let r = read(
            "/p/metadata/identity/oauth2/token",
            &imds,
            &h(&[("Metadata", "true")]),
            "s",
            "/p",
        )
        .expect("imds");
        assert_eq!(
            (r.protocol, r.selector),
            (Protocol::Imds, Selector::Name("/sub/x".into()))
        );
        let no_meta = read(
            "/p/metadata/identity/oauth2/token",
            &imds,
            &h(&[]),
            "s",
            "/p",
        )
        .expect_err("refused");
        assert_eq!(
            (no_meta.status, no_meta.description.as_str()),
            (400, "Required metadata header not specified")
        );
        // IMDS without the per-run prefix is not served: nothing to tell callers apart.
        assert_eq!(
            read(
                "/metadata/identity/oauth2/token",
                &imds,
                &h(&[("Metadata", "true")]),
                "s",
                "/p"
            )
            .expect_err("404")
            .status,
            404
        );
        let missing = read(
            "/msi/token",
            &q(&[("api-version", "2019-08-01")]),
            &h(&[("X-IDENTITY-HEADER", "s")]),
            "s",
            "/p",
        )
        .expect_err("400");
        assert_eq!(
            missing.description,
            "Required query variable 'resource' is missing"
        );
    }

    #[test]
    fn answers_carry_string_numbers() {
        let app: serde_json::Value =
            serde_json::from_str(&answer(Protocol::AppService, "t", "r", "c", 100, 3700))
                .expect("json");
        assert_eq!(app["expires_on"], "3700");
        assert!(app.get("expires_in").is_none());
        let imds: serde_json::Value =
            serde_json::from_str(&answer(Protocol::Imds, "t", "r", "c", 100, 3700)).expect("json");
        assert_eq!(
            (imds["expires_in"].as_str(), imds["not_before"].as_str()),
            (Some("3600"), Some("100"))
        );
        assert_eq!(
            scope_of("https://graph.microsoft.com/"),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(scope_of("api://x/.default"), "api://x/.default");
    }
}
