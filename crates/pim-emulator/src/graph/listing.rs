//! Collections as Graph answers them: filter, count, page (with
//! `@odata.nextLink`), expand and select, and the `@odata.context` of entities.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::{GraphResponse, Link, METADATA};
use crate::error::{ApiError, ApiResult};
use crate::json::{J, Obj};
use crate::odata::{
    ExpandItem, Query, apply_select, context_projection, encode_skiptoken, validate_filter,
};

/// Filter, count, page, expand and select a collection.
pub(super) struct Listing<'a> {
    pub(super) context: String,
    pub(super) entity: &'a str,
    pub(super) filterable: &'a [&'a str],
    /// Properties that also support gt/ge/lt/le.
    pub(super) ordered: &'a [&'a str],
}

pub(super) fn list<F>(
    items: Vec<Cow<'_, Value>>,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
    default_page: usize,
    expand: F,
) -> ApiResult<GraphResponse>
where
    F: Fn(&mut Value, &ExpandItem) -> ApiResult<()>,
{
    let mut items = items;
    if let Some(f) = &q.filter {
        validate_filter(f, spec.entity, spec.filterable, spec.ordered)?;
        items.retain(|i| f.eval(i));
    }
    let total = items.len();
    let (start, end) = page_window(q, default_page, total);
    let page: Vec<_> = items.drain(start..end).collect();
    list_page(page, total, end, spec, q, link, expand)
}

/// The positions of the page a query asks for, of `total` items.
pub(super) fn page_window(q: &Query, default_page: usize, total: usize) -> (usize, usize) {
    let page = q
        .top
        .map(|t| t.clamp(1, 999))
        .unwrap_or(default_page)
        .max(1);
    let start = q.skip.min(total);
    (start, start.saturating_add(page).min(total))
}

/// One page of a collection, of `total` items, that ends at position `end`.
pub(super) fn list_page<F>(
    page: Vec<Cow<'_, Value>>,
    total: usize,
    end: usize,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
    expand: F,
) -> ApiResult<GraphResponse>
where
    F: Fn(&mut Value, &ExpandItem) -> ApiResult<()>,
{
    let mut value = Vec::with_capacity(page.len());
    for item in page {
        let mut item = item.into_owned();
        for e in &q.expand {
            expand(&mut item, e)?;
        }
        apply_select(&mut item, &q.select, &q.expand);
        value.push(item);
    }
    let mut out: Map<String, Value> = envelope(total, end, spec, q, link)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(GraphResponse::ok(Value::Object(out)))
}

/// A page written straight to JSON text from items that borrow the store
/// (see `crate::json`): what [`list_page`] gives for the same items when
/// the query has no `$select` or `$expand`, without a `Value` per item.
pub(super) fn encoded_page(
    items: Vec<J<'_>>,
    total: usize,
    end: usize,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
) -> GraphResponse {
    let mut fields: Vec<(&str, J<'_>)> = envelope(total, end, spec, q, link)
        .into_iter()
        .map(|(k, v)| (k, v.into_j()))
        .collect();
    fields.push(("value", J::Arr(items)));
    GraphResponse::ok_encoded(Obj::new(fields).to_vec())
}

/// A value of a page's envelope.
enum Meta {
    Text(String),
    Count(usize),
}

impl Meta {
    fn into_j(self) -> J<'static> {
        match self {
            Meta::Text(t) => J::String(t),
            Meta::Count(n) => J::U64(n as u64),
        }
    }
}

impl From<Meta> for Value {
    fn from(m: Meta) -> Value {
        match m {
            Meta::Text(t) => Value::String(t),
            Meta::Count(n) => json!(n),
        }
    }
}

/// The properties of a page besides `value`: its context, the count when
/// asked, and the link to the next page when there is one.
fn envelope(
    total: usize,
    end: usize,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
) -> Vec<(&'static str, Meta)> {
    let mut out = vec![(
        "@odata.context",
        Meta::Text(format!(
            "{}{}",
            spec.context,
            context_projection(&q.select, &q.expand)
        )),
    )];
    if q.count {
        out.push(("@odata.count", Meta::Count(total)));
    }
    if end < total {
        let mut pairs = q.raw_pairs.clone();
        pairs.push(format!("$skiptoken={}", encode_skiptoken(end)));
        out.push((
            "@odata.nextLink",
            Meta::Text(format!("{}{}?{}", link.base, link.path, pairs.join("&"))),
        ));
    }
    out
}

pub(super) fn no_expand(e: &ExpandItem, entity: &str) -> ApiResult<()> {
    Err(ApiError::bad_request(format!(
        "Could not find a property named '{}' on type 'microsoft.graph.{entity}'.",
        e.name
    )))
}

/// `…$metadata#users(id)/$entity`: the set, the `$select`ed properties.
pub(super) fn entity_context(set: &str, select: &[String]) -> String {
    format!("{METADATA}{set}{}/$entity", context_projection(select, &[]))
}
