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
use crate::times::utc;

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
    /// The token (a JWT, or a SAML response or assertion: XML, base64 as posted, or a
    /// file), or - for stdin.
    #[arg(value_name = "TOKEN|FILE|-")]
    token: Option<String>,
    /// Check the signature against the keys the issuer publishes (its OpenID configuration;
    /// for SAML, its federation metadata).
    #[arg(long)]
    verify: bool,
    /// Where the keys are, when not at the token's issuer (`tessera serve`'s tokens name
    /// sts.windows.net, as Entra's do).
    #[arg(long, value_name = "URL", requires = "verify")]
    authority: Option<String>,
    /// Extra CA certificate (PEM) to trust when fetching the keys.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// text for people (default) or json.
    #[arg(long, value_enum, default_value_t = Shape::Text)]
    output: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    Text,
    Json,
}

/// Claims that are times (shown as dates in the text output).
const TIME_CLAIMS: [&str; 3] = ["iat", "nbf", "exp"];

#[allow(clippy::print_stdout)] // the command's data
fn emit(text: &str) {
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
        let how = crate::decode_saml::How {
            http: if args.verify {
                Some(verifier_http(&args)?)
            } else {
                None
            },
            metadata_url: args.authority.as_deref().map(|a| {
                format!(
                    "{}/federationmetadata/2007-06/federationmetadata.xml",
                    a.trim_end_matches('/')
                )
            }),
            json: args.output == Shape::Json,
        };
        return crate::decode_saml::run(&raw, how, ctx).await;
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
                format!(
                    "expires: {} (in {})\n",
                    utc(exp),
                    crate::times::span(exp - now)
                )
            } else {
                format!(
                    "EXPIRED: {} ({} ago)\n",
                    utc(exp),
                    crate::times::span(now - exp)
                )
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
fn verifier_http(args: &DecodeArgs) -> anyhow::Result<TokenHttp> {
    Ok(TokenHttp::new(HttpOptions {
        extra_ca_pem: match &args.ca_cert {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        },
        timeout: None,
    })?)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
