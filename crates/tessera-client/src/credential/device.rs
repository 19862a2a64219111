//! The device code flow: shows the code, polls the token endpoint as the server asks, and
//! keeps the refresh token it returns for later requests.

use std::sync::Arc;

use tessera_proto::token::TokenResponse;

use super::{BoxFuture, Credential, HeldRefreshToken, Identity, TokenRequest, post, with_oidc};
use crate::authority::Authority;
use crate::error::{AadstsFailure, ClientError};
use crate::http::TokenHttp;

/// What the device code endpoint answered, for the caller to show to the user.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeviceCodeInfo {
    pub user_code: String,
    pub verification_uri: String,
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: i64,
    #[serde(default = "five", deserialize_with = "number_or_string")]
    pub interval: i64,
    pub message: String,
    device_code: String,
}

fn five() -> i64 {
    5
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an integer")),
        serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a number")),
    }
}

use serde::Deserialize as _;

/// Device code: the callback shows the message; polling honours `interval` and `slow_down`.
/// After the first sign-in the newest refresh token is held, so later tokens (refresh ahead,
/// other scopes) come without asking the person again until Entra refuses it.
///
/// Runnable example: `examples/device_code.rs` (`cargo run -p tessera-client --example device_code`),
/// run against `tessera serve` by the integration tests.
pub struct DeviceCodeCredential {
    pub authority: Authority,
    pub client_id: String,
    prompt: Arc<dyn Fn(&DeviceCodeInfo) + Send + Sync>,
    refresh: HeldRefreshToken,
}

impl std::fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeCredential {
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        prompt: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static,
    ) -> Self {
        Self {
            authority,
            client_id: client_id.into(),
            prompt: Arc::new(prompt),
            refresh: HeldRefreshToken::default(),
        }
    }
}

impl Credential for DeviceCodeCredential {
    fn identity(&self) -> Identity {
        Identity::new(&self.authority, &self.client_id, "device-code")
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            if let Some(done) = self
                .refresh
                .redeem(http, &self.authority, &self.client_id, request)
                .await
            {
                return done;
            }
            let scope = with_oidc(request);
            let value = http
                .post_form(
                    &self.authority.device_code_endpoint(),
                    &[("client_id", &self.client_id), ("scope", &scope)],
                )
                .await?;
            let info: DeviceCodeInfo = serde_json::from_value(value).map_err(|e| {
                ClientError::Http(format!(
                    "the device code answer has an unexpected shape: {e}"
                ))
            })?;
            (self.prompt)(&info);
            let mut interval = info.interval.max(1);
            let deadline = http.clock().unix() + info.expires_in;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(
                    u64::try_from(interval).unwrap_or(5),
                ))
                .await;
                let form = vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:device_code".to_owned(),
                    ),
                    ("client_id", self.client_id.clone()),
                    ("device_code", info.device_code.clone()),
                ];
                match post(http, &self.authority, form, request).await {
                    Ok(t) => {
                        self.refresh.keep(&t);
                        return Ok(t);
                    }
                    Err(ClientError::Aadsts(f)) if f.response.error == "authorization_pending" => {}
                    Err(ClientError::Aadsts(f)) if f.response.error == "slow_down" => interval += 5,
                    Err(ClientError::Aadsts(f)) if f.response.error == "authorization_declined" => {
                        return Err(ClientError::Interaction(
                            "the sign-in was declined on the other device".into(),
                        ));
                    }
                    Err(ClientError::Aadsts(f)) if f.response.error == "expired_token" => {
                        return Err(ClientError::Interaction(format!(
                            "the device code expired before the sign-in was finished: {}",
                            first_line(&f)
                        )));
                    }
                    Err(e) => return Err(e),
                }
                if http.clock().unix() > deadline {
                    return Err(ClientError::Interaction(
                        "the device code expired before the sign-in was finished".into(),
                    ));
                }
            }
        })
    }
}

fn first_line(f: &AadstsFailure) -> String {
    f.response
        .error_description
        .split(" Trace ID:")
        .next()
        .unwrap_or_default()
        .to_owned()
}
