//! Addresses of declared objects, as plans and state name them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    Eligibility,
    Assignment,
    Policy,
    Role,
}

impl BlockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Eligibility => "eligibility",
            BlockKind::Assignment => "assignment",
            BlockKind::Policy => "policy",
            BlockKind::Role => "role",
        }
    }

    pub fn parse(s: &str) -> Option<BlockKind> {
        Some(match s {
            "eligibility" => BlockKind::Eligibility,
            "assignment" => BlockKind::Assignment,
            "policy" => BlockKind::Policy,
            "role" => BlockKind::Role,
            _ => return None,
        })
    }
}

/// `eligibility.alice_ga`, `eligibility.helpdesk["user:bob@contoso.com"]`,
/// `policy["Global Administrator"]`, `role["Global Administrator"]`.
///
/// Eligibility and assignment blocks are named by an identifier and printed
/// with a dot; policy and role blocks are named by a role, so their name is
/// printed as an index, like a `for_each` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub kind: BlockKind,
    pub name: String,
    pub key: Option<String>,
}

impl Address {
    pub fn new(kind: BlockKind, name: impl Into<String>) -> Self {
        Address {
            kind,
            name: name.into(),
            key: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Parses the printed form back, as `pim import` and `pim state` take it.
    pub fn parse(text: &str) -> Option<Address> {
        let t = text.trim();
        let split = t.find(['.', '['])?;
        let kind = BlockKind::parse(&t[..split])?;
        let rest = &t[split..];
        let (name, rest) = if let Some(r) = rest.strip_prefix('.') {
            let end = r.find('[').unwrap_or(r.len());
            (r[..end].to_string(), &r[end..])
        } else {
            let (name, r) = parse_index(rest)?;
            (name, r)
        };
        if name.is_empty() {
            return None;
        }
        let key = if rest.is_empty() {
            None
        } else {
            let (key, r) = parse_index(rest)?;
            if !r.is_empty() {
                return None;
            }
            Some(key)
        };
        Some(Address { kind, name, key })
    }
}

fn parse_index(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix("[\"")?;
    let mut out = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return inner[i + 1..].strip_prefix(']').map(|r| (out, r)),
            c => out.push(c),
        }
    }
    None
}

fn write_index(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("[\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"]")
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        match self.kind {
            BlockKind::Eligibility | BlockKind::Assignment => write!(f, ".{}", self.name)?,
            BlockKind::Policy | BlockKind::Role => write_index(f, &self.name)?,
        }
        if let Some(key) = &self.key {
            write_index(f, key)?;
        }
        Ok(())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses() {
        let cases = [
            Address::new(BlockKind::Eligibility, "alice_ga"),
            Address::new(BlockKind::Eligibility, "helpdesk").with_key("user:bob@contoso.com"),
            Address::new(BlockKind::Policy, "Global Administrator"),
            Address::new(BlockKind::Role, "Global Administrator"),
            Address::new(BlockKind::Assignment, "x").with_key("a \"quoted\" key"),
        ];
        let printed: Vec<String> = cases.iter().map(|a| a.to_string()).collect();
        assert_eq!(printed[0], "eligibility.alice_ga");
        assert_eq!(printed[1], "eligibility.helpdesk[\"user:bob@contoso.com\"]");
        assert_eq!(printed[2], "policy[\"Global Administrator\"]");
        for (a, p) in cases.iter().zip(&printed) {
            assert_eq!(Address::parse(p).as_ref(), Some(a), "{p}");
        }
        assert!(Address::parse("nothing.x").is_none());
        assert!(Address::parse("eligibility.").is_none());
        assert!(Address::parse("policy[\"x\"]junk").is_none());
    }
}
