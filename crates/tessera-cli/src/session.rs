//! `tessera login`, `logout` and `status`: a user signs in once (browser, device code or
//! password) and later commands use the kept refresh token silently; `status` shows the
//! shared cache, its accounts and its tokens (fingerprints only, never the tokens).

use std::io::IsTerminal as _;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tessera_client::{
    PersistedAccount, TokenRequest, fingerprint, parse_token_key, sign_in, sign_out,
};

use crate::auth::{AuthArgs, open_cache};
use crate::common::Ctx;
use crate::times::{span, utc};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera login --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555
  tessera login --device-code --profile work
  tessera token --client-id 1111… --tenant contoso.onmicrosoft.com   # now silent

Without --device-code or --interactive, the browser is used when there is a display, else
the device code (sign in on another device). The account's refresh token is kept in the
shared, encrypted token cache until `tessera logout`.")]
pub(crate) struct LoginArgs {
    /// Scopes to consent to at sign-in (repeatable); default https://graph.microsoft.com/.default.
    #[arg(long, value_name = "SCOPE")]
    scope: Vec<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera logout                       # the only signed-in account
  tessera logout --account megan@contoso.com
  tessera logout --all")]
pub(crate) struct LogoutArgs {
    /// The account to forget (default: the only one).
    #[arg(long, value_name = "UPN", conflicts_with = "all")]
    account: Option<String>,
    /// Forget every signed-in account.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera status
  tessera status --output json | jq '.tokens[] | select(.state != \"valid\")'

Tokens are shown by fingerprint (sha256 of the token, first 8 bytes in hex),
never in full. `tessera decode` prints the same fingerprint for a token you hold.")]
pub(crate) struct StatusArgs {
    /// table for people (default) or json.
    #[arg(long, value_enum, default_value_t = Shape::Table)]
    output: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    Table,
    Json,
}

#[allow(clippy::print_stdout)] // the command's data
fn emit(text: &str) {
    print!("{text}");
}

/// A browser can be opened: a desktop session (not over SSH), or $BROWSER set.
fn browser_available() -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    set("BROWSER") || (set("DISPLAY") || set("WAYLAND_DISPLAY")) && !set("SSH_CONNECTION")
}

pub(crate) async fn login(args: LoginArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let auth = args.auth.with_profile(ctx.profile.as_ref());
    if auth.no_cache {
        return Err(crate::common::usage(anyhow::anyhow!(
            "--no-cache: a sign-in is kept in the token cache, so login needs it"
        )));
    }
    let authority = auth.authority()?;
    let client_id = auth.client_id()?;
    let flow = auth.user_flow(browser_available() && std::io::stderr().is_terminal())?;
    let scopes = if args.scope.is_empty() {
        vec!["https://graph.microsoft.com/.default".to_owned()]
    } else {
        args.scope
    };
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let cache = open_cache()?;
    let http = auth.http()?;
    let account = sign_in(
        &cache,
        &http,
        &authority,
        &client_id,
        flow.as_ref(),
        &TokenRequest::new(&scope_refs),
    )
    .await
    .context("signing in")?;
    emit(&format!(
        "signed in as {} (application {}, {})\n",
        account.username, account.client_id, account.authority
    ));
    Ok(())
}

pub(crate) fn logout(args: &LogoutArgs) -> anyhow::Result<()> {
    let cache = open_cache()?;
    let accounts = tessera_client::accounts(&cache)?;
    let chosen: Vec<&PersistedAccount> = match (&args.account, args.all) {
        (_, true) => accounts.iter().collect(),
        (Some(a), _) => accounts
            .iter()
            .filter(|x| x.username.eq_ignore_ascii_case(a))
            .collect(),
        (None, false) if accounts.len() > 1 => {
            return Err(crate::common::usage(anyhow::anyhow!(
                "several accounts are signed in ({}); choose one with --account, or use --all",
                accounts
                    .iter()
                    .map(|a| a.username.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        (None, false) => accounts.iter().collect(),
    };
    if chosen.is_empty() {
        tracing::warn!("no matching account is signed in; nothing to do");
        return Ok(());
    }
    let mut text = String::new();
    for a in chosen {
        let removed = sign_out(&cache, a)?;
        text.push_str(&format!(
            "signed out {} ({} cache entries removed; Entra still honours its refresh token until it expires or the sessions are revoked)\n",
            a.username, removed
        ));
    }
    emit(&text);
    Ok(())
}

fn when(now: i64, t: i64, past: &str) -> String {
    if t > now {
        format!("in {}", span(t - now))
    } else {
        format!("{past} {} ago", span(now - t))
    }
}

pub(crate) fn status(args: &StatusArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let cache = open_cache()?;
    let now = ctx.clock.unix();
    let entries = cache.entries()?;
    let accounts: Vec<Value> = entries
        .iter()
        .filter_map(|e| e.account.as_ref())
        .map(|a| {
            json!({
                "account": a.username,
                "clientId": a.client_id,
                "authority": a.authority,
                "signedIn": utc(a.signed_in_at),
            })
        })
        .collect();
    let tokens: Vec<Value> = entries
        .iter()
        .filter_map(|e| Some((parse_token_key(&e.key)?, e.token.as_ref()?)))
        .map(|(k, t)| {
            let state = if t.expires_at <= now {
                "expired"
            } else if t.refresh_at <= now {
                "refresh due"
            } else {
                "valid"
            };
            json!({
                "clientId": k.client_id,
                "account": if k.account.is_empty() { "(app)".to_owned() } else { k.account },
                "scopes": k.scopes,
                "authority": k.authority,
                "state": state,
                "expires": when(now, t.expires_at, "expired"),
                "expiresAt": utc(t.expires_at),
                "refresh": when(now, t.refresh_at, "due"),
                "cae": !k.claims.is_empty(),
                "token": fingerprint(&t.access_token),
            })
        })
        .collect();
    let text = if args.output == Shape::Json {
        serde_json::to_string_pretty(&json!({
            "cache": cache.dir().display().to_string(),
            "key": cache.key_source.describe(),
            "accounts": accounts,
            "tokens": tokens,
        }))? + "\n"
    } else {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!(
                "token cache: {}\nkey: {}\n",
                cache.dir().display(),
                cache.key_source.describe()
            )
            .as_bytes(),
        );
        out.extend_from_slice(format!("\naccounts: {}\n", accounts.len()).as_bytes());
        if !accounts.is_empty() {
            crate::output::table(
                &mut out,
                Some("account,clientId,authority,signedIn"),
                &accounts,
            )?;
        }
        out.extend_from_slice(format!("\ntokens: {}\n", tokens.len()).as_bytes());
        if !tokens.is_empty() {
            crate::output::table(
                &mut out,
                Some("clientId,account,scopes,state,expires,refresh,token"),
                &tokens,
            )?;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    emit(&text);
    Ok(())
}
