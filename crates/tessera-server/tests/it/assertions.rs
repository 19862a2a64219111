//! Certificate credentials: client assertions as MSAL Python, msal-node and azure-identity
//! send them, and every way an assertion can be wrong.

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tessera_proto::b64;

use crate::support::{TestServer, aadsts_code, jwt_parts};

struct Signer {
    key: RsaKeyPair,
    cert_der: Vec<u8>,
}

impl Signer {
    fn demo(s: &TestServer) -> Self {
        let key_pem = std::fs::read(&s.demo.daemon.private_key_pem).expect("key pem");
        let key_der =
            rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(&key_pem).expect("pkcs8");
        let cert_pem = std::fs::read(&s.demo.daemon.certificate_pem).expect("cert pem");
        let cert_der = rustls_pki_types::CertificateDer::from_pem_slice(&cert_pem)
            .expect("cert")
            .to_vec();
        Self {
            key: RsaKeyPair::from_pkcs8(key_der.secret_pkcs8_der()).expect("rsa"),
            cert_der,
        }
    }

    fn x5t(&self) -> String {
        b64::url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &self.cert_der,
        ))
    }

    fn x5t_s256(&self) -> String {
        b64::url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.cert_der,
        ))
    }

    fn sign(&self, header: &Value, claims: &Value, padding: &'static dyn RsaEncoding) -> String {
        let input = format!(
            "{}.{}",
            b64::url_encode(serde_json::to_vec(header).expect("json")),
            b64::url_encode(serde_json::to_vec(claims).expect("json"))
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                padding,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{input}.{}", b64::url_encode(sig))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(s: &TestServer, jti: &str) -> Value {
    let cid = &s.demo.daemon.client_id;
    json!({"aud": s.token_url(), "iss": cid, "sub": cid, "exp": now() + 600, "nbf": now(), "iat": now(), "jti": jti})
}

async fn with_assertion(s: &TestServer, assertion: &str) -> (u16, Value) {
    s.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", s.demo.daemon.client_id.as_str()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
    .await
}

#[tokio::test]
async fn accepts_what_real_clients_send() {
    let s = TestServer::start().await;
    let k = Signer::demo(&s);
    // msal-node thumbprintSha256: PS256, unpadded x5t#S256, x5c.
    let h = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": k.x5t_s256(), "x5c": [b64::std_encode(&k.cert_der)]});
    let (status, body) = with_assertion(&s, &k.sign(&h, &claims(&s, "a1"), &RSA_PSS_SHA256)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().expect("t")).1["appidacr"],
        "2"
    );

    // MSAL Python / azure-identity: RS256, padded SHA-1 x5t, float times, no nbf.
    let h = json!({"alg": "RS256", "typ": "JWT", "x5t": format!("{}=", k.x5t())});
    let cid = &s.demo.daemon.client_id;
    let c = json!({"aud": s.token_url(), "iss": cid, "sub": cid, "exp": now() as f64 + 600.25, "iat": now() as f64 + 0.5, "jti": "a2"});
    let (status, body) = with_assertion(&s, &k.sign(&h, &c, &RSA_PKCS1_SHA256)).await;
    assert_eq!(status, 200, "{body}");

    // MSAL Python with public_certificate: padded x5t#S256 and a PEM-wrapped x5c.
    let h = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": format!("{}=", k.x5t_s256()), "x5c": ["MIID\nAAAA"]});
    let (status, body) = with_assertion(&s, &k.sign(&h, &claims(&s, "a3"), &RSA_PSS_SHA256)).await;
    assert_eq!(status, 200, "{body}");

    // aud naming the tenant by domain, v1 token endpoint form.
    let mut c = claims(&s, "a4");
    c["aud"] = json!(format!("{}/{}/oauth2/token", s.base, s.demo.tenant_domain));
    let h = json!({"alg": "RS256", "x5t": k.x5t()});
    let (status, body) = with_assertion(&s, &k.sign(&h, &c, &RSA_PKCS1_SHA256)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn refuses_bad_assertions_with_entra_codes() {
    let s = TestServer::start().await;
    let k = Signer::demo(&s);
    let h = json!({"alg": "RS256", "typ": "JWT", "x5t": k.x5t()});
    let sign = |c: &Value| k.sign(&h, c, &RSA_PKCS1_SHA256);

    let mut c = claims(&s, "e1");
    c["exp"] = json!(now() - 3600);
    c["nbf"] = json!(now() - 4200);
    let (status, body) = with_assertion(&s, &sign(&c)).await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (401, Some("invalid_client"), 700024)
    );
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("Current time: ")
    );

    let mut c = claims(&s, "e2");
    c["nbf"] = json!(now() + 3600);
    c["exp"] = json!(now() + 4200);
    assert_eq!(
        aadsts_code(&with_assertion(&s, &sign(&c)).await.1),
        700024,
        "not yet valid"
    );

    let mut c = claims(&s, "e3");
    c["aud"] = json!("https://login.microsoftonline.com/other/oauth2/v2.0/token");
    assert_eq!(aadsts_code(&with_assertion(&s, &sign(&c)).await.1), 700023);

    let mut c = claims(&s, "e4");
    c["iss"] = json!("someone-else");
    assert_eq!(aadsts_code(&with_assertion(&s, &sign(&c)).await.1), 700021);

    let mut c = claims(&s, "e5");
    c.as_object_mut().expect("object").remove("exp");
    assert_eq!(
        aadsts_code(&with_assertion(&s, &sign(&c)).await.1),
        50027,
        "exp is required"
    );

    let good = sign(&claims(&s, "e6"));
    let (head, _) = good.rsplit_once('.').expect("parts");
    let (status, body) =
        with_assertion(&s, &format!("{head}.{}", b64::url_encode([7u8; 256]))).await;
    assert_eq!((status, aadsts_code(&body)), (401, 700027), "bad signature");

    let h2 = json!({"alg": "RS256", "x5t": b64::url_encode([1u8; 20])});
    let (status, body) =
        with_assertion(&s, &k.sign(&h2, &claims(&s, "e7"), &RSA_PKCS1_SHA256)).await;
    assert_eq!((status, aadsts_code(&body)), (401, 700027));
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("0101010101"),
        "names the thumbprint sent"
    );

    for alg in ["none", "HS256", "ES256"] {
        let h3 = json!({"alg": alg, "x5t": k.x5t()});
        let (status, body) =
            with_assertion(&s, &k.sign(&h3, &claims(&s, "e8"), &RSA_PKCS1_SHA256)).await;
        assert_eq!((status, aadsts_code(&body)), (401, 5002738), "{alg}");
    }

    for garbage in ["", "a.b", "not-a-jwt", "!!!.@@@.###", "e30.e30.e30.e30"] {
        let (status, body) = with_assertion(&s, garbage).await;
        assert!(status == 401 || status == 400, "{garbage}: {status}");
        assert!(aadsts_code(&body) > 0, "{garbage}: {body}");
    }
    let huge = "a".repeat(20_000); // over the JWT limit, under the body limit
    let (status, _) = with_assertion(&s, &format!("{huge}.{huge}.x")).await;
    assert_eq!(status, 401);

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.demo.daemon.client_id.as_str()),
            ("client_assertion_type", "urn:wrong"),
            ("client_assertion", &sign(&claims(&s, "e9"))),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn jti_replay_is_refused_but_msal_node_reuse_is_not() {
    let s = TestServer::start().await;
    let k = Signer::demo(&s);
    let h = json!({"alg": "RS256", "x5t": k.x5t()});
    let first = k.sign(&h, &claims(&s, "same-jti"), &RSA_PKCS1_SHA256);
    assert_eq!(with_assertion(&s, &first).await.0, 200);
    // msal-node caches its assertion and sends it again until it expires; Entra accepts it.
    assert_eq!(
        with_assertion(&s, &first).await.0,
        200,
        "identical assertion re-sent"
    );
    let mut c = claims(&s, "same-jti");
    c["exp"] = json!(now() + 500);
    let (status, body) = with_assertion(&s, &k.sign(&h, &c, &RSA_PKCS1_SHA256)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a new assertion reusing a jti is a replay"
    );
}

