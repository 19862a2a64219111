//! Token lifetime policies through Graph without hand-written JSON: list, create, update,
//! delete, assign to an application, and explain which lifetime an application's tokens get.
//! Lifetimes are checked here with the server's own TimeSpan rules before anything is sent.

use reqwest::Method;
use serde_json::{Value, json};
use tessera_proto::lifetime::{
    LifetimeInputs, LifetimeSource, PolicyLifetime, Precedence, format_timespan,
    parse_policy_lifetime,
};

use crate::error::ClientError;
use crate::graph::GraphClient;

const COLLECTION: &str = "/policies/tokenLifetimePolicies";

/// A token lifetime policy as Graph returns it, with its lifetime read out of `definition`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimePolicy {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_organization_default: bool,
    /// `AccessTokenLifetime` in seconds; `None` when the definition has none or it does not
    /// parse (policies written by other tools can hold anything).
    pub access_token_lifetime: Option<i64>,
    /// The definition as stored: one JSON document as a string.
    pub definition: Vec<String>,
}

impl LifetimePolicy {
    fn from_json(v: &Value) -> Result<Self, ClientError> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let id = text("id").ok_or_else(|| {
            ClientError::Http(format!("Graph returned a policy without an id: {v}"))
        })?;
        let definition: Vec<String> = v
            .get("definition")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            id,
            display_name: text("displayName").unwrap_or_default(),
            description: text("description"),
            is_organization_default: v
                .get("isOrganizationDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            access_token_lifetime: definition.first().and_then(|d| lifetime_in(d)),
            definition,
        })
    }

    /// `08:00:00`, or `?` when the definition has no readable lifetime.
    pub fn lifetime_text(&self) -> String {
        self.access_token_lifetime
            .map_or_else(|| "?".to_owned(), format_timespan)
    }

    fn as_input(&self) -> Option<PolicyLifetime> {
        Some(PolicyLifetime {
            policy_id: self.id.clone(),
            display_name: self.display_name.clone(),
            access_token_seconds: self.access_token_lifetime?,
        })
    }
}

/// The `AccessTokenLifetime` of a definition string, in seconds.
fn lifetime_in(definition: &str) -> Option<i64> {
    let doc: Value = serde_json::from_str(definition).ok()?;
    let text = doc
        .get("TokenLifetimePolicy")?
        .get("AccessTokenLifetime")?
        .as_str()?;
    parse_policy_lifetime(text).ok()
}

/// Checks a lifetime the way Graph will (a .NET TimeSpan from 10 minutes to 1 day) and
/// returns it in seconds, or an error that says what is wrong with it.
pub fn check_lifetime(text: &str) -> Result<i64, ClientError> {
    parse_policy_lifetime(text.trim()).map_err(|e| {
        let mut message = e.to_string();
        if let Some(hours) = text.trim().split(':').next()
            && !text.contains('.')
            && hours.parse::<u32>().is_ok_and(|h| h > 23)
        {
            message.push_str(&format!(
                " (TimeSpan hours run 0-23, so {} means {hours} days)",
                text.trim()
            ));
        }
        ClientError::Invalid(message)
    })
}

/// The one-element `definition` array for a lifetime.
pub fn definition(lifetime_seconds: i64) -> Vec<String> {
    vec![
        json!({"TokenLifetimePolicy": {"Version": 1, "AccessTokenLifetime": format_timespan(lifetime_seconds)}})
            .to_string(),
    ]
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub display_name: String,
    pub description: Option<String>,
    /// Seconds, from [`check_lifetime`].
    pub lifetime: i64,
    pub organization_default: bool,
}

/// What to change; `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct PolicyUpdate {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub lifetime: Option<i64>,
    pub organization_default: Option<bool>,
}

/// An application as the policy commands name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRef {
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
}

