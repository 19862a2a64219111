//! Client authentication at the token endpoint: a secret in the body or by HTTP Basic, or a
//! signed client assertion (`private_key_jwt`, RS256 or PS256, found by `x5t#S256` or `x5t`).

use tessera_proto::claims::AssertionClaims;
use tessera_proto::clock::Clock as _;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::token::CLIENT_ASSERTION_TYPE_JWT;
use tessera_proto::{b64, jwt};

use super::{Failure, Params};
use crate::crypto::{self, RsaAlg};
use crate::state::AppState;
use crate::store::{Application, JtiOutcome};

/// Clock skew allowed on assertion times (Entra's tolerance is UNCONFIRMED; 5 minutes is
/// the usual figure).
const ASSERTION_SKEW_SECONDS: i64 = 300;

/// How the client proved itself; becomes `appidacr`/`azpacr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acr {
    Public,
    Secret,
    Certificate,
}

impl Acr {
    pub(crate) fn claim(self) -> &'static str {
        match self {
            Self::Public => "0",
            Self::Secret => "1",
            Self::Certificate => "2",
        }
    }
}

/// The credential a request carries.
pub(crate) enum Presented {
    None,
    Secret(String),
    Assertion { assertion_type: String, jwt: String },
}

impl Presented {
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }
}

/// Reads the credential from the body and the `Authorization: Basic` header, insisting on
/// one method. Returns the client id the request names.
pub(crate) fn presented(
    params: &Params,
    basic: Option<(String, String)>,
) -> Result<(Option<String>, Presented), Failure> {
    let body_secret = params.get("client_secret").map(str::to_owned);
    let assertion = params.get("client_assertion").map(str::to_owned);
    let mut client_id = params.get("client_id").map(str::to_owned);
    let count = usize::from(body_secret.is_some())
        + usize::from(assertion.is_some())
        + usize::from(basic.is_some());
    if count > 1 {
        return Err(aadsts::MULTIPLE_CREDENTIALS.err().into());
    }
    let presented = if let Some((id, secret)) = basic {
        match &client_id {
            Some(c) if !c.eq_ignore_ascii_case(&id) => {
                return Err(aadsts::MULTIPLE_CREDENTIALS.err().into());
            }
            _ => client_id = Some(id),
        }
        Presented::Secret(secret)
    } else if let Some(secret) = body_secret {
        Presented::Secret(secret)
    } else if let Some(jwt) = assertion {
        let assertion_type = params
            .get("client_assertion_type")
            .unwrap_or_default()
            .to_owned();
        Presented::Assertion {
            assertion_type,
            jwt,
        }
    } else {
        Presented::None
    };
    Ok((client_id, presented))
}

/// Authenticates a confidential client's credential. `Presented::None` is the caller's to
/// judge, because whether it is allowed depends on the grant.
pub(crate) async fn authenticate(
    state: &AppState,
    app: &Application,
    presented: Presented,
    token_audiences: &[String],
) -> Result<Acr, Failure> {
    // A public client ("Allow public client flows") with nothing registered is told it is
    // public; a confidential app whose last secret was removed is told the secret is wrong.
    if !presented.is_none()
        && app.public_client
        && app.secrets.is_empty()
        && app.certificates.is_empty()
    {
        return Err(aadsts::PUBLIC_CLIENT_SENT_CREDENTIAL.err().into());
    }
    let now = state.clock.unix();
    match presented {
        Presented::None => Ok(Acr::Public),
        Presented::Secret(secret) => {
            let digest = crypto::sha256(secret.as_bytes());
            let matched = app.secrets.iter().find(|s| {
                let stored = crypto_hex_decode(&s.sha256);
                crypto::digests_equal(&stored, &digest)
            });
            match matched {
                Some(s) if s.expires_at.is_some_and(|e| e <= now) => {
                    Err(aadsts::EXPIRED_CLIENT_SECRET.with(&[&app.client_id]).into())
                }
                Some(_) => Ok(Acr::Secret),
                None => Err(aadsts::INVALID_CLIENT_SECRET.with(&[&app.client_id]).into()),
            }
        }
        Presented::Assertion {
            assertion_type,
            jwt,
        } => {
            if assertion_type != CLIENT_ASSERTION_TYPE_JWT {
                return Err(aadsts::BAD_ASSERTION_TYPE.err().into());
            }
            verify_assertion(state, app, &jwt, token_audiences, now).await?;
            Ok(Acr::Certificate)
        }
    }
}

