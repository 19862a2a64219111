//! In-progress sign-ins travel between pages as signed flow tokens (HMAC-SHA256 over JSON)
//! in hidden form fields, bound to the browser's CSRF cookie and short-lived, so the server
//! keeps no state until a session or a code exists and a token cannot be forged or replayed
//! from another browser.

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};

use crate::crypto::FlowKey;

/// How long a sign-in page stays usable.
pub(crate) const FLOW_SECONDS: i64 = 15 * 60;

/// The authorize request being served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthorizeParams {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) response_type: String,
    pub(crate) response_mode: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) prompt: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) client_info: bool,
    pub(crate) claims: Option<String>,
}

/// A SAML 2.0 or WS-Federation sign-in being served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SamlParams {
    pub(crate) client_id: String,
    /// The entity ID (or WS-Federation realm) the app named: the token's audience.
    pub(crate) audience: String,
    /// Where the answer is posted: the ACS URL, or WS-Federation's `wreply`.
    pub(crate) reply_to: String,
    /// The request's ID; none for an IdP-initiated sign-in.
    pub(crate) in_response_to: Option<String>,
    /// `RelayState`, or WS-Federation's `wctx`, returned as it came.
    pub(crate) relay_state: Option<String>,
    pub(crate) name_id_format: Option<String>,
    /// WS-Federation's answer (`wresult`) rather than SAML 2.0's (`SAMLResponse`).
    pub(crate) wsfed: bool,
}

/// What the sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Purpose {
    Authorize(Box<AuthorizeParams>),
    /// SAML 2.0 or WS-Federation: no delegated permissions, so no consent is asked.
    Saml(Box<SamlParams>),
    /// A device code (by digest) being approved.
    Device {
        device_hash: String,
        client_id: String,
        scope: String,
    },
}

impl Purpose {
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Self::Authorize(a) => &a.client_id,
            Self::Saml(s) => &s.client_id,
            Self::Device { client_id, .. } => client_id,
        }
    }

    pub(crate) fn scope(&self) -> &str {
        match self {
            Self::Authorize(a) => &a.scope,
            Self::Saml(_) => "",
            Self::Device { scope, .. } => scope,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flow {
    pub(crate) tenant_id: String,
    pub(crate) purpose: Purpose,
    /// The user name typed on the first page.
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// Set once the password (and MFA, when required) has been verified.
    #[serde(default)]
    pub(crate) user_id: Option<String>,
    #[serde(default)]
    pub(crate) mfa_done: bool,
    /// When the user authenticated, if an SSO session signed them in (SAML's AuthnInstant).
    #[serde(default)]
    pub(crate) auth_time: Option<i64>,
    /// The user answered the consent page in this flow (so `prompt=consent` asks once).
    #[serde(default)]
    pub(crate) consented: bool,
    /// The browser's CSRF cookie at issue.
    pub(crate) csrf: String,
    pub(crate) expires_at: i64,
}

/// Seals a flow into a token signed with the server's flow key.
pub(crate) fn seal(key: &FlowKey, flow: &Flow) -> String {
    key.seal(&serde_json::to_vec(flow).unwrap_or_default())
}

/// Opens a flow token if its signature is right, it has not expired and it belongs to this
/// browser (`csrf` cookie).
pub(crate) fn open(key: &FlowKey, token: &str, csrf: &str, now: i64) -> Option<Flow> {
    let flow: Flow = serde_json::from_slice(&key.open(token)?).ok()?;
    (flow.expires_at >= now
        && !csrf.is_empty()
        && crate::crypto::digests_equal(flow.csrf.as_bytes(), csrf.as_bytes()))
    .then_some(flow)
}

/// RFC 6238 TOTP (SHA-1, 30-second steps, 6 digits) for the one-time-code step; accepts the
/// previous and next step for clock drift.
pub(crate) fn totp_matches(base32_secret: &str, code: &str, now: i64) -> bool {
    let Some(key) = base32_decode(base32_secret) else {
        return false;
    };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let step = now.div_euclid(30);
    (-1..=1)
        .any(|d| crate::crypto::digests_equal(totp_at(&key, step + d).as_bytes(), code.as_bytes()))
}

pub(crate) fn totp_at(key: &[u8], step: i64) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&k, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let slice = mac.get(offset..offset + 4).unwrap_or(&[0, 0, 0, 0]);
    let n = u32::from_be_bytes([slice[0] & 0x7f, slice[1], slice[2], slice[3]]) % 1_000_000;
    format!("{n:06}")
}

pub(crate) fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0u32;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        bits = (bits << 5) | u64::try_from(v).ok()?;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((bits >> n) & 0xff).ok()?);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s: 94287082 (8 digits).
        let key = b"12345678901234567890";
        assert_eq!(totp_at(key, 59 / 30), "287082");
        let b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(base32_decode(b32).as_deref(), Some(&key[..]));
        assert!(totp_matches(b32, "287082", 59));
        assert!(!totp_matches(b32, "287083", 59));
        assert!(!totp_matches(b32, "28708", 59));
    }

    #[test]
    fn flow_tokens_are_bound_and_unforgeable() {
        let key = FlowKey::new(b"0123456789abcdef0123456789abcdef");
        let flow = Flow {
            tenant_id: "t".into(),
            purpose: Purpose::Device {
                device_hash: "h".into(),
                client_id: "c".into(),
                scope: "s".into(),
            },
            username: None,
            user_id: Some("u".into()),
            mfa_done: false,
            auth_time: None,
            consented: false,
            csrf: "cookie".into(),
            expires_at: 100,
        };
        let token = seal(&key, &flow);
        assert_eq!(open(&key, &token, "cookie", 50), Some(flow.clone()));
        assert_eq!(open(&key, &token, "other", 50), None, "another browser");
        assert_eq!(open(&key, &token, "cookie", 101), None, "expired");
        let (body, tag) = token.split_once('.').expect("two parts");
        let forged = format!("{}x.{tag}", &body[..body.len() - 1]);
        assert_eq!(open(&key, &forged, "cookie", 50), None, "tampered");
        assert_eq!(
            open(
                &FlowKey::new(b"another key another key another!"),
                &token,
                "cookie",
                50
            ),
            None
        );
    }
}
