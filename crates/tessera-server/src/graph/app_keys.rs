//! `addKey` and `removeKey`: certificate rollover by the app itself. The request carries a
//! proof of possession, a JWT signed with one of the app's current certificates, so an app
//! can replace its certificate without any Graph permission, as Entra allows.
//!
//! Source: Microsoft Graph v1.0 reference, "application: addKey" and "application:
//! removeKey" (learn.microsoft.com/graph/api/application-addkey): the proof's `aud` is
//! `00000002-0000-0000-c000-000000000000`, its `iss` the application's object id, and it
//! lives at most 10 minutes; addKey answers 200 with the new keyCredential, removeKey 204.
//! Apps without a valid certificate use `PATCH keyCredentials` instead. What a refused
//! proof says is UNCONFIRMED.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::b64;
use tessera_proto::clock::Clock as _;

use super::apps::find_application;
use super::auth::{Caller, Principal, Rows};
use super::{
    GraphError, GraphResult, Shared, graph_base, graph_time, json_object, json_response,
    no_content, required_str,
};
use crate::crypto::{self, RsaAlg};
use crate::state::AppState;
use crate::store::Application;

/// The proof's audience: the Azure AD Graph application id, as the reference specifies.
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
const PROOF_MAX_SECONDS: i64 = 600;
const SKEW: i64 = 300;
const OTHERS: Rows = &[&["Application.ReadWrite.All"], &["Directory.ReadWrite.All"]];

/// The app itself, or a caller allowed to write every app.
fn allowed(caller: &Caller, app: &Application) -> Result<(), GraphError> {
    if matches!(caller.principal, Principal::App { .. })
        && caller.app_id.eq_ignore_ascii_case(&app.client_id)
    {
        return Ok(());
    }
    caller.require(OTHERS, OTHERS)
}

fn refused(why: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Key credential proof of possession is invalid: {why}."
    ))
}

/// Checks the proof JWT against the app's current certificates.
fn check_proof(app: &Application, proof: &str, now: i64) -> Result<(), GraphError> {
    let parsed = tessera_proto::jwt::parse(proof).map_err(|_| refused("not a signed JWT"))?;
    let alg = RsaAlg::parse(&parsed.header.alg).ok_or_else(|| refused("RS256 or PS256 only"))?;
    let signed = app
        .certificates
        .iter()
        .filter(|c| c.not_before <= now && now < c.not_after)
        .any(|c| {
            b64::decode_lenient(&c.public_key).is_some_and(|key| {
                crypto::verify_rsa(
                    alg,
                    &key,
                    parsed.signing_input.as_bytes(),
                    &parsed.signature,
                )
            })
        });
    if !signed {
        return Err(refused(
            "it is not signed by a current certificate of the application",
        ));
    }
    let claims: Value =
        serde_json::from_slice(&parsed.payload).map_err(|_| refused("unreadable claims"))?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    let number = |k: &str| claims.get(k).and_then(Value::as_i64);
    if text("aud") != PROOF_AUDIENCE {
        return Err(refused("aud must be 00000002-0000-0000-c000-000000000000"));
    }
    if !text("iss").eq_ignore_ascii_case(&app.object_id) {
        return Err(refused("iss must be the application's object id"));
    }
    match (number("nbf"), number("exp")) {
        (Some(nbf), Some(exp))
            if nbf <= now + SKEW && now < exp + SKEW && exp - nbf <= PROOF_MAX_SECONDS =>
        {
            Ok(())
        }
        _ => Err(refused(
            "nbf and exp must span at most 10 minutes around now",
        )),
    }
}

fn key_json(c: &crate::store::CertificateCredential) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "customKeyIdentifier".into(),
        super::apps::custom_key_identifier(c),
    );
    m.insert("displayName".into(), json!(c.display_name));
    m.insert("endDateTime".into(), graph_time(c.not_after));
    m.insert("key".into(), Value::Null);
    m.insert("keyId".into(), json!(c.key_id));
    m.insert("startDateTime".into(), graph_time(c.not_before));
    m.insert("type".into(), json!("AsymmetricX509Cert"));
    m.insert("usage".into(), json!("Verify"));
    m
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<Application, GraphError> {
    let app = find_application(state, caller, id).await?;
    allowed(caller, &app)?;
    Ok(app)
}

/// `POST /applications/{id}/addKey`.
pub(crate) async fn add_key(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    let state = state.0;
    let body = json_object(&body)?;
    let mut app = load(&state, &caller, &id).await?;
    check_proof(&app, required_str(&body, "proof")?, state.clock.unix())?;
    let Some(key) = body.get("keyCredential").and_then(Value::as_object) else {
        return Err(super::property_required("keyCredential"));
    };
    if key.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert")
        || key.get("usage").and_then(Value::as_str) != Some("Verify")
    {
        return Err(GraphError::bad_request(
            "keyCredential: type must be AsymmetricX509Cert and usage Verify.",
        ));
    }
    let der = b64::decode_lenient(required_str(key, "key")?)
        .ok_or_else(|| GraphError::bad_request("keyCredential: key is not base64."))?;
    let display_name = key
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let cert = crypto::certificate_credential(
        &der,
        crypto::random_guid(state.random.as_ref()),
        display_name,
    )
    .map_err(|why| GraphError::bad_request(format!("keyCredential: {why}.")))?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#microsoft.graph.keyCredential",
            graph_base(&state, &headers, &uri)
        )),
    );
    m.extend(key_json(&cert));
    app.certificates.push(cert);
    state.directory.put_application(app).await?;
    Ok(json_response(StatusCode::OK, &Value::Object(m)))
}

/// `POST /applications/{id}/removeKey`.
pub(crate) async fn remove_key(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let state = state.0;
    let body = json_object(&body)?;
    let mut app = load(&state, &caller, &id).await?;
    check_proof(&app, required_str(&body, "proof")?, state.clock.unix())?;
    let key_id = required_str(&body, "keyId")?;
    let before = app.certificates.len();
    app.certificates
        .retain(|c| !c.key_id.eq_ignore_ascii_case(key_id));
    if app.certificates.len() == before {
        return Err(GraphError::not_found(key_id));
    }
    state.directory.put_application(app).await?;
    Ok(no_content())
}
