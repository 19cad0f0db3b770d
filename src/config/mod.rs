//! Loading configuration: every `*.pim.hcl` file of a directory is parsed,
//! its variables, locals and `for_each` evaluated, and the result validated
//! into `Desired`, or into diagnostics that say where and what is wrong.
//! Nothing here talks to the tenant: custom roles and principals are
//! resolved later, against Graph.

mod check;
mod diagnostic;
mod eval;
mod fields;
pub mod fmt;
mod grant;
mod load;
mod policy;
pub mod read;
mod role;
pub mod schema;
mod state;
mod tenant;
mod types;
mod unclosed;
mod vars;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use diagnostic::{
    Diagnostic, Diagnostics, JsonLocation, Location, Pos, Severity, SourceFile,
    serialize_json_location,
};
pub use load::{load, load_sources};

use crate::model::{
    Address, Assignment, IsoDuration, PolicyRules, PrincipalRef, RoleRef, Scope, SurfaceKind,
};

/// The file name pattern of configuration files.
pub const FILE_SUFFIX: &str = ".pim.hcl";

/// What the loader needs besides the files: values for variables and the
/// time against which dates are judged.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub now: DateTime<Utc>,
    /// `--var name=value`, in the order given (later wins).
    pub vars: Vec<(String, String)>,
    /// `--var-file` paths, in the order given.
    pub var_files: Vec<PathBuf>,
    /// The process environment, from which `PIM_VAR_name` values are taken.
    pub env: Vec<(String, String)>,
}

impl LoadOptions {
    pub fn at(now: DateTime<Utc>) -> Self {
        LoadOptions {
            now,
            vars: Vec::new(),
            var_files: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// Where a declared object came from: its block, and each attribute that
/// was set, so later stages can point at the exact line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub block: Location,
    pub attributes: Vec<(String, Location)>,
}

impl Origin {
    /// Where `name` was set, or the block when it was not. Attributes of
    /// nested blocks are named by their path, as in
    /// `activation.approval.approvers`.
    pub fn attribute(&self, name: &str) -> &Location {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&self.block, |(_, l)| l)
    }
}

/// A declared object with its address and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared<T> {
    pub address: Address,
    pub origin: Origin,
    pub item: T,
}

/// A `policy` block: the settings it manages for one role (a directory
/// role, or a group's `member` or `owner` access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    pub surface: SurfaceKind,
    pub role: RoleRef,
    /// `Scope::Directory` for directory roles, the group for groups.
    pub scope: Scope,
    pub rules: PolicyRules,
}

/// A `role` block: a directory role, or a group's `member` or `owner`
/// access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub surface: SurfaceKind,
    pub role: RoleRef,
    /// `Scope::Directory` for directory roles, the group for groups.
    pub scope: Scope,
    /// Holders that the configuration does not declare are removed.
    pub exclusive: bool,
    /// Principals never removed, whatever the configuration says.
    pub protected: Vec<PrincipalRef>,
    /// A custom role of the tenant, resolved by name against Graph.
    pub custom: bool,
    /// The role may be left with no holder (a tier-0 or exclusive role
    /// otherwise may not).
    pub allow_empty: bool,
    /// Holders neither declared nor managed that drift reports as known,
    /// not as drift (`known_holders`).
    pub known_holders: KnownHolders,
}

/// Which unmanaged holders of a role drift takes as known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KnownHolders {
    #[default]
    None,
    /// These principals.
    Listed(Vec<PrincipalRef>),
    /// Every holder (`known_holders = ["*"]`).
    Any,
}

impl KnownHolders {
    pub fn principals(&self) -> &[PrincipalRef] {
        match self {
            KnownHolders::Listed(p) => p,
            _ => &[],
        }
    }
}

/// The `tenant` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    pub id: Option<String>,
    /// Seed file of the embedded emulator: plan against it, not Azure.
    pub emulator: Option<PathBuf>,
    pub graph_url: Option<String>,
    pub authority_host: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub renew_within: Option<IsoDuration>,
    /// Roles treated as tier 0 (baseline checks, removal guards); `None`
    /// for the default list.
    pub tier0_roles: Option<Vec<RoleRef>>,
    /// Principals never removed from any role.
    pub protected: Vec<PrincipalRef>,
    /// Where `protected` is set, for the plan to say why a grant is kept.
    pub protected_at: Option<Location>,
}

/// Where state is kept (the `state` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSettings {
    Local {
        path: PathBuf,
    },
    AzureRm {
        account: String,
        container: String,
        blob: String,
        /// The Blob service endpoint when not `https://{account}.blob.core.windows.net`:
        /// a sovereign cloud's, or Azurite's `http://127.0.0.1:10000/devstoreaccount1`.
        endpoint: Option<String>,
    },
}

/// Everything the configuration declares, validated.
#[derive(Debug, Clone)]
pub struct Desired {
    pub dir: PathBuf,
    pub tenant: TenantSettings,
    pub state: StateSettings,
    pub eligibilities: Vec<Declared<Assignment>>,
    pub assignments: Vec<Declared<Assignment>>,
    pub policies: Vec<Declared<PolicySettings>>,
    pub roles: Vec<Declared<RoleSettings>>,
    /// Warnings found while loading; errors never reach a `Desired`.
    pub warnings: Diagnostics,
    /// A digest of the files and variable values: a saved plan made from
    /// other configuration is refused.
    pub config_hash: String,
    /// The files as read, so later stages' diagnostics can quote their line.
    pub sources: Vec<std::sync::Arc<SourceFile>>,
}

impl Desired {
    /// `Valid: 12 eligibilities, 3 assignments, 2 policies, 1 role block.`
    pub fn summary(&self) -> String {
        fn n(count: usize, one: &str, many: &str) -> String {
            format!("{count} {}", if count == 1 { one } else { many })
        }
        format!(
            "{}, {}, {}, {}",
            n(self.eligibilities.len(), "eligibility", "eligibilities"),
            n(self.assignments.len(), "assignment", "assignments"),
            n(self.policies.len(), "policy", "policies"),
            n(self.roles.len(), "role block", "role blocks"),
        )
    }
}

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl LoadError {
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            LoadError::Invalid(d) => d,
        }
    }
}
