//! JSON objects that borrow from the store, for the renderings read most
//! (schedule pages, `getByIds`): written straight to bytes in the order a
//! `serde_json::Map` keeps its keys, so a page streamed from them is the
//! page a `Value` tree would have given, without building and dropping a
//! tree per item. The same objects make the `Value`s the other paths
//! need, so both renderings come from one definition.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// One JSON value, borrowed where the store already holds the text.
#[derive(Debug, Clone)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    U64(u64),
    Str(&'a str),
    String(String),
    Arr(Vec<J<'a>>),
    Obj(Obj<'a>),
}

impl<'a> From<&'a str> for J<'a> {
    fn from(s: &'a str) -> Self {
        J::Str(s)
    }
}

impl From<String> for J<'_> {
    fn from(s: String) -> Self {
        J::String(s)
    }
}

impl From<bool> for J<'_> {
    fn from(b: bool) -> Self {
        J::Bool(b)
    }
}

impl<'a> From<Obj<'a>> for J<'a> {
    fn from(o: Obj<'a>) -> Self {
        J::Obj(o)
    }
}

impl<'a, T: Into<J<'a>>> From<Option<T>> for J<'a> {
    fn from(o: Option<T>) -> Self {
        o.map_or(J::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for J<'a> {
    fn from(o: &'a Option<String>) -> Self {
        o.as_deref().into()
    }
}

/// An object whose keys are kept sorted, as `serde_json::Map` (a
/// `BTreeMap` without the `preserve_order` feature) holds them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj<'a>(Vec<(&'a str, J<'a>)>);

impl<'a> Obj<'a> {
    /// The object of these fields; a key given twice keeps its last value,
    /// as inserting into a map does.
    pub fn new(mut fields: Vec<(&'a str, J<'a>)>) -> Self {
        // Stable: of equal keys the last given is last, and is kept.
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&'a str, J<'a>)> = Vec::with_capacity(fields.len());
        for f in fields {
            match out.last_mut() {
                Some(last) if last.0 == f.0 => *last = f,
                _ => out.push(f),
            }
        }
        Obj(out)
    }

    /// Add a field, in key order (replacing one of the same key).
    pub fn insert(&mut self, key: &'a str, value: J<'a>) {
        match self.0.binary_search_by(|(k, _)| (*k).cmp(key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// The same object as a `Value`, for the paths that edit or filter it.
    pub fn to_value(&self) -> Value {
        // Serialising strings, numbers, booleans and maps with string keys
        // into a `Value` cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The object's JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        // As `to_value`: nothing here can fail to serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for J<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::U64(n) => s.serialize_u64(*n),
            J::Str(t) => s.serialize_str(t),
            J::String(t) => s.serialize_str(t),
            J::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            J::Obj(o) => o.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_write_what_a_value_of_the_same_fields_writes() {
        let inner = Obj::new(vec![("y", J::U64(7)), ("b", "x".into())]);
        let mut o = Obj::new(vec![
            ("principalId", "p".into()),
            ("@odata.type", "#microsoft.graph.user".into()),
            ("appScopeId", J::Null),
            ("businessPhones", J::Arr(Vec::new())),
            ("mail", J::from(None::<&str>)),
            ("accountEnabled", true.into()),
            ("scheduleInfo", inner.into()),
            ("held", J::Arr(vec![J::U64(1), "two".into(), J::Null])),
            ("id", "first".into()),
            ("id", String::from("second").into()),
        ]);
        o.insert("displayName", "Adele \"V\"".into());
        o.insert("appScopeId", "now set".into());
        let expected = json!({
            "principalId": "p",
            "@odata.type": "#microsoft.graph.user",
            "appScopeId": "now set",
            "businessPhones": [],
            "mail": null,
            "accountEnabled": true,
            "scheduleInfo": { "y": 7, "b": "x" },
            "held": [1, "two", null],
            "id": "second",
            "displayName": "Adele \"V\"",
        });
        assert_eq!(o.to_value(), expected);
        assert_eq!(
            String::from_utf8(o.to_vec()).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    /// The streamed objects sort their keys because `serde_json::Map` does:
    /// should a dependency turn on `preserve_order`, the two would part.
    #[test]
    fn serde_json_maps_keep_their_keys_sorted() {
        let v = json!({ "value": 1, "@odata.context": 2, "id": 3 });
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"@odata.context":2,"id":3,"value":1}"#
        );
    }
}
