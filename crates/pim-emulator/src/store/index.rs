//! Indexes of the directory collections: the properties `$filter` accepts
//! on each, and the positions of the rendered objects by each property's
//! folded string value, so `eq` and `in` filters (how clients resolve
//! names, fifteen to a request) read only the objects they name.

use std::collections::HashMap;

use serde_json::Value;

use crate::odata::fold;

pub(crate) const USER_FILTER: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "accountEnabled",
    "jobTitle",
];
pub(crate) const GROUP_FILTER: &[&str] = &[
    "id",
    "displayName",
    "isAssignableToRole",
    "mail",
    "securityEnabled",
];
pub(crate) const SP_FILTER: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "servicePrincipalType",
    "accountEnabled",
];
pub(crate) const AU_FILTER: &[&str] = &["id", "displayName"];

/// Positions in one rendered collection by property and folded value.
/// Only string values are held: `eq` on a string literal matches nothing
/// else, and any other literal is answered by the scan.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueIndex {
    by: Vec<(&'static str, HashMap<String, Vec<usize>>)>,
}

impl ValueIndex {
    pub fn new(props: &[&'static str], items: &[Value]) -> Self {
        let mut index = ValueIndex {
            by: props.iter().map(|p| (*p, HashMap::new())).collect(),
        };
        for (i, item) in items.iter().enumerate() {
            index.insert(i, item);
        }
        index
    }

    /// Index the object rendered at position `pos`, the last one so far:
    /// positions stay ascending, the order the scan finds them in.
    pub fn insert(&mut self, pos: usize, item: &Value) {
        for (prop, map) in &mut self.by {
            if let Some(v) = item.get(*prop).and_then(Value::as_str) {
                map.entry(fold(v)).or_default().push(pos);
            }
        }
    }

    /// Positions whose `prop` folds to `folded`; `None` when `prop` is not
    /// indexed. Property names are matched exactly, as `$filter` reads them.
    pub fn get(&self, prop: &str, folded: &str) -> Option<&[usize]> {
        let (_, map) = self.by.iter().find(|(p, _)| *p == prop)?;
        Some(map.get(folded).map_or(&[][..], Vec::as_slice))
    }
}
