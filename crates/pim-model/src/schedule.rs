//! When a grant starts and how it ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::IsoDuration;

/// How a grant ends, in Graph's three ways.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Expiration {
    Permanent,
    At(DateTime<Utc>),
    After(IsoDuration),
}

impl Expiration {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Expiration::Permanent)
    }
}

/// A grant's start (`None`: when the request is made) and its expiration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    pub start: Option<DateTime<Utc>>,
    pub expiration: Expiration,
}

impl Schedule {
    pub fn permanent() -> Self {
        Schedule {
            start: None,
            expiration: Expiration::Permanent,
        }
    }

    /// The end of the grant if it started at `start` (or `now` when unset);
    /// `None` for a permanent grant.
    pub fn end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.expiration {
            Expiration::Permanent => None,
            Expiration::At(t) => Some(*t),
            Expiration::After(d) => d.add_to(self.start.unwrap_or(now)),
        }
    }

    /// How long the grant lasts in seconds (`None` when permanent), the
    /// figure a policy's `maximumDuration` is checked against.
    pub fn length_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        match &self.expiration {
            Expiration::Permanent => None,
            Expiration::After(d) => Some(d.as_seconds()),
            Expiration::At(t) => Some((*t - self.start.unwrap_or(now)).num_seconds()),
        }
    }
}
