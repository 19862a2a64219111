//! The answer to the app once the user is signed in: the authorization code (and ID token
//! for `code id_token`) by query, fragment or form_post, or an error to its redirect URI.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::clock::Clock as _;
use tessera_proto::errors::AadstsError;
use tessera_proto::scope;
use tessera_proto::token::ClientInfo;

use super::flow::{self, AuthorizeParams, Flow, Purpose, SamlParams};
use super::session::session_id;
use super::web::{internal, login_action};
use super::{CODE_SECONDS, pages};
use crate::crypto;
use crate::error::ServerError;
use crate::respond::entra_timestamp;
use crate::state::AppState;
use crate::store::{Application, AuthCodeRecord, Tenant, User};

pub(super) fn response_to_app(
    redirect_uri: &str,
    mode: &str,
    fields: Vec<(String, String)>,
) -> Response {
    if mode == "form_post" {
        return pages::form_post(redirect_uri, &fields);
    }
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let location = if mode == "fragment" {
        format!("{redirect_uri}#{encoded}")
    } else if redirect_uri.contains('?') {
        format!("{redirect_uri}&{encoded}")
    } else {
        format!("{redirect_uri}?{encoded}")
    };
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An error after the app and redirect URI are known goes back to the app.
pub(super) fn redirect_error(
    state: &AppState,
    params: &AuthorizeParams,
    err: &AadstsError,
) -> Response {
    let trace = crypto::random_guid(state.random.as_ref());
    let body = err.to_response(
        &trace,
        &crypto::random_guid(state.random.as_ref()),
        &entra_timestamp(state),
    );
    let mut fields = vec![
        ("error".to_owned(), body.error),
        ("error_description".to_owned(), body.error_description),
    ];
    if let Some(s) = &params.state {
        fields.push(("state".into(), s.clone()));
    }
    response_to_app(&params.redirect_uri, &params.response_mode, fields)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn finish(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    app: &Application,
    flow: &Flow,
    user: &User,
    session_hash: &str,
    csrf: &str,
) -> Response {
    match &flow.purpose {
        Purpose::Device { .. } => {
            let flow = Flow {
                user_id: Some(user.id.clone()),
                ..flow.clone()
            };
            pages::device_confirm(
                &tenant.display_name,
                &login_action(base, &tenant.id, "/device"),
                csrf,
                &flow::seal(&state.flow_key, &flow),
                &user.user_principal_name,
                &app.display_name,
            )
        }
        Purpose::Saml(params) => match saml_answer(state, tenant, app, params, user, flow).await {
            Ok(r) => r,
            Err(e) => internal(state, &e),
        },
        Purpose::Authorize(params) => {
            match issue_code(
                state,
                base,
                tenant,
                app,
                params,
                user,
                session_hash,
                flow.mfa_done,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => internal(state, &e),
            }
        }
    }
}

/// The SAML response (or WS-Federation `wresult`) posted to the app, for a user signed in
/// now or (`flow.auth_time`) by an SSO session.
async fn saml_answer(
    state: &AppState,
    tenant: &Tenant,
    app: &Application,
    params: &SamlParams,
    user: &User,
    flow: &Flow,
) -> Result<Response, ServerError> {
    let auth_instant = flow.auth_time.unwrap_or_else(|| state.clock.unix());
    let mfa = flow.mfa_done;
    let policies = state.directory.policy_snapshot(&tenant.id).await?;
    let spec = crate::assertion::TokenSpec {
        tenant,
        app,
        user,
        audience: &params.audience,
        recipient: &params.reply_to,
        in_response_to: params.in_response_to.as_deref(),
        name_id_format: params.name_id_format.as_deref(),
        auth_instant,
        mfa,
        policies: &policies,
    };
    let mut fields = if params.wsfed {
        vec![
            ("wa".to_owned(), "wsignin1.0".to_owned()),
            (
                "wresult".to_owned(),
                crate::assertion::wsfed_response(state, &spec)?,
            ),
        ]
    } else {
        vec![(
            "SAMLResponse".to_owned(),
            tessera_proto::saml::binding::encode_post(&crate::assertion::saml2_response(
                state, &spec,
            )?),
        )]
    };
    if let Some(relay) = &params.relay_state {
        let name = if params.wsfed { "wctx" } else { "RelayState" };
        fields.push((name.to_owned(), relay.clone()));
    }
    Ok(pages::form_post(&params.reply_to, &fields))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn issue_code(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    app: &Application,
    params: &AuthorizeParams,
    user: &User,
    session_hash: &str,
    mfa_done: bool,
) -> Result<Response, ServerError> {
    let now = state.clock.unix();
    let code = format!("1.{}", crypto::random_b64url(state.random.as_ref(), 48));
    let sid = session_id(session_hash);
    state
        .store()
        .insert_auth_code(AuthCodeRecord {
            hash: crypto::sha256_hex(code.as_bytes()),
            tenant_id: tenant.id.clone(),
            client_id: app.client_id.clone(),
            redirect_uri: params.redirect_uri.clone(),
            scope: params.scope.clone(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone(),
            code_challenge_method: params.code_challenge.as_ref().map(|_| {
                params
                    .code_challenge_method
                    .clone()
                    .unwrap_or_else(|| "plain".into())
            }),
            user_id: user.id.clone(),
            session_id: sid.clone(),
            auth_time: now,
            claims: params.claims.clone(),
            created_at: now,
            expires_at: now + CODE_SECONDS,
            mfa: mfa_done,
        })
        .await?;
    let mut fields = vec![("code".to_owned(), code.clone())];
    if params.response_type.contains("id_token") {
        let parsed = scope::parse(&params.scope).unwrap_or_default();
        let policies = state.directory.policy_snapshot(&tenant.id).await?;
        let id_token = crate::token::mint::id_token(
            state,
            &crate::token::mint::IdTokenSpec {
                tenant,
                client: app,
                user,
                profile: parsed.oidc.profile,
                email: parsed.oidc.email,
                nonce: params.nonce.clone(),
                code: Some(&code),
                session_id: &sid,
                base_url: base,
                now,
                policies: &policies,
            },
        )
        .map_err(|e| ServerError::Crypto(format!("{e:?}")))?;
        fields.push(("id_token".into(), id_token));
    }
    if params.client_info {
        fields.push((
            "client_info".into(),
            ClientInfo {
                uid: user.id.clone(),
                utid: tenant.id.clone(),
            }
            .encode(),
        ));
    }
    if let Some(s) = &params.state {
        fields.push(("state".into(), s.clone()));
    }
    fields.push(("session_state".into(), sid));
    Ok(response_to_app(
        &params.redirect_uri,
        &params.response_mode,
        fields,
    ))
}