fn crypto_hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| {
            hex.get(i * 2..i * 2 + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

async fn verify_assertion(
    state: &AppState,
    app: &Application,
    token: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), Failure> {
    let parsed = jwt::parse(token).map_err(|_| aadsts::MALFORMED_JWT.err())?;
    let Some(alg) = RsaAlg::parse(&parsed.header.alg) else {
        let shown: String = parsed
            .header
            .alg
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(16)
            .collect();
        return Err(aadsts::ASSERTION_BAD_ALGORITHM.with(&[&shown]).into());
    };
    let by_s256 = parsed
        .header
        .x5t_s256
        .as_deref()
        .and_then(b64::decode_lenient);
    let by_sha1 = parsed.header.x5t.as_deref().and_then(b64::decode_lenient);
    let cert = app.certificates.iter().find(|c| {
        let matches = |presented: &Option<Vec<u8>>, stored: &str| {
            presented.as_deref().is_some_and(|p| {
                b64::url_decode(stored).is_some_and(|s| crypto::digests_equal(p, &s))
            })
        };
        matches(&by_s256, &c.x5t_s256) || matches(&by_sha1, &c.x5t)
    });
    let Some(cert) = cert else {
        let shown = by_s256
            .as_deref()
            .or(by_sha1.as_deref())
            .map(|t| crypto::hex(t).to_uppercase())
            .unwrap_or_default();
        return Err(aadsts::ASSERTION_KEY_NOT_FOUND
            .with(&[&shown, &app.client_id])
            .into());
    };
    let public_key = b64::decode_lenient(&cert.public_key)
        .ok_or_else(|| Failure::Internal("stored certificate key is corrupt".into()))?;
    if !crypto::verify_rsa(
        alg,
        &public_key,
        parsed.signing_input.as_bytes(),
        &parsed.signature,
    ) {
        return Err(aadsts::ASSERTION_BAD_SIGNATURE.err().into());
    }
    let claims: AssertionClaims =
        serde_json::from_slice(&parsed.payload).map_err(|_| aadsts::MALFORMED_JWT.err())?;
    let is_client = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(&app.client_id))
    };
    if !is_client(&claims.iss) || !is_client(&claims.sub) {
        return Err(aadsts::ASSERTION_WRONG_CLIENT.err().into());
    }
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if !claims
        .aud
        .iter()
        .any(|a| audiences.iter().any(|ok| norm(ok) == norm(a)))
    {
        return Err(aadsts::ASSERTION_WRONG_AUDIENCE.err().into());
    }
    let Some(exp) = claims.exp else {
        return Err(aadsts::MALFORMED_JWT.err().into());
    };
    let valid_from = claims.nbf.or(claims.iat).unwrap_or(i64::MIN);
    if now > exp + ASSERTION_SKEW_SECONDS || now + ASSERTION_SKEW_SECONDS < valid_from {
        let from = if valid_from == i64::MIN {
            String::new()
        } else {
            super::entra_time(valid_from)
        };
        return Err(aadsts::ASSERTION_TIME_RANGE
            .with(&[&super::entra_time(now), &from, &super::entra_time(exp)])
            .into());
    }
    let Some(jti) = claims
        .jti
        .as_deref()
        .filter(|j| !j.is_empty() && j.len() <= 256)
    else {
        return Err(aadsts::MALFORMED_JWT.err().into());
    };
    let outcome = state
        .store()
        .record_assertion_jti(
            &app.client_id,
            jti,
            &crypto::sha256_hex(token.as_bytes()),
            exp + ASSERTION_SKEW_SECONDS,
            now,
        )
        .await?;
    match outcome {
        JtiOutcome::New => Ok(()),
        JtiOutcome::SameAssertion if !state.settings.reject_assertion_reuse => Ok(()),
        JtiOutcome::SameAssertion | JtiOutcome::Replayed => {
            let shown: String = jti.chars().take(64).collect();
            Err(aadsts::ASSERTION_REPLAYED.with(&[&shown]).into())
        }
    }
}
