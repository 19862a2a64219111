//! What every credential example shares: where to sign in (Entra's public cloud by default,
//! `TESSERA_AUTHORITY` for another host such as `tessera serve`), an HTTP client that also
//! trusts `TESSERA_CA_FILE` when set, and a summary of the token that never prints the token.

#![allow(dead_code, clippy::print_stdout, clippy::print_stderr)]

use tessera_client::{AccessToken, Authority, HttpOptions, TokenHttp};

/// A required environment variable, or exit with a message naming it.
pub(crate) fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => {
            eprintln!("set {name} (see the comment at the top of this example)");
            std::process::exit(2);
        }
    }
}

/// `TESSERA_AUTHORITY` (for example `https://127.0.0.1:8443/<tenant>`) when set, otherwise
/// `https://login.microsoftonline.com/$AZURE_TENANT_ID`.
pub(crate) fn authority() -> Authority {
    match std::env::var("TESSERA_AUTHORITY") {
        Ok(url) if !url.is_empty() => Authority::parse(&url).unwrap_or_else(|e| fail(&e)),
        _ => Authority::public(var("AZURE_TENANT_ID")),
    }
}

pub(crate) fn http() -> TokenHttp {
    let extra_ca_pem = std::env::var("TESSERA_CA_FILE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| fail(&format!("reading {p}: {e}"))));
    TokenHttp::new(HttpOptions {
        extra_ca_pem,
        timeout: None,
    })
    .unwrap_or_else(|e| fail(&e))
}

/// The scope to ask for: `TESSERA_SCOPE`, or the example's default.
pub(crate) fn scope(default: &str) -> String {
    std::env::var("TESSERA_SCOPE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Prints who the token is for and for how long; the token itself stays secret.
pub(crate) fn show(token: &AccessToken, now: i64) {
    let claims = token
        .token
        .expose()
        .split('.')
        .nth(1)
        .and_then(tessera_proto::b64::url_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    let who = claims
        .get("upn")
        .or_else(|| claims.get("azp"))
        .or_else(|| claims.get("appid"))
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    println!(
        "got a token: aud={} for={who} expires in {} s",
        claims.get("aud").and_then(|v| v.as_str()).unwrap_or("?"),
        token.expires_at - now
    );
}

pub(crate) fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1);
}

pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
