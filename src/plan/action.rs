//! What a change does. An action knows its own symbol and phase, so
//! renderers and the executor need no lookup tables; colour is the
//! renderers' (`render`).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    UpdateRules,
    Create,
    /// Take an existing schedule under management (record it in state).
    Adopt,
    Update,
    Renew,
    Remove,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Adopt => '=',
            Action::Update | Action::UpdateRules => '~',
            Action::Renew => '⟳',
            Action::Remove => '-',
            Action::NoOp => ' ',
        }
    }

    /// Rule updates first, so new grants comply; grants next; removals
    /// last, so no one loses access before the replacement exists.
    pub fn phase(self) -> u8 {
        match self {
            Action::UpdateRules => 0,
            Action::Create | Action::Adopt | Action::Update | Action::Renew | Action::NoOp => 1,
            Action::Remove => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::UpdateRules => "update-rules",
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Renew => "renew",
            Action::Remove => "remove",
            Action::NoOp => "no-op",
        }
    }

    /// "will be created", as the text plan says it.
    pub fn verb(self) -> &'static str {
        match self {
            Action::UpdateRules => "will have its rules updated",
            Action::Create => "will be created",
            Action::Adopt => "will be adopted",
            Action::Update => "will be updated in place",
            Action::Renew => "will be renewed",
            Action::Remove => "will be removed",
            Action::NoOp => "is up to date",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a change was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The configuration declares it and the tenant differs.
    Declared,
    /// The tenant was changed outside of pim.
    Drift,
    /// It expires within the renewal window.
    Expiring,
    /// An undeclared holder of an exclusive role.
    Exclusive,
    /// Managed by pim but no longer declared.
    NotDeclared,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Declared => "declared in configuration",
            Reason::Drift => "changed outside of pim",
            Reason::Expiring => "expires within the renewal window",
            Reason::Exclusive => "not declared for an exclusive role",
            Reason::NotDeclared => "no longer declared",
        }
    }
}
