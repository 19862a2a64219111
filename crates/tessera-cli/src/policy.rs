//! `tessera policy`: token lifetime policies without hand-written JSON. Lifetimes are checked
//! locally with the server's TimeSpan rules before Graph sees them; policies and apps can be
//! named by id or by display name.

use std::io::Write as _;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tessera_client::policy::{Explanation, check_lifetime};
use tessera_client::{LifetimePolicy, NewPolicy, PolicyUpdate};
use tessera_proto::lifetime::{LifetimeSource, format_timespan};

use crate::auth::GraphTarget;
use crate::common::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera policy create --lifetime 8:00:00 --name \"Eight hours\" --org-default
  tessera policy assign \"Eight hours\" --app 00000000-0000-0000-0000-000000000001
  tessera policy explain --app \"Nightly export\"
  tessera policy list --output json

Lifetimes are .NET TimeSpans, [d.]hh:mm:ss, from 00:10:00 to 1.00:00:00. Hours run 0-23:
28:00:00 means 28 days (as Entra reads it), so it is refused; write 1.00:00:00 for a day.")]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

/// What every policy command takes: where Graph is, how to sign in, how to print.
#[derive(Debug, Args)]
struct Common {
    /// table for people (default), json for scripts.
    #[arg(long, value_enum, default_value_t = Shape::Table)]
    output: Shape,
    #[command(flatten)]
    target: GraphTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// List the tenant's token lifetime policies.
    #[command(after_help = "Examples:
  tessera policy list
  tessera policy list --output json | jq -r '.[] | select(.isOrganizationDefault) | .id'")]
    List {
        #[command(flatten)]
        c: Common,
    },
    /// Show one policy and the applications it is assigned to.
    #[command(after_help = "Examples:
  tessera policy show \"Eight hours\"
  tessera policy show 4d2f137b-e8a9-46da-a5c3-cc85b2b840a4 --output json")]
    Show {
        /// Policy id or display name.
        policy: String,
        #[command(flatten)]
        c: Common,
    },
    /// Create a policy.
    #[command(after_help = "Examples:
  tessera policy create --lifetime 8:00:00 --name \"Eight hours\"
  tessera policy create --lifetime 1.00:00:00 --org-default")]
    Create {
        /// Access and ID token lifetime, [d.]hh:mm:ss from 00:10:00 to 1.00:00:00.
        #[arg(long, value_name = "TIMESPAN")]
        lifetime: String,
        /// Display name (default: "Token lifetime LIFETIME").
        #[arg(long)]
        name: Option<String>,
        /// A longer description, shown by `policy show`.
        #[arg(long)]
        description: Option<String>,
        /// Make it the organization default (only one policy can be).
        #[arg(long)]
        org_default: bool,
        #[command(flatten)]
        c: Common,
    },
    /// Change a policy's lifetime, name, description or organization default.
    #[command(after_help = "Examples:
  tessera policy update \"Eight hours\" --lifetime 12:00:00
  tessera policy update \"Eight hours\" --org-default false")]
    Update {
        /// Policy id or display name.
        policy: String,
        /// New lifetime, [d.]hh:mm:ss from 00:10:00 to 1.00:00:00.
        #[arg(long, value_name = "TIMESPAN")]
        lifetime: Option<String>,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// Make it the organization default (true) or not (false).
        #[arg(long, value_name = "BOOL")]
        org_default: Option<bool>,
        #[command(flatten)]
        c: Common,
    },
    /// Delete a policy (already-issued tokens keep their lifetime).
    #[command(after_help = "Examples:
  tessera policy delete \"Eight hours\"")]
    Delete {
        /// Policy id or display name.
        policy: String,
        #[command(flatten)]
        c: Common,
    },
    /// Assign a policy to an application (one policy per application).
    #[command(after_help = "Examples:
  tessera policy assign \"Eight hours\" --app \"Nightly export\"
  tessera policy assign 4d2f137b-… --app 3ccc9971-9ae7-45d6-8de8-263fd25fe116")]
    Assign {
        /// Policy id or display name.
        policy: String,
        /// The application: appId, object id or display name.
        #[arg(long, value_name = "APP")]
        app: String,
        #[command(flatten)]
        c: Common,
    },
    /// Remove a policy from an application.
    #[command(after_help = "Examples:
  tessera policy unassign \"Eight hours\" --app \"Nightly export\"")]
    Unassign {
        /// Policy id or display name.
        policy: String,
        /// The application: appId, object id or display name.
        #[arg(long, value_name = "APP")]
        app: String,
        #[command(flatten)]
        c: Common,
    },
    /// Say which lifetime an application's tokens get, and which policy decides it.
    #[command(after_help = "Examples:
  tessera policy explain --app \"Nightly export\"
  tessera policy explain --app 3ccc9971-9ae7-45d6-8de8-263fd25fe116 --output json")]
    Explain {
        /// The application: appId, object id or display name.
        #[arg(long, value_name = "APP")]
        app: String,
        #[command(flatten)]
        c: Common,
    },
}

