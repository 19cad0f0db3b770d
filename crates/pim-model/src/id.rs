//! Graph object ids.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

/// The id of a Graph object: a user, group, service principal, role
/// definition or administrative unit. Graph compares ids without regard to
/// ASCII case and writes them in lower case, so an `ObjectId` is lowered
/// once, when it is made: two are equal, hash and order alike exactly when
/// Graph says they are the same object, and nothing compares them folded.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn new(id: impl Into<String>) -> ObjectId {
        let mut id = id.into();
        // Graph's ids are lower case already: no copy then.
        if id.bytes().any(|b| b.is_ascii_uppercase()) {
            id.make_ascii_lowercase();
        }
        ObjectId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for ObjectId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ObjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by `ObjectId` are looked up with a `&str` that is already
/// lower case (as every id pim holds is).
impl Borrow<str> for ObjectId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Borrow<String> for ObjectId {
    fn borrow(&self) -> &String {
        &self.0
    }
}

impl From<String> for ObjectId {
    fn from(s: String) -> ObjectId {
        ObjectId::new(s)
    }
}

impl From<&str> for ObjectId {
    fn from(s: &str) -> ObjectId {
        ObjectId::new(s)
    }
}

impl From<&String> for ObjectId {
    fn from(s: &String) -> ObjectId {
        ObjectId::new(s.as_str())
    }
}

impl From<ObjectId> for String {
    fn from(id: ObjectId) -> String {
        id.0
    }
}

/// Against text, the comparison Graph makes: without regard to case.
impl PartialEq<str> for ObjectId {
    fn eq(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq<&str> for ObjectId {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for ObjectId {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ObjectId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ids_are_lowered_once_and_compare_as_graph_compares_them() {
        let upper = ObjectId::new("62E90394-69F5-4237-9190-012177145E10");
        let lower = ObjectId::from("62e90394-69f5-4237-9190-012177145e10");
        assert_eq!(upper, lower);
        assert_eq!(upper.as_str(), "62e90394-69f5-4237-9190-012177145e10");
        assert!(upper == "62E90394-69f5-4237-9190-012177145E10");
        let mut map = BTreeMap::new();
        map.insert(upper, 1);
        assert_eq!(map.get("62e90394-69f5-4237-9190-012177145e10"), Some(&1));
        let read: ObjectId = serde_json::from_str("\"ABC\"").unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), "\"abc\"");
    }
}
