//! `tessera decode`: what is in a token, for people debugging a 401. Header and claims, the
//! times as dates with how long is left, what the lifetime matches (a default or a policy),
//! and with `--verify` whether the issuer's published keys sign it.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tessera_client::{Authority, HttpOptions, TokenHttp, decode};

use crate::common::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera decode eyJ0eXAiOiJKV1Qi…
  tessera token | tessera decode
  tessera decode --verify < token.txt
  tessera decode --verify --authority https://127.0.0.1:8443/contoso --ca-cert ca.pem -
  tessera decode saml-response.xml          # SAML: XML, base64 as posted, or SAMLResponse=…
  tessera decode --verify --authority https://127.0.0.1:8443/contoso --ca-cert ca.pem saml.b64

The token is read from the argument (or the file it names), or from stdin when it is - or
absent. An `Authorization: Bearer …` line is accepted as it is.")]
pub(crate) struct DecodeArgs {
    /// The token (a JWT, or a SAML response or assertion: XML, base64 as posted, or a file), or - for stdin.
    #[arg(value_name = "TOKEN|FILE|-")]
    token: Option<String>,
    /// Check the signature against the keys the issuer publishes (its OpenID configuration;
    /// for SAML, its federation metadata).
    #[arg(long)]
    pub(crate) verify: bool,
    /// Where the keys are, when not at the token's issuer (`tessera serve`'s tokens name
    /// sts.windows.net, as Entra's do).
    #[arg(long, value_name = "URL", requires = "verify")]
    pub(crate) authority: Option<String>,
    /// Extra CA certificate (PEM) to trust when fetching the keys.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// text for people (default) or json.
    #[arg(long, value_enum, default_value_t = Shape::Text)]
    pub(crate) output: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shape {
    Text,
    Json,
}

/// `2026-11-22 18:30:00 UTC`.
pub(crate) fn utc(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// `47m 10s`, `3h 02m`, `2d 4h`.
pub(crate) fn span(seconds: i64) -> String {
    let s = seconds.abs();
    let text = if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d {}h", s / 86_400, s % 86_400 / 3600)
    };
    text.trim_start_matches("0m ").to_owned()
}

/// Claims that are times (shown as dates in the text output).
const TIME_CLAIMS: [&str; 3] = ["iat", "nbf", "exp"];

#[allow(clippy::print_stdout)] // the command's data
pub(crate) fn emit(text: &str) {
    print!("{text}");
}

pub(crate) async fn run(args: DecodeArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let raw = match args.token.as_deref() {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the token from stdin")?;
            s
        }
    };
    let raw = read_file_argument(raw)?;
    if tessera_client::looks_like_saml(&raw) {
        return crate::decode_saml::run(&raw, &args, ctx).await;
    }
    let token = decode(&raw).map_err(|e| crate::common::usage(e.into()))?;
    let now = ctx.clock.unix();
    let verification = if args.verify {
        let http = verifier_http(&args)?;
        let authority = args
            .authority
            .as_deref()
            .map(Authority::parse)
            .transpose()
            .context("--authority")?;
        Some(token.verify(&http, authority.as_ref()).await)
    } else {
        None
    };
    let lifetime = token.lifetime_match();
    if args.output == Shape::Json {
        let mut v = json!({
            "header": token.header,
            "claims": token.claims,
            "fingerprint": token.fingerprint,
            "expiresIn": token.expires_at().map(|e| e - now),
            "lifetime": lifetime.map(|l| l.describe()),
        });
        if let Some(result) = &verification {
            v["signature"] = match result {
                Ok(k) => json!({"valid": true, "kid": k.kid, "jwksUri": k.jwks_uri}),
                Err(e) => json!({"valid": false, "error": e.to_string()}),
            };
        }
        emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        let mut s = String::new();
        s.push_str("header:\n");
        s.push_str(&indent(&serde_json::to_string_pretty(&token.header)?));
        s.push_str("claims:\n");
        let mut claims = token.claims.clone();
        if let Value::Object(o) = &mut claims {
            for c in TIME_CLAIMS {
                if let Some(t) = o.get(c).and_then(Value::as_i64) {
                    o.insert(c.to_owned(), json!(format!("{t} ({})", utc(t))));
                }
            }
        }
        s.push_str(&indent(&serde_json::to_string_pretty(&claims)?));
        s.push_str(&format!("fingerprint: {}\n", token.fingerprint));
        if let Some(exp) = token.expires_at() {
            s.push_str(&if exp > now {
                format!("expires: {} (in {})\n", utc(exp), span(exp - now))
            } else {
                format!("EXPIRED: {} ({} ago)\n", utc(exp), span(now - exp))
            });
        }
        if let Some(l) = lifetime {
            s.push_str(&format!("lifetime: {}\n", l.describe()));
        }
        match &verification {
            None => s.push_str("signature: not checked (use --verify)\n"),
            Some(Ok(k)) => s.push_str(&format!(
                "signature: valid, key {} from {}\n",
                k.kid, k.jwks_uri
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

/// An argument naming a readable file means the file's content (a saved SAML response).
fn read_file_argument(raw: String) -> anyhow::Result<String> {
    let t = raw.trim();
    if !t.is_empty() && !t.contains('\n') && t.len() < 4096 && std::path::Path::new(t).is_file() {
        return std::fs::read_to_string(t).with_context(|| format!("reading {t}"));
    }
    Ok(raw)
}

/// The HTTP client that fetches keys or metadata, trusting `--ca-cert` too.
pub(crate) fn verifier_http(args: &DecodeArgs) -> anyhow::Result<TokenHttp> {
    Ok(TokenHttp::new(HttpOptions {
        extra_ca_pem: match &args.ca_cert {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        },
        timeout: None,
    })?)
}

pub(crate) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_and_dates() {
        assert_eq!(super::span(59), "59s");
        assert_eq!(super::span(2830), "47m 10s");
        assert_eq!(super::span(3 * 3600 + 120), "3h 02m");
        assert_eq!(super::span(-(2 * 86_400 + 4 * 3600)), "2d 4h");
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
    }
}