fn checked(lifetime: &str) -> anyhow::Result<i64> {
    check_lifetime(lifetime)
        .map_err(|e| crate::common::usage(anyhow::anyhow!("--lifetime {lifetime}: {e}")))
}

#[allow(clippy::print_stdout)] // the command's data
fn emit(text: &str) {
    print!("{text}");
}

fn policies_table(policies: &[LifetimePolicy]) -> anyhow::Result<String> {
    let rows: Vec<Value> = policies
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "displayName": p.display_name,
                "lifetime": p.lifetime_text(),
                "orgDefault": if p.is_organization_default { "yes" } else { "" },
            })
        })
        .collect();
    let mut out = Vec::new();
    crate::output::table(&mut out, Some("id,displayName,lifetime,orgDefault"), &rows)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn describe(p: &LifetimePolicy) -> String {
    format!(
        "{} ({}): {}{}",
        p.display_name,
        p.id,
        p.lifetime_text(),
        if p.is_organization_default {
            ", organization default"
        } else {
            ""
        }
    )
}

fn explanation_text(e: &Explanation) -> String {
    let mut s = format!(
        "application: {} (appId {})\n",
        e.app.display_name, e.app.app_id
    );
    s.push_str(&format!(
        "organization default: {}\n",
        e.organization_default
            .as_ref()
            .map_or_else(|| "none".to_owned(), describe)
    ));
    s.push_str(&format!(
        "assigned to the app: {}\n",
        e.assigned
            .as_ref()
            .map_or_else(|| "none".to_owned(), describe)
    ));
    let access = match (&e.access_token_source, e.access_token_seconds) {
        (LifetimeSource::OrganizationPolicy { display_name, .. }, Some(s)) => format!(
            "{} from the organization default '{display_name}'{}",
            format_timespan(s),
            if e.assigned.is_some() {
                " (it takes precedence over the app's own policy)"
            } else {
                ""
            }
        ),
        (LifetimeSource::ApplicationPolicy { display_name, .. }, Some(s)) => {
            format!(
                "{} from the app's policy '{display_name}'",
                format_timespan(s)
            )
        }
        _ => "Entra's default: a random 60-90 minutes (20-28 hours for CAE-capable clients)"
            .to_owned(),
    };
    s.push_str(&format!(
        "access tokens for this app (as the resource): {access}\n"
    ));
    s.push_str(&format!(
        "ID tokens issued to this app: {}\n",
        format_timespan(e.id_token_seconds)
    ));
    s.push_str(&format!(
        "SAML tokens issued to this app: {} ({})\n",
        format_timespan(e.saml_token_seconds),
        if e.saml_token_seconds == tessera_proto::lifetime::SAML_TOKEN_SECONDS
            && e.assigned.is_none()
            && e.organization_default.is_none()
        {
            "Entra's default hour"
        } else {
            "the policy's lifetime plus Entra's five-minute clock skew"
        }
    ));
    s.push_str(
        "(Entra's documented precedence; CAE-capable clients keep their long default regardless)\n",
    );
    s
}

