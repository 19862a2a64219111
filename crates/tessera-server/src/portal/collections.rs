//! Reading and paging Graph collections for the portal's list pages: a list page's query,
//! the rows and `$skiptoken` of a Graph answer, links to the next page, and the small Graph
//! bodies and literals the pages build.

use serde::Deserialize;
use serde_json::{Value, json};

use super::html::esc;
use super::upstream::Refusal;

/// The list page's query: a search, and the `$skiptoken` of the page to show.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Browse {
    #[serde(default)]
    pub(crate) q: String,
    pub(crate) skiptoken: Option<String>,
}

impl Browse {
    pub(crate) fn search(&self) -> &str {
        self.q.trim()
    }

    /// The page's `$skiptoken`, when it is not the first page.
    pub(crate) fn token(&self) -> Option<&str> {
        self.skiptoken.as_deref().filter(|t| !t.is_empty())
    }
}

/// An OData string literal: quoted, with each quote doubled, so any text stays a value.
pub(crate) fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The rows of a Graph collection.
pub(crate) fn items(list: &Value) -> &[Value] {
    list.get("value")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string property of a Graph object ("" when it has none).
pub(crate) fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The `$skiptoken` in a collection's `@odata.nextLink`: where its next page starts. Only the
/// token travels through the portal's own links; the Graph request is rebuilt from the
/// portal's query, so a link cannot point the portal at another URL.
pub(crate) fn next_token(list: &Value) -> Option<String> {
    let link = url::Url::parse(list.get("@odata.nextLink")?.as_str()?).ok()?;
    link.query_pairs()
        .find(|(k, _)| k == "$skiptoken")
        .map(|(_, v)| v.into_owned())
}

/// Links to a list's first page (when not on it) and next page (when there is one).
pub(crate) fn pager(path: &str, label: &str, browse: &Browse, next: Option<&str>) -> String {
    let href = |token: Option<&str>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !browse.search().is_empty() {
            query.append_pair("q", browse.search());
        }
        if let Some(t) = token {
            query.append_pair("skiptoken", t);
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    };
    let mut links = String::new();
    if browse.token().is_some() {
        links.push_str(&format!(
            r#"<li><a href="{}">First page</a></li>"#,
            esc(&href(None))
        ));
    }
    if let Some(t) = next {
        links.push_str(&format!(
            r#"<li><a href="{}" rel="next">Next page</a></li>"#,
            esc(&href(Some(t)))
        ));
    }
    if links.is_empty() {
        String::new()
    } else {
        format!(r#"<nav aria-label="{}"><ul>{links}</ul></nav>"#, esc(label))
    }
}

/// A `$ref` body naming a user, as Graph takes it for group members.
pub(crate) fn member_ref(user_id: &str) -> Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user_id}")})
}

/// A part of a page whose Graph read was refused: the page still shows the rest.
pub(crate) fn unreadable(what: &str, refusal: &Refusal) -> String {
    format!(
        r#"<p class="notice error">{} could not be read: {}</p>"#,
        esc(what),
        esc(&refusal.message)
    )
}
