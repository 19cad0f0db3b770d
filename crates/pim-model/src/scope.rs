//! Where a grant applies: for directory roles the whole tenant or one
//! administrative unit; for PIM for Groups, a group; for Azure resource
//! roles, an ARM scope.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a role applies: `/` or `/administrativeUnits/{id or display name}`,
/// or for PIM for Groups `group:{id or display name}`, or for Azure roles an
/// ARM scope (`/providers/Microsoft.Management/managementGroups/{id}`,
/// `/subscriptions/{id}` and what is under it). A name is resolved to an id
/// against the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Scope {
    #[default]
    Directory,
    AdministrativeUnit(String),
    Group(String),
    /// An ARM scope, as written (ARM compares scopes without regard to case).
    Azure(String),
}

/// Whether `text` is written as an ARM scope: a management group, or a
/// subscription and what is under it.
pub fn is_azure_scope(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    t.starts_with("/subscriptions/")
        || t.starts_with("/providers/microsoft.management/managementgroups/")
        || t.starts_with("/providers/microsoft.subscription/subscriptions/")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a directory scope")]
pub struct ScopeError(pub String);

impl ScopeError {
    pub fn hint(&self) -> &'static str {
        "use \"/\" for the whole tenant or \"/administrativeUnits/<id or name>\""
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t == "/" || t.is_empty() {
            return Ok(Scope::Directory);
        }
        if is_azure_scope(t) {
            return Ok(Scope::Azure(t.trim_end_matches('/').to_string()));
        }
        if let Some(g) = t.strip_prefix("group:") {
            return match g.trim() {
                "" => Err(ScopeError(s.to_string())),
                g => Ok(Scope::Group(g.to_string())),
            };
        }
        let rest = t
            .strip_prefix("/administrativeUnits/")
            .or_else(|| t.strip_prefix("/administrativeunits/"))
            .ok_or_else(|| ScopeError(s.to_string()))?;
        if rest.trim().is_empty() || rest.contains('/') {
            return Err(ScopeError(s.to_string()));
        }
        Ok(Scope::AdministrativeUnit(rest.trim().to_string()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Directory => f.write_str("/"),
            Scope::AdministrativeUnit(id) => write!(f, "/administrativeUnits/{id}"),
            Scope::Group(g) => write!(f, "group:{g}"),
            Scope::Azure(s) => f.write_str(s),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!("/".parse(), Ok(Scope::Directory));
        let au: Scope = "/administrativeUnits/Paris Office".parse().unwrap();
        assert_eq!(au, Scope::AdministrativeUnit("Paris Office".into()));
        assert_eq!(au.to_string(), "/administrativeUnits/Paris Office");
        let sub: Scope = "/subscriptions/x/".parse().unwrap();
        assert_eq!(sub, Scope::Azure("/subscriptions/x".into()));
        assert_eq!(sub.to_string(), "/subscriptions/x");
        assert!("/subscription/x".parse::<Scope>().is_err());
        assert!("/administrativeUnits/".parse::<Scope>().is_err());
        let g: Scope = "group:Tier0 Admins".parse().unwrap();
        assert_eq!(g, Scope::Group("Tier0 Admins".into()));
        assert_eq!(g.to_string(), "group:Tier0 Admins");
        assert!("group: ".parse::<Scope>().is_err());
    }
}
