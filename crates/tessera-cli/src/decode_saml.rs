//! `tessera decode` for SAML tokens: a SAML 2.0 response or assertion (or a WS-Federation
//! RSTR): issuer, subject, audience, attributes, the times with the lifetime explained
//! (Entra's default hour, or a policy plus five minutes), and with `--verify` its signatures
//! checked against the issuer's federation metadata.

use anyhow::Context as _;
use serde_json::json;
use tessera_client::{TokenHttp, decode_saml};

use crate::common::Ctx;
use crate::times::{span, utc};

/// How to show the token: with `http`, verify it (against `metadata_url` when given, else
/// the issuer's own metadata); as JSON or text.
pub(crate) struct How {
    pub(crate) http: Option<TokenHttp>,
    pub(crate) metadata_url: Option<String>,
    pub(crate) json: bool,
}

#[allow(clippy::print_stdout)] // the command's data
fn emit(text: &str) {
    print!("{text}");
}

fn at(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |m| utc(m.div_euclid(1000)))
}

pub(crate) async fn run(raw: &str, how: How, ctx: &Ctx) -> anyhow::Result<()> {
    let token = decode_saml(raw).map_err(|e| crate::common::usage(e.into()))?;
    let now_ms = ctx.clock.unix() * 1000;
    let verification = match &how.http {
        Some(http) => Some(token.verify(http, how.metadata_url.as_deref()).await),
        None => None,
    };
    let lifetime = token.lifetime();
    if how.json {
        let mut v = json!({
            "kind": token.kind,
            "issuer": token.issuer,
            "nameId": token.name_id,
            "nameIdFormat": token.name_id_format,
            "audiences": token.audiences,
            "inResponseTo": token.in_response_to,
            "destination": token.destination,
            "status": token.status,
            "attributes": token.attributes.iter().map(|(n, v)| json!({"name": n, "values": v})).collect::<Vec<_>>(),
            "authnContext": token.authn_context,
            "sessionIndex": token.session_index,
            "issueInstant": token.issue_instant,
            "notBefore": token.not_before,
            "notOnOrAfter": token.not_on_or_after,
            "subjectConfirmationNotOnOrAfter": token.confirmation_not_on_or_after,
            "expiresIn": token.not_on_or_after.map(|e| (e - now_ms) / 1000),
            "lifetime": lifetime.as_ref().map(|l| l.describe()),
        });
        if let Some(result) = &verification {
            v["signature"] = match result {
                Ok(s) => json!({"valid": true, "signed": s.signed, "metadata": s.metadata_url}),
                Err(e) => json!({"valid": false, "error": e.to_string()}),
            };
        }
        emit(&(serde_json::to_string_pretty(&v).context("json")? + "\n"));
    } else {
        let mut s = format!("SAML {}\n", token.kind);
        let line = |s: &mut String, k: &str, v: Option<&str>| {
            if let Some(v) = v {
                s.push_str(&format!("{k}: {v}\n"));
            }
        };
        line(&mut s, "issuer", token.issuer.as_deref());
        if let Some(n) = &token.name_id {
            let format = token
                .name_id_format
                .as_deref()
                .map(|f| f.rsplit(':').next().unwrap_or(f))
                .unwrap_or("unspecified");
            s.push_str(&format!("subject: {n} ({format})\n"));
        }
        for a in &token.audiences {
            s.push_str(&format!("audience: {a}\n"));
        }
        line(&mut s, "status", token.status.as_deref());
        line(&mut s, "in response to", token.in_response_to.as_deref());
        line(&mut s, "destination", token.destination.as_deref());
        line(&mut s, "authentication", token.authn_context.as_deref());
        line(&mut s, "session index", token.session_index.as_deref());
        if !token.attributes.is_empty() {
            s.push_str("attributes:\n");
            for (name, values) in &token.attributes {
                s.push_str(&format!("  {name}: {}\n", values.join(", ")));
            }
        }
        s.push_str(&format!("issued: {}\n", at(token.issue_instant)));
        s.push_str(&format!(
            "valid: from {} until {}\n",
            at(token.not_before),
            at(token.not_on_or_after)
        ));
        if let Some(exp) = token.not_on_or_after {
            s.push_str(&if exp > now_ms {
                format!("expires: in {}\n", span((exp - now_ms) / 1000))
            } else {
                format!("EXPIRED: {} ago\n", span((now_ms - exp) / 1000))
            });
        }
        if token.confirmation_not_on_or_after.is_some() {
            s.push_str(&format!(
                "subject confirmation until: {} (when the app must have received it; no policy changes it)\n",
                at(token.confirmation_not_on_or_after)
            ));
        }
        if let Some(l) = &lifetime {
            s.push_str(&format!("lifetime: {}\n", l.describe()));
        }
        match &verification {
            None => s.push_str("signature: not checked (use --verify)\n"),
            Some(Ok(v)) => s.push_str(&format!(
                "signature: valid ({}) with the certificates at {}\n",
                v.signed.join(" and "),
                v.metadata_url
            )),
            Some(Err(e)) => s.push_str(&format!("signature: INVALID: {e}\n")),
        }
        emit(&s);
    }
    match verification {
        Some(Err(e)) => Err(crate::common::with_code(
            crate::common::ExitCode::Invalid,
            anyhow::anyhow!("the signature could not be verified: {e}"),
        )),
        _ => Ok(()),
    }
}
