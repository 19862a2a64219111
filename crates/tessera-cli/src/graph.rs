//! `tessera graph METHOD PATH`: one Graph request, or with `--all` every page of a collection
//! streamed to stdout as it arrives, with the library's retries and token refreshes.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;
use tessera_client::{GraphClient, TokenRequest};

use crate::auth::AuthArgs;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera graph get /users --all --select id,displayName --output jsonl > users.jsonl
  tessera graph get '/users/$count' --header ConsistencyLevel:eventual
  tessera graph patch /users/megan@contoso.com --body '{\"jobTitle\":\"Engineer\"}'
  tessera graph post /groups --body @group.json")]
pub(crate) struct GraphArgs {
    /// The HTTP method.
    #[arg(value_enum)]
    method: GraphMethod,
    /// Path under the Graph base URL (/users, /me, /groups/{id}/members) or a full URL.
    path: String,
    #[command(flatten)]
    auth: AuthArgs,
    /// Graph base URL: https://graph.microsoft.com/v1.0 (default), .../beta, or
    /// `tessera serve`'s graph_url.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://graph.microsoft.com/v1.0"
    )]
    graph_url: String,
    /// Follow @odata.nextLink to the end, printing every item.
    #[arg(long)]
    all: bool,
    /// $select: properties to return (comma-separated).
    #[arg(long, value_name = "PROPS")]
    select: Option<String>,
    /// $filter expression.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// $top: items per page (1-999).
    #[arg(long, value_name = "N")]
    top: Option<u32>,
    /// An extra request header, NAME:VALUE (repeatable), e.g. ConsistencyLevel:eventual.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Request body: JSON text, or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    body: Option<String>,
    /// json: the response (with --all, one JSON array of every item); jsonl: one item per line.
    #[arg(long, value_enum, default_value_t = Output::Json)]
    output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphMethod {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Json,
    Jsonl,
}

/// PATH with `$select`, `$filter` and `$top` added to its query.
fn with_query(args: &GraphArgs) -> String {
    let mut path = args.path.clone();
    let mut add = |k: &str, v: &str| {
        let encoded: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&format!("{k}={encoded}"));
    };
    if let Some(s) = &args.select {
        add("$select", s);
    }
    if let Some(f) = &args.filter {
        add("$filter", f);
    }
    if let Some(t) = args.top {
        add("$top", &t.to_string());
    }
    path
}

pub(crate) async fn run(args: GraphArgs) -> anyhow::Result<()> {
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--header {h}: expected NAME:VALUE"))
        })
        .collect::<anyhow::Result<_>>()?;
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body: Option<Value> = match &args.body {
        None => None,
        Some(b) => {
            let text = match b.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading the body from {file}"))?,
                None => b.clone(),
            };
            Some(serde_json::from_str(&text).context("--body is not JSON")?)
        }
    };
    let method = match args.method {
        GraphMethod::Get => Method::GET,
        GraphMethod::Post => Method::POST,
        GraphMethod::Patch => Method::PATCH,
        GraphMethod::Put => Method::PUT,
        GraphMethod::Delete => Method::DELETE,
    };
    if args.all && method != Method::GET {
        bail!("--all pages through a collection: it goes with get");
    }
    let (provider, http) = args.auth.provider()?;
    let client = GraphClient::new(&args.graph_url, Arc::new(provider), http)
        .with_token_request(TokenRequest::new(&["https://graph.microsoft.com/.default"]));
    let path = with_query(&args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.all {
        let mut pager = client.pages(&path, &header_refs);
        let mut first = true;
        if args.output == Output::Json {
            out.write_all(b"[")?;
        }
        while let Some(items) = pager.next_page().await? {
            for item in items {
                if args.output == Output::Json && !first {
                    out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut out, &item)?;
                if args.output == Output::Jsonl {
                    out.write_all(b"\n")?;
                }
            }
            // Each page reaches the reader as it arrives (a pipe to jq, a file being tailed).
            out.flush()?;
        }
        if args.output == Output::Json {
            out.write_all(b"]\n")?;
        }
        tracing::info!(
            pages = pager.pages,
            retries = pager.retries,
            "walked the collection"
        );
    } else {
        let response = client
            .send(method, &path, &header_refs, body.as_ref())
            .await?;
        match (&response.body, args.output) {
            (Value::Null, _) => {}
            (Value::Object(o), Output::Jsonl) if o.get("value").is_some_and(Value::is_array) => {
                for item in o["value"].as_array().into_iter().flatten() {
                    serde_json::to_writer(&mut out, item)?;
                    out.write_all(b"\n")?;
                }
            }
            (body, _) => {
                serde_json::to_writer(&mut out, body)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
