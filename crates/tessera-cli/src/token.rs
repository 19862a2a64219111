//! `tessera token`: prints an access token for a script, from the shared cache when a valid
//! one is there, else from the credential the flags or `AZURE_*` variables choose.

use anyhow::Context;
use clap::{Args, ValueEnum};
use tessera_client::TokenRequest;

use crate::auth::AuthArgs;
use crate::common::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  AZURE_TENANT_ID=contoso.onmicrosoft.com AZURE_CLIENT_ID=… MY_SECRET=… \\
    tessera token --client-secret-env MY_SECRET --output header
  tessera token --device-code --client-id … --tenant contoso.onmicrosoft.com --scope User.Read
  tessera token --profile lab --resource https://management.azure.com
  curl -H \"$(tessera token --output header)\" https://graph.microsoft.com/v1.0/users")]
pub(crate) struct TokenArgs {
    /// A scope to ask for (repeat for several); default https://graph.microsoft.com/.default.
    #[arg(long, value_name = "SCOPE")]
    scope: Vec<String>,
    /// A resource to ask for (RESOURCE/.default), instead of --scope.
    #[arg(long, value_name = "URI", conflicts_with = "scope")]
    resource: Option<String>,
    /// Declare CAE capability (cp1): long-lived tokens that the resource can revoke.
    #[arg(long)]
    cae: bool,
    /// What to print: the token, an Authorization header line, or JSON.
    #[arg(long, value_enum, default_value_t = Output::Raw)]
    output: Output,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Raw,
    Header,
    Json,
}

pub(crate) async fn run(args: TokenArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let scopes: Vec<String> = match (&args.resource, args.scope.is_empty()) {
        (Some(r), _) => vec![format!("{}/.default", r.trim_end_matches('/'))],
        (None, true) => vec!["https://graph.microsoft.com/.default".to_owned()],
        (None, false) => args.scope.clone(),
    };
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let mut request = TokenRequest::new(&scope_refs);
    request.cae = args.cae;
    let (provider, http) = args
        .auth
        .clone()
        .with_profile(ctx.profile.as_ref())
        .provider()?;
    let token = provider.token(&request).await.context("getting a token")?;
    let line = match args.output {
        Output::Raw => token.token.expose().to_owned(),
        Output::Header => format!("Authorization: Bearer {}", token.token.expose()),
        Output::Json => serde_json::json!({
            "access_token": token.token.expose(),
            "token_type": "Bearer",
            "expires_on": token.expires_at,
            "expires_in": token.expires_at - http.clock().unix(),
            "refresh_at": token.refresh_at,
            "scopes": scopes,
        })
        .to_string(),
    };
    print_line(&line);
    Ok(())
}

#[allow(clippy::print_stdout)] // the token is the command's data
fn print_line(line: &str) {
    println!("{line}");
}