pub(crate) async fn run(args: PolicyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // Refuse a bad lifetime before signing in: no token, no request.
    let lifetime = match &args.command {
        PolicyCommand::Create { lifetime, .. } => Some(checked(lifetime)?),
        PolicyCommand::Update {
            lifetime: Some(l), ..
        } => Some(checked(l)?),
        _ => None,
    };
    let c = match &args.command {
        PolicyCommand::List { c }
        | PolicyCommand::Show { c, .. }
        | PolicyCommand::Create { c, .. }
        | PolicyCommand::Update { c, .. }
        | PolicyCommand::Delete { c, .. }
        | PolicyCommand::Assign { c, .. }
        | PolicyCommand::Unassign { c, .. }
        | PolicyCommand::Explain { c, .. } => c,
    };
    let json_out = c.output == Shape::Json;
    let graph = c
        .target
        .clone()
        .with_profile(ctx.profile.as_ref())
        .client()?;
    let policies = graph.policies();
    let assign = matches!(args.command, PolicyCommand::Assign { .. });
    let text = match args.command {
        PolicyCommand::List { .. } => {
            let list = policies.list().await?;
            if json_out {
                serde_json::to_string_pretty(&list)? + "\n"
            } else if list.is_empty() {
                String::new()
            } else {
                policies_table(&list)?
            }
        }
        PolicyCommand::Show { policy, .. } => {
            let p = policies.find(&policy).await?;
            let applies = policies.applies_to(&p.id).await?;
            if json_out {
                let mut v = serde_json::to_value(&p)?;
                v["appliesTo"] = Value::Array(applies);
                serde_json::to_string_pretty(&v)? + "\n"
            } else {
                let mut s = format!(
                    "id: {}\ndisplayName: {}\nlifetime: {}\norganization default: {}\n",
                    p.id,
                    p.display_name,
                    p.lifetime_text(),
                    if p.is_organization_default {
                        "yes"
                    } else {
                        "no"
                    }
                );
                if let Some(d) = &p.description {
                    s.push_str(&format!("description: {d}\n"));
                }
                s.push_str(&format!("definition: {}\n", p.definition.join(" ")));
                s.push_str("applies to:");
                if applies.is_empty() {
                    s.push_str(" nothing\n");
                } else {
                    s.push('\n');
                    for a in &applies {
                        let get = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
                        s.push_str(&format!(
                            "  {} {} ({})\n",
                            get("@odata.type").trim_start_matches("#microsoft.graph."),
                            get("displayName"),
                            get("appId")
                        ));
                    }
                }
                s
            }
        }
        PolicyCommand::Create {
            name,
            description,
            org_default,
            ..
        } => {
            let lifetime = lifetime.unwrap_or_default();
            let created = policies
                .create(&NewPolicy {
                    display_name: name
                        .unwrap_or_else(|| format!("Token lifetime {}", format_timespan(lifetime))),
                    description,
                    lifetime,
                    organization_default: org_default,
                })
                .await?;
            if json_out {
                serde_json::to_string_pretty(&created)? + "\n"
            } else {
                format!("created {}\n", describe(&created))
            }
        }
        PolicyCommand::Update {
            policy,
            name,
            description,
            org_default,
            ..
        } => {
            let p = policies.find(&policy).await?;
            policies
                .update(
                    &p.id,
                    &PolicyUpdate {
                        display_name: name,
                        description,
                        lifetime,
                        organization_default: org_default,
                    },
                )
                .await?;
            let now = policies.get(&p.id).await?;
            if json_out {
                serde_json::to_string_pretty(&now)? + "\n"
            } else {
                format!("updated {}\n", describe(&now))
            }
        }
        PolicyCommand::Delete { policy, .. } => {
            let p = policies.find(&policy).await?;
            policies.delete(&p.id).await?;
            if json_out {
                json!({"deleted": p.id}).to_string() + "\n"
            } else {
                format!(
                    "deleted {} (tokens already issued keep their lifetime)\n",
                    describe(&p)
                )
            }
        }
        PolicyCommand::Assign { policy, app, .. } | PolicyCommand::Unassign { policy, app, .. } => {
            let p = policies.find(&policy).await?;
            let app = policies.resolve_app(&app).await?;
            let (key, verb, preposition) = if assign {
                policies.assign(&p.id, &app).await?;
                ("assigned", "assigned", "to")
            } else {
                policies.unassign(&p.id, &app).await?;
                ("unassigned", "removed", "from")
            };
            if json_out {
                json!({key: p.id, "app": app}).to_string() + "\n"
            } else {
                format!(
                    "{verb} {} {preposition} {} (appId {})\n",
                    describe(&p),
                    app.display_name,
                    app.app_id
                )
            }
        }
        PolicyCommand::Explain { app, .. } => {
            let e = policies.explain(&app).await?;
            if json_out {
                serde_json::to_string_pretty(&json!({
                    "app": e.app,
                    "organizationDefault": e.organization_default,
                    "assigned": e.assigned,
                    "accessTokenLifetime": e.access_token_seconds.map(format_timespan),
                    "accessTokenSource": e.access_token_source.label(),
                    "idTokenLifetime": format_timespan(e.id_token_seconds),
                    "samlTokenLifetime": format_timespan(e.saml_token_seconds),
                }))? + "\n"
            } else {
                explanation_text(&e)
            }
        }
    };
    emit(&text);
    std::io::stdout().flush()?;
    Ok(())
}