#[tokio::test]
async fn strict_mode_refuses_any_reuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        crate::support::write_config(dir.path(), "[token]\nreject_assertion_reuse = true\n");
    let s = TestServer::start_in(dir, |o| o.config_file = Some(config)).await;
    let k = Signer::demo(&s);
    let a = k.sign(
        &json!({"alg": "RS256", "x5t": k.x5t()}),
        &claims(&s, "strict"),
        &RSA_PKCS1_SHA256,
    );
    assert_eq!(with_assertion(&s, &a).await.0, 200);
    assert_eq!(with_assertion(&s, &a).await.0, 401);
}

/// A certificate uploaded through Graph (`PATCH /applications/{id}` with `keyCredentials`)
/// works for client credentials at once, and stops working when the list drops it.
#[tokio::test]
async fn a_certificate_added_through_graph_signs_in() {
    let s = TestServer::start().await;
    let k = Signer::demo(&s);
    let (_, admin) = s.daemon_token(&[]).await;
    let admin = admin["access_token"].as_str().expect("at").to_owned();
    let graph = |method: reqwest::Method, path: String, body: Value| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let r = s
                .client
                .request(method, format!("{}/v1.0{path}", s.base))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .expect("graph");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, app) = graph(
        reqwest::Method::POST,
        "/applications".into(),
        json!({"displayName": "signer"}),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let (object_id, app_id) = (
        app["id"].as_str().expect("id").to_owned(),
        app["appId"].as_str().expect("appId").to_owned(),
    );
    let (status, body) = graph(
        reqwest::Method::POST,
        "/servicePrincipals".into(),
        json!({ "appId": app_id }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let upload = json!({"keyCredentials": [{
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": b64::std_encode(&k.cert_der),
        "displayName": "CN=signer",
    }]});
    let (status, body) = graph(
        reqwest::Method::PATCH,
        format!("/applications/{object_id}"),
        upload,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Listed with its thumbprint as Graph writes it: standard base64 of the SHA-1 hash.
    let (_, listed) = graph(
        reqwest::Method::GET,
        format!("/applications/{object_id}"),
        Value::Null,
    )
    .await;
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &k.cert_der);
    assert_eq!(
        listed["keyCredentials"][0]["customKeyIdentifier"],
        b64::std_encode(sha1)
    );

    let sign_in = || {
        let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": k.x5t_s256()});
        let claims = json!({"aud": s.token_url(), "iss": app_id, "sub": app_id, "exp": now() + 600, "nbf": now(), "iat": now(), "jti": uuid_like()});
        let assertion = k.sign(&header, &claims, &RSA_PSS_SHA256);
        let (s, app_id) = (&s, app_id.clone());
        async move {
            s.token(&[
                ("grant_type", "client_credentials"),
                ("client_id", app_id.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await
        }
    };
    let (status, body) = sign_in().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().expect("at")).1["appid"],
        app_id.as_str()
    );

    let (status, body) = graph(
        reqwest::Method::PATCH,
        format!("/applications/{object_id}"),
        json!({"keyCredentials": []}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = sign_in().await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
}

/// A fresh assertion id per call.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("graph-cert-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

/// Certificate rollover by the app itself: `addKey` with a proof signed by the current
/// certificate, the new certificate signs assertions at once, `removeKey` retires the old
/// one (proved with the new), and a proof with the wrong audience is refused.
#[tokio::test]
async fn an_app_rolls_its_certificate_with_add_key_and_remove_key() {
    let s = TestServer::start().await;
    let old = Signer::demo(&s);
    let new_key =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .expect("rsa key");
    let new_cert = rcgen::CertificateParams::new(vec!["rolled".to_owned()])
        .expect("params")
        .self_signed(&new_key)
        .expect("cert");
    let new = Signer {
        key: RsaKeyPair::from_pkcs8(&new_key.serialize_der()).expect("pkcs8"),
        cert_der: new_cert.der().to_vec(),
    };
    let (_, token) = s.daemon_token(&[]).await;
    let token = token["access_token"].as_str().expect("at").to_owned();
    let daemon = s.demo.daemon.client_id.clone();
    let graph = |path: String, body: Option<Value>| {
        let (s, token) = (&s, token.clone());
        async move {
            let url = format!(
                "{}/v1.0/applications(appId='{daemon_id}'){path}",
                s.base,
                daemon_id = s.demo.daemon.client_id
            );
            let r = match body {
                Some(b) => s.client.post(url).bearer_auth(token).json(&b),
                None => s.client.get(url).bearer_auth(token),
            }
            .send()
            .await
            .expect("graph");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, app) = graph(String::new(), None).await;
    let object_id = app["id"].as_str().expect("object id").to_owned();
    let old_key_id = app["keyCredentials"][0]["keyId"]
        .as_str()
        .expect("keyId")
        .to_owned();
    let proof = |signer: &Signer, aud: &str| {
        signer.sign(
            &json!({"alg": "RS256", "typ": "JWT", "x5t": signer.x5t()}),
            &json!({"aud": aud, "iss": object_id, "nbf": now(), "exp": now() + 300}),
            &RSA_PKCS1_SHA256,
        )
    };
    const AUD: &str = "00000002-0000-0000-c000-000000000000";

    let add = |proof: String| {
        json!({
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": b64::std_encode(&new.cert_der)},
            "passwordCredential": null,
            "proof": proof,
        })
    };
    let (status, body) = graph(
        "/addKey".into(),
        Some(add(proof(&old, "https://graph.microsoft.com"))),
    )
    .await;
    assert_eq!(status, 400, "a proof for another audience: {body}");
    let (status, body) = graph("/addKey".into(), Some(add(proof(&new, AUD)))).await;
    assert_eq!(
        status, 400,
        "a proof by a key the app does not have: {body}"
    );
    let (status, body) = graph("/addKey".into(), Some(add(proof(&old, AUD)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "AsymmetricX509Cert");
    assert_eq!(body["key"], Value::Null);

    let assertion = |signer: &Signer| {
        signer.sign(
            &json!({"alg": "PS256", "typ": "JWT", "x5t#S256": signer.x5t_s256()}),
            &json!({"aud": s.token_url(), "iss": daemon, "sub": daemon, "exp": now() + 600, "nbf": now(), "iat": now(), "jti": format!("roll-{}", signer.x5t())}),
            &RSA_PSS_SHA256,
        )
    };
    let (status, body) = with_assertion(&s, &assertion(&new)).await;
    assert_eq!(status, 200, "the new certificate signs in: {body}");

    let (status, body) = graph(
        "/removeKey".into(),
        Some(json!({"keyId": old_key_id, "proof": proof(&new, AUD)})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = with_assertion(&s, &assertion(&old)).await;
    assert_eq!(
        (status, aadsts_code(&body)),
        (401, 700027),
        "the old one is gone: {body}"
    );
}
