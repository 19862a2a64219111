//! Discovery documents, JWKS, instance discovery and user realm.

use crate::support::{TestServer, aadsts_code};

#[tokio::test]
async fn openid_configuration_for_guid_domain_and_aliases() {
    let s = TestServer::start().await;
    let tid = &s.demo.tenant_id;
    let (status, doc) = s
        .get_json(&format!(
            "{}/v2.0/.well-known/openid-configuration",
            s.authority()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], format!("{}/{tid}/v2.0", s.base));
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/{tid}/oauth2/v2.0/token", s.base)
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/{tid}/discovery/v2.0/keys", s.base)
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{}/{tid}/oauth2/v2.0/devicecode", s.base)
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    assert_eq!(doc["tenant_region_scope"], "WW");

    let (_, by_domain) = s
        .get_json(&format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            s.base,
            s.demo.tenant_domain.to_uppercase()
        ))
        .await;
    assert_eq!(
        by_domain["token_endpoint"], doc["token_endpoint"],
        "a domain resolves to the GUID"
    );

    for alias in ["common", "organizations"] {
        let (status, d) = s
            .get_json(&format!(
                "{}/{alias}/v2.0/.well-known/openid-configuration",
                s.base
            ))
            .await;
        assert_eq!(status, 200);
        assert_eq!(d["issuer"], format!("{}/{{tenantid}}/v2.0", s.base));
        assert_eq!(
            d["token_endpoint"],
            format!("{}/{alias}/oauth2/v2.0/token", s.base)
        );
        assert!(d.get("kerberos_endpoint").is_none());
        assert!(d["tenant_region_scope"].is_null());
    }
    let r = s
        .client
        .get(format!(
            "{}/common/v2.0/.well-known/openid-configuration",
            s.base
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["cache-control"], "max-age=86400, private");

    let (status, body) = s
        .get_json(&format!(
            "{}/nosuch/v2.0/.well-known/openid-configuration",
            s.base
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("invalid_tenant"), 90002)
    );
}

#[tokio::test]
async fn jwks_publishes_x5t_x5c_and_kid() {
    let s = TestServer::start().await;
    for url in [
        format!("{}/discovery/v2.0/keys", s.authority()),
        format!("{}/common/discovery/v2.0/keys", s.base),
    ] {
        let (status, jwks) = s.get_json(&url).await;
        assert_eq!(status, 200);
        let key = &jwks["keys"][0];
        assert_eq!(
            (key["kty"].as_str(), key["use"].as_str(), key["e"].as_str()),
            (Some("RSA"), Some("sig"), Some("AQAB"))
        );
        assert_eq!(key["kid"], key["x5t"]);
        let der =
            tessera_proto::b64::decode_lenient(key["x5c"][0].as_str().expect("x5c")).expect("b64");
        let thumb = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        assert_eq!(
            key["x5t"],
            tessera_proto::b64::url_encode(thumb),
            "x5t is the SHA-1 thumbprint of x5c[0]"
        );
        assert_eq!(
            tessera_proto::b64::url_decode(key["n"].as_str().expect("n"))
                .expect("n")
                .len(),
            256,
            "RSA-2048"
        );
    }
}

#[tokio::test]
async fn instance_discovery_and_user_realm() {
    let s = TestServer::start().await;
    let q = format!(
        "{}/common/discovery/instance?api-version=1.1&authorization_endpoint={}/oauth2/v2.0/authorize",
        s.base,
        s.authority()
    );
    let (status, body) = s.get_json(&q).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("{}/v2.0/.well-known/openid-configuration", s.authority())
    );
    assert_eq!(body["api-version"], "1.1");
    let host = s.base.trim_start_matches("https://");
    assert_eq!(body["metadata"][0]["preferred_network"], host);
    assert_eq!(body["metadata"][0]["aliases"][0], host);

    let (status, realm) = s
        .get_json(&format!(
            "{}/common/userrealm/{}?api-version=1.0",
            s.base, s.demo.user.username
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(realm["account_type"], "Managed");
    assert_eq!(realm["domain_name"], s.demo.tenant_domain.as_str());
    let (_, realm) = s
        .get_json(&format!(
            "{}/common/userrealm/someone@elsewhere.example?api-version=1.0",
            s.base
        ))
        .await;
    assert_eq!(realm["account_type"], "Unknown");
}

/// On port 443 there is one canonical authority, without `:443`: in `demo.json`, in the
/// issuer, and whether the client wrote the port or not (msal-node refuses an authority that
/// differs from discovery's issuer).
#[tokio::test]
async fn port_443_has_one_canonical_authority() {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = tessera_server::Server::prepare(
        tessera_server::ServeOptions::new(dir.path()),
        "127.0.0.1:443".parse().expect("addr"),
    )
    .await
    .expect("prepare");
    assert_eq!(server.base_url, "https://127.0.0.1");
    let demo = server.demo.take().expect("demo");
    assert_eq!(
        demo.authority,
        format!("https://127.0.0.1/{}", demo.tenant_id)
    );
    for host in ["127.0.0.1:443", "127.0.0.1"] {
        let response = server
            .router()
            .oneshot(
                axum::http::Request::get(format!(
                    "https://{host}/{}/v2.0/.well-known/openid-configuration",
                    demo.tenant_id
                ))
                .body(axum::body::Body::empty())
                .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status().as_u16(), 200);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(doc["issuer"], format!("{}/v2.0", demo.authority), "{host}");
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/oauth2/v2.0/token", demo.authority),
            "{host}"
        );
    }
}
