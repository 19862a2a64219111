//! `tessera graph METHOD PATH`: one Graph request, or with `--all` every page of a collection
//! streamed to stdout as it arrives, with the library's retries and token refreshes.

use std::io::Write as _;

use anyhow::Context;
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;

use crate::auth::GraphTarget;
use crate::common::Ctx;
use crate::output::{CsvWriter, Format};
use crate::term::Progress;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera graph get /users --all --select id,displayName --output jsonl > users.jsonl
  tessera graph get /groups --all --select displayName,mail --output table
  tessera graph get /users --filter \"startswith(displayName,'A')\" --output csv > a.csv
  tessera graph get '/users/$count' --header ConsistencyLevel:eventual
  tessera graph patch /users/megan@contoso.com --body '{\"jobTitle\":\"Engineer\"}'
  tessera graph post /groups --body @group.json")]
pub(crate) struct GraphArgs {
    /// The HTTP method.
    #[arg(value_enum)]
    method: GraphMethod,
    /// Path under the Graph base URL (/users, /me, /groups/{id}/members) or a full URL.
    path: String,
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
    /// How to print: json (the response; with --all one array of every item), jsonl (one
    /// item per line), table, or csv.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    output: Format,
    #[command(flatten)]
    target: GraphTarget,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphMethod {
    Get,
    Post,
    Patch,
    Put,
    Delete,
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

pub(crate) async fn run(args: GraphArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--header {h}: expected NAME:VALUE"))
        })
        .collect::<anyhow::Result<_>>()
        .map_err(crate::common::usage)?;
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
            Some(
                serde_json::from_str(&text)
                    .context("--body is not JSON")
                    .map_err(crate::common::usage)?,
            )
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
        return Err(crate::common::usage(anyhow::anyhow!(
            "--all pages through a collection: it goes with get"
        )));
    }
    let client = args
        .target
        .clone()
        .with_profile(ctx.profile.as_ref())
        .client()?;
    let path = with_query(&args);
    let select = args.select.as_deref();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.all {
        let mut pager = client.pages(&path, &header_refs);
        let mut progress = Progress::new(&args.path, ctx.quiet);
        let (mut count, mut first) = (0u64, true);
        let mut csv = CsvWriter::new();
        let mut held: Vec<Value> = Vec::new();
        if args.output == Format::Json {
            out.write_all(b"[")?;
        }
        while let Some(items) = pager.next_page().await? {
            count += items.len() as u64;
            match args.output {
                Format::Json | Format::Jsonl => {
                    for item in &items {
                        if args.output == Format::Json && !first {
                            out.write_all(b",")?;
                        }
                        first = false;
                        serde_json::to_writer(&mut out, item)?;
                        if args.output == Format::Jsonl {
                            out.write_all(b"\n")?;
                        }
                    }
                }
                Format::Csv => csv.write(&mut out, select, &items)?,
                // Column widths need every row.
                Format::Table => held.extend(items),
            }
            // Each page reaches the reader as it arrives (a pipe to jq, a file being tailed).
            out.flush()?;
            progress.update(count, pager.pages, pager.retries);
        }
        match args.output {
            Format::Json => out.write_all(b"]\n")?,
            Format::Table => crate::output::table(&mut out, select, &held)?,
            _ => {}
        }
        progress.finish(count, pager.pages, pager.retries);
        tracing::debug!(
            items = count,
            pages = pager.pages,
            retries = pager.retries,
            "walked the collection"
        );
    } else {
        let response = client
            .send(method, &path, &header_refs, body.as_ref())
            .await?;
        let items = match &response.body {
            Value::Object(o) => o.get("value").and_then(Value::as_array),
            _ => None,
        };
        match (&response.body, args.output, items) {
            (Value::Null, _, _) => {}
            (_, Format::Jsonl, Some(items)) => {
                for item in items {
                    serde_json::to_writer(&mut out, item)?;
                    out.write_all(b"\n")?;
                }
            }
            (_, Format::Table, Some(items)) => crate::output::table(&mut out, select, items)?,
            (_, Format::Csv, Some(items)) => CsvWriter::new().write(&mut out, select, items)?,
            (body @ Value::Object(_), Format::Table, None) => {
                crate::output::table(&mut out, select, std::slice::from_ref(body))?;
            }
            (body @ Value::Object(_), Format::Csv, None) => {
                CsvWriter::new().write(&mut out, select, std::slice::from_ref(body))?;
            }
            (body, _, _) => {
                serde_json::to_writer(&mut out, body)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
