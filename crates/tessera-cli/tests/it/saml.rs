//! The CLI's SAML commands against a running `tessera serve`: `tessera decode` on a SAML
//! response (the fields, the lifetime explained, `--verify` against the tenant's federation
//! metadata, a tampered copy refused with exit 6), and `tessera seed saml-app`.

use std::collections::HashMap;

use serde_json::Value;

use crate::support::{Running, tessera};

const TENANT: &str = "21212121-3434-5656-7878-909090909090";
const APP: &str = "a1a1a1a1-3434-5656-7878-909090909090";

fn config() -> String {
    format!(
        r#"
[[tenants]]
id = "{TENANT}"
domain = "saml.example"
display_name = "SAML tenant"

[[tenants.applications]]
client_id = "{APP}"
display_name = "SAML app"
identifier_uris = ["urn:decode-sp"]
redirect_uris = ["https://sp.example/acs"]

[[tenants.users]]
user_principal_name = "lee@saml.example"
display_name = "Lee Gu"
password = "Lee-Pass-12345"
"#
    )
}

/// Signs Lee in through the pages of an IdP-initiated sign-in; returns the posted SAMLResponse.
fn saml_response(s: &Running) -> String {
    let client = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(s.str("/ca_cert")).expect("ca"),
        )
        .expect("pem")])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut send = |r: reqwest::blocking::RequestBuilder| {
        let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = r.header("cookie", jar.join("; ")).send().expect("request");
        for v in r.headers().get_all("set-cookie") {
            if let Some((k, rest)) = v.to_str().ok().and_then(|v| v.split_once('=')) {
                cookies.insert(
                    k.to_owned(),
                    rest.split(';').next().unwrap_or_default().to_owned(),
                );
            }
        }
        r.text().expect("page")
    };
    let field = |page: &str, name: &str| -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker)? + marker.len();
        Some(
            page[start..start + page[start..].find('"')?]
                .replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&"),
        )
    };
    let action = |page: &str| -> String {
        let start = page.find("action=\"").expect("form") + "action=\"".len();
        page[start..start + page[start..].find('"').expect("end")].replace("&amp;", "&")
    };
    let mut page = send(client.get(format!("{}/api/signin/{APP}?tenantId={TENANT}", s.base())));
    for step in ["username", "password"] {
        let mut form = vec![
            ("csrf".to_owned(), field(&page, "csrf").expect("csrf")),
            ("flow".to_owned(), field(&page, "flow").expect("flow")),
            ("username".to_owned(), "lee@saml.example".to_owned()),
        ];
        if step == "password" {
            form.push(("password".to_owned(), "Lee-Pass-12345".to_owned()));
        }
        page = send(client.post(action(&page)).form(&form));
    }
    field(&page, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse in {page}"))
}

#[test]
fn decode_explains_and_verifies_a_saml_response() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("saml.toml");
    std::fs::write(&config_path, config()).expect("config");
    let s = Running::start(
        &dir.path().join("data"),
        &["--config", config_path.to_str().expect("utf-8")],
    );
    let response = saml_response(&s);
    let file = dir.path().join("response.b64");
    std::fs::write(&file, &response).expect("write");
    let authority = format!("{}/{TENANT}", s.base());
    let decode = |path: &std::path::Path, extra: &[&str]| {
        tessera()
            .arg("decode")
            .args(extra)
            .args(["--verify", "--authority", &authority, "--ca-cert"])
            .arg(s.str("/ca_cert"))
            .arg(path)
            .output()
            .expect("decode")
    };
    let out = decode(&file, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "SAML Response",
        &format!("issuer: https://sts.windows.net/{TENANT}/"),
        "subject: lee@saml.example (emailAddress)",
        "audience: urn:decode-sp",
        "status: Success",
        "http://schemas.microsoft.com/identity/claims/displayname: Lee Gu",
        "lifetime: 1h: Entra's default for SAML tokens",
        "subject confirmation until:",
        "signature: valid (Assertion) with the certificates at",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let json = decode(&file, &["--output", "json"]);
    let v: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["signature"]["valid"], true);
    assert_eq!(v["nameId"], "lee@saml.example");
    assert_eq!(
        v["notOnOrAfter"].as_i64().expect("exp") - v["issueInstant"].as_i64().expect("iat"),
        3_600_000
    );

    // The display name changed in a copy: exit 6, and the reason.
    let xml = String::from_utf8(tessera_proto::b64::decode_lenient(&response).expect("b64"))
        .expect("utf-8");
    let tampered = dir.path().join("tampered.xml");
    std::fs::write(&tampered, xml.replace("Lee Gu", "Lee Admin")).expect("write");
    let out = decode(&tampered, &[]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("signature: INVALID") && text.contains("digest"),
        "{text}"
    );
    s.stop();
}

#[test]
fn seed_saml_app_registers_an_app_the_saml_endpoint_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Running::start(&data, &[]);
    let seeded = tessera()
        .args([
            "seed",
            "saml-app",
            "--entity-id",
            "urn:seeded-sp",
            "--acs",
            "https://seeded.example/acs",
        ])
        .args([
            "--logout-url",
            "https://seeded.example/slo",
            "--name-id-format",
            "persistent",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("seed");
    let out = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let tenant = s.str("/tenant_id");
    assert!(
        out.contains(&format!(
            "{}/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
            s.base()
        )),
        "{out}"
    );
    let app_id = out
        .lines()
        .find_map(|l| l.strip_prefix("appId: "))
        .expect("appId line")
        .to_owned();
    // The running server serves it at once: a request for the entity ID gets the sign-in page.
    let request = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_s1" Version="2.0" IssueInstant="2026-12-04T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">urn:seeded-sp</saml:Issuer></samlp:AuthnRequest>"#;
    let url = format!(
        "{}/{tenant}/saml2?SAMLRequest={}",
        s.base(),
        url::form_urlencoded::byte_serialize(
            tessera_proto::saml::binding::encode_redirect(request).as_bytes()
        )
        .collect::<String>()
    );
    let page = s.client().get(&url).send().expect("saml2");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().expect("page").contains("name=\"username\""));
    // One app per entity ID, and URLs checked before anything is written.
    let again = tessera()
        .args([
            "seed",
            "saml-app",
            "--entity-id",
            "urn:seeded-sp",
            "--acs",
            "https://seeded.example/acs",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("seed");
    assert!(
        !again.status.success(),
        "a second app for the same entity ID is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = tessera()
        .args([
            "seed",
            "saml-app",
            "--entity-id",
            "urn:x",
            "--acs",
            "not-a-url",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("seed");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--acs 'not-a-url' is not an absolute URL")
    );
    assert_eq!(app_id.len(), 36);
    s.stop();
}
