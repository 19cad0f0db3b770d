//! References to principals as people write them in configuration.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Caseless, ObjectId};

/// Who a reference names: `user:UPN`, `group:Display Name`,
/// `sp:Display Name or appId`, or a bare directory object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalRef {
    User(String),
    Group(String),
    ServicePrincipal(String),
    ObjectId(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    User,
    Group,
    ServicePrincipal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("{0:?} is not a principal reference")]
    Malformed(String),
    #[error("{0:?} names no one: nothing follows the prefix")]
    Empty(String),
    #[error("{0:?} is not a user principal name (expected name@domain)")]
    NotUpn(String),
    #[error("unknown principal prefix {prefix:?} in {text:?}")]
    UnknownPrefix { text: String, prefix: String },
}

impl PrincipalError {
    /// A line telling the user how to write the reference instead.
    pub fn hint(&self) -> &'static str {
        match self {
            PrincipalError::UnknownPrefix { .. } | PrincipalError::Malformed(_) => {
                "write user:UPN, group:Display Name, sp:Display Name or appId, or an object id (GUID)"
            }
            PrincipalError::Empty(_) => {
                "put the name after the prefix, as in user:alice@contoso.com"
            }
            PrincipalError::NotUpn(_) => "a user is named by UPN, as in user:alice@contoso.com",
        }
    }
}

/// True for the 8-4-4-4-12 hex form that Entra uses for every object id.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

impl PrincipalRef {
    pub fn kind(&self) -> Option<PrincipalKind> {
        match self {
            PrincipalRef::User(_) => Some(PrincipalKind::User),
            PrincipalRef::Group(_) => Some(PrincipalKind::Group),
            PrincipalRef::ServicePrincipal(_) => Some(PrincipalKind::ServicePrincipal),
            PrincipalRef::ObjectId(_) => None,
        }
    }

    /// The name or id after the prefix.
    pub fn name(&self) -> &str {
        match self {
            PrincipalRef::User(s)
            | PrincipalRef::Group(s)
            | PrincipalRef::ServicePrincipal(s)
            | PrincipalRef::ObjectId(s) => s,
        }
    }

    /// The reference in a form that compares equal however it was written
    /// (UPNs and ids are case-insensitive in Entra; display names are not).
    pub fn normalized(&self) -> PrincipalRef {
        match self {
            PrincipalRef::User(s) => PrincipalRef::User(Caseless::ascii(s).into_string()),
            PrincipalRef::ObjectId(s) => PrincipalRef::ObjectId(ObjectId::new(s.as_str()).into()),
            other => other.clone(),
        }
    }
}

impl FromStr for PrincipalRef {
    type Err = PrincipalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if is_guid(text) {
            return Ok(PrincipalRef::ObjectId(text.to_string()));
        }
        let Some((prefix, name)) = text.split_once(':') else {
            return Err(PrincipalError::Malformed(s.to_string()));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(PrincipalError::Empty(s.to_string()));
        }
        match Caseless::ascii(prefix.trim()).as_str() {
            "user" => {
                let ok = name.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !name.contains(' ')
                });
                if ok {
                    Ok(PrincipalRef::User(name.to_string()))
                } else {
                    Err(PrincipalError::NotUpn(s.to_string()))
                }
            }
            "group" => Ok(PrincipalRef::Group(name.to_string())),
            "sp" | "serviceprincipal" => Ok(PrincipalRef::ServicePrincipal(name.to_string())),
            "id" => {
                if is_guid(name) {
                    Ok(PrincipalRef::ObjectId(name.to_string()))
                } else {
                    Err(PrincipalError::Malformed(s.to_string()))
                }
            }
            other => Err(PrincipalError::UnknownPrefix {
                text: s.to_string(),
                prefix: other.to_string(),
            }),
        }
    }
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalRef::User(s) => write!(f, "user:{s}"),
            PrincipalRef::Group(s) => write!(f, "group:{s}"),
            PrincipalRef::ServicePrincipal(s) => write!(f, "sp:{s}"),
            PrincipalRef::ObjectId(s) => f.write_str(s),
        }
    }
}

impl Serialize for PrincipalRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PrincipalRef {
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
    fn parses_every_form() {
        assert_eq!(
            "user:alice@contoso.com".parse(),
            Ok(PrincipalRef::User("alice@contoso.com".into()))
        );
        assert_eq!(
            "group:PIM Approvers".parse(),
            Ok(PrincipalRef::Group("PIM Approvers".into()))
        );
        assert_eq!(
            "sp:Deploy Bot".parse(),
            Ok(PrincipalRef::ServicePrincipal("Deploy Bot".into()))
        );
        let id = "62e90394-69f5-4237-9190-012177145e10";
        assert_eq!(id.parse(), Ok(PrincipalRef::ObjectId(id.into())));
        let r: PrincipalRef = "group:PIM Approvers".parse().unwrap();
        assert_eq!(r.to_string(), "group:PIM Approvers");
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            "alice".parse::<PrincipalRef>(),
            Err(PrincipalError::Malformed(_))
        ));
        assert!(matches!(
            "user:alice".parse::<PrincipalRef>(),
            Err(PrincipalError::NotUpn(_))
        ));
        assert!(matches!(
            "group:".parse::<PrincipalRef>(),
            Err(PrincipalError::Empty(_))
        ));
        assert!(matches!(
            "usr:a@b.com".parse::<PrincipalRef>(),
            Err(PrincipalError::UnknownPrefix { .. })
        ));
    }
}