/// Which lifetime an application's tokens get, and why.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub app: AppRef,
    pub organization_default: Option<LifetimePolicy>,
    /// The policy assigned to the app's service principal, else to its application object.
    pub assigned: Option<LifetimePolicy>,
    pub precedence: Precedence,
    /// Access tokens whose audience is the app.
    pub access_token_seconds: Option<i64>,
    pub access_token_source: LifetimeSource,
    /// ID tokens issued to the app.
    pub id_token_seconds: i64,
    /// SAML tokens issued to the app (`Conditions NotOnOrAfter`): an hour, or a policy's
    /// lifetime plus Entra's five-minute skew.
    pub saml_token_seconds: i64,
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// An OData string literal: quotes doubled.
fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn app_ref(v: &Value) -> Option<AppRef> {
    Some(AppRef {
        object_id: v.get("id")?.as_str()?.to_owned(),
        app_id: v.get("appId")?.as_str()?.to_owned(),
        display_name: v
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

fn unreadable(v: &Value) -> ClientError {
    ClientError::Http(format!(
        "Graph returned an application without id and appId: {v}"
    ))
}

fn not_found(what: String) -> ClientError {
    ClientError::Invalid(what)
}

/// Token lifetime policy operations on one Graph client.
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a> {
    graph: &'a GraphClient,
}

impl GraphClient {
    /// Token lifetime policy operations (`/policies/tokenLifetimePolicies` and assignments).
    pub fn policies(&self) -> Policies<'_> {
        Policies { graph: self }
    }
}

impl Policies<'_> {
    /// Every policy of the tenant.
    pub async fn list(&self) -> Result<Vec<LifetimePolicy>, ClientError> {
        let mut pager = self.graph.pages(COLLECTION, &[]);
        let mut out = Vec::new();
        while let Some(items) = pager.next_page().await? {
            for item in &items {
                out.push(LifetimePolicy::from_json(item)?);
            }
        }
        Ok(out)
    }

    pub async fn get(&self, id: &str) -> Result<LifetimePolicy, ClientError> {
        let r = self
            .graph
            .get(&format!("{COLLECTION}/{}", encode(id)))
            .await?;
        LifetimePolicy::from_json(&r.body)
    }

    /// A policy by id, or by display name when the name is unique.
    pub async fn find(&self, id_or_name: &str) -> Result<LifetimePolicy, ClientError> {
        if is_guid(id_or_name) {
            return self.get(id_or_name).await;
        }
        let mut matches: Vec<LifetimePolicy> = self
            .list()
            .await?
            .into_iter()
            .filter(|p| p.display_name.eq_ignore_ascii_case(id_or_name))
            .collect();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(not_found(format!(
                "no token lifetime policy is named '{id_or_name}'"
            ))),
            n => Err(ClientError::Invalid(format!(
                "{n} token lifetime policies are named '{id_or_name}'; give the id instead ({})",
                matches
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The tenant's organization default, if there is one.
    pub async fn organization_default(&self) -> Result<Option<LifetimePolicy>, ClientError> {
        // Whether Graph filters on isOrganizationDefault is unconfirmed (graph-api.md §1.6),
        // so the filter is applied here.
        Ok(self
            .list()
            .await?
            .into_iter()
            .find(|p| p.is_organization_default))
    }

    pub async fn create(&self, new: &NewPolicy) -> Result<LifetimePolicy, ClientError> {
        let mut body = json!({
            "definition": definition(new.lifetime),
            "displayName": new.display_name,
            "isOrganizationDefault": new.organization_default,
        });
        if let Some(d) = &new.description {
            body["description"] = json!(d);
        }
        let r = self
            .graph
            .send(Method::POST, COLLECTION, &[], Some(&body))
            .await?;
        LifetimePolicy::from_json(&r.body)
    }

    pub async fn update(&self, id: &str, change: &PolicyUpdate) -> Result<(), ClientError> {
        let mut body = serde_json::Map::new();
        if let Some(n) = &change.display_name {
            body.insert("displayName".into(), json!(n));
        }
        if let Some(d) = &change.description {
            body.insert("description".into(), json!(d));
        }
        if let Some(l) = change.lifetime {
            body.insert("definition".into(), json!(definition(l)));
        }
        if let Some(o) = change.organization_default {
            body.insert("isOrganizationDefault".into(), json!(o));
        }
        if body.is_empty() {
            return Err(ClientError::Invalid(
                "nothing to change: give a new lifetime, name, description or organization default"
                    .into(),
            ));
        }
        self.graph
            .send(
                Method::PATCH,
                &format!("{COLLECTION}/{}", encode(id)),
                &[],
                Some(&Value::Object(body)),
            )
            .await?;
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        self.graph
            .send(
                Method::DELETE,
                &format!("{COLLECTION}/{}", encode(id)),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// The applications and service principals a policy is assigned to.
    pub async fn applies_to(&self, id: &str) -> Result<Vec<Value>, ClientError> {
        let mut pager = self
            .graph
            .pages(&format!("{COLLECTION}/{}/appliesTo", encode(id)), &[]);
        let mut out = Vec::new();
        while let Some(items) = pager.next_page().await? {
            out.extend(items);
        }
        Ok(out)
    }

    /// An application by appId, object id or unique display name.
    pub async fn resolve_app(&self, app: &str) -> Result<AppRef, ClientError> {
        let select = "$select=id,appId,displayName";
        if is_guid(app) {
            // The two documented addressings, rather than an `or` across properties, which
            // Graph's directory does not promise for applications.
            for path in [
                format!(
                    "/applications(appId={})?{select}",
                    encode(&odata_string(app))
                ),
                format!("/applications/{}?{select}", encode(app)),
            ] {
                match self.graph.get(&path).await {
                    Ok(r) => return app_ref(&r.body).ok_or_else(|| unreadable(&r.body)),
                    Err(ClientError::Graph(f)) if f.status == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            return Err(not_found(format!(
                "no application with the appId or object id {app}"
            )));
        }
        let filter = format!("displayName eq {}", odata_string(app));
        let r = self
            .graph
            .get(&format!(
                "/applications?$filter={}&{select}",
                encode(&filter)
            ))
            .await?;
        let found: Vec<AppRef> = r
            .body
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(app_ref)
            .collect();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(not_found(format!("no application is named '{app}'"))),
            many => Err(ClientError::Invalid(format!(
                "{} applications are named '{app}'; give the appId instead ({})",
                many.len(),
                many.iter()
                    .map(|a| a.app_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Assigns a policy to an application (one policy per application, Graph's rule).
    pub async fn assign(&self, policy_id: &str, app: &AppRef) -> Result<(), ClientError> {
        let reference = json!({
            "@odata.id": format!("{}{COLLECTION}/{policy_id}", self.graph.base_url())
        });
        self.graph
            .send(
                Method::POST,
                &format!(
                    "/applications/{}/tokenLifetimePolicies/$ref",
                    encode(&app.object_id)
                ),
                &[],
                Some(&reference),
            )
            .await?;
        Ok(())
    }

    pub async fn unassign(&self, policy_id: &str, app: &AppRef) -> Result<(), ClientError> {
        self.graph
            .send(
                Method::DELETE,
                &format!(
                    "/applications/{}/tokenLifetimePolicies/{}/$ref",
                    encode(&app.object_id),
                    encode(policy_id)
                ),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    async fn first_assigned(&self, path: &str) -> Result<Option<LifetimePolicy>, ClientError> {
        match self.graph.get(path).await {
            Ok(r) => r
                .body
                .get("value")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .map(LifetimePolicy::from_json)
                .transpose(),
            // An app without a service principal in this tenant has nothing assigned there.
            Err(ClientError::Graph(f)) if f.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Which lifetime tokens for `app` get under Entra's documented precedence (the
    /// organization default first). Access tokens follow the policy of their audience (the
    /// resource); ID tokens that of the app that signs the user in.
    pub async fn explain(&self, app: &str) -> Result<Explanation, ClientError> {
        let app = self.resolve_app(app).await?;
        let on_sp = self
            .first_assigned(&format!(
                "/servicePrincipals(appId={})/tokenLifetimePolicies",
                encode(&odata_string(&app.app_id))
            ))
            .await?;
        let assigned = match on_sp {
            Some(p) => Some(p),
            None => {
                self.first_assigned(&format!(
                    "/applications/{}/tokenLifetimePolicies",
                    encode(&app.object_id)
                ))
                .await?
            }
        };
        let organization_default = self.organization_default().await?;
        let precedence = Precedence::default();
        let inputs = LifetimeInputs {
            cae_capable: false,
            organization_default: organization_default
                .as_ref()
                .and_then(LifetimePolicy::as_input),
            application_policy: assigned.as_ref().and_then(LifetimePolicy::as_input),
            precedence,
            test_override_seconds: None,
        };
        let id = tessera_proto::lifetime::id_token_lifetime(&inputs);
        let saml = tessera_proto::lifetime::saml_token_lifetime(&inputs);
        // Without a policy the lifetime is random (60-90 minutes): no fixed figure then.
        let access = tessera_proto::lifetime::access_token_lifetime(&inputs, &NoRandom);
        let access_token_seconds =
            (access.source != LifetimeSource::Default).then_some(access.seconds);
        Ok(Explanation {
            app,
            organization_default,
            assigned,
            precedence,
            access_token_seconds,
            access_token_source: access.source,
            id_token_seconds: id.seconds,
            saml_token_seconds: saml.seconds,
        })
    }
}

/// The explanation needs the rule's choice; the random default it would draw is not shown.
struct NoRandom;

impl tessera_proto::clock::Random for NoRandom {
    fn fill(&self, dest: &mut [u8]) {
        dest.fill(0);
    }
}
