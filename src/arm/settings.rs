//! Where ARM is and how fast pim may call it: the endpoint (overridable by
//! `PIM_ARM_URL`, checked as `PIM_GRAPH_URL` is), the api-version of each
//! collection, and ARM's request limits. Sign-in, TLS, retries and read
//! limits are the Graph client's, so one credential serves both.

use std::collections::HashMap;

use crate::graph::{GraphError, GraphSettings, check_url, non_empty};

pub const DEFAULT_ARM_URL: &str = "https://management.azure.com";
/// The scope of every ARM token (app-only `.default`; arm-pim.md §2).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The api-version of the PIM collections (arm-pim.md §1).
pub const PIM_API_VERSION: &str = "2020-10-01";

/// The api-version of `GET /subscriptions` (Microsoft.Resources).
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";

/// The api-version of `roleAssignmentApprovals`, a preview.
pub const APPROVALS_API_VERSION: &str = "2021-01-01-preview";

/// What pim calls under `{scope}/providers/Microsoft.Authorization/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    EligibilityRequests,
    AssignmentRequests,
    EligibilitySchedules,
    AssignmentSchedules,
    EligibilityInstances,
    AssignmentInstances,
    Policies,
    PolicyAssignments,
    RoleDefinitions,
    /// Approvals of activations: the preview API only.
    Approvals,
}

impl Collection {
    pub fn segment(self) -> &'static str {
        match self {
            Collection::EligibilityRequests => "roleEligibilityScheduleRequests",
            Collection::AssignmentRequests => "roleAssignmentScheduleRequests",
            Collection::EligibilitySchedules => "roleEligibilitySchedules",
            Collection::AssignmentSchedules => "roleAssignmentSchedules",
            Collection::EligibilityInstances => "roleEligibilityScheduleInstances",
            Collection::AssignmentInstances => "roleAssignmentScheduleInstances",
            Collection::Policies => "roleManagementPolicies",
            Collection::PolicyAssignments => "roleManagementPolicyAssignments",
            Collection::RoleDefinitions => "roleDefinitions",
            Collection::Approvals => "roleAssignmentApprovals",
        }
    }

    /// The one place that says which collection takes which api-version:
    /// the PIM ones 2020-10-01; role definitions are not part of that API
    /// and are read with 2022-04-01, as EasyPIM does (arm-pim.md §1.6,
    /// observed, not documented for PIM: UNVERIFIED).
    pub fn api_version(self) -> &'static str {
        match self {
            Collection::RoleDefinitions => "2022-04-01",
            // No stable version has them (arm-pim.md §1.5).
            Collection::Approvals => APPROVALS_API_VERSION,
            _ => PIM_API_VERSION,
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

/// ARM's documented buckets per subscription (or tenant) and principal
/// (arm-pim.md §9.3): reads 250 refilled at 25/s, writes and deletes 200
/// at 10/s. Microsoft.Authorization documents no limit of its own (the
/// "120 writes per minute" some quote is UNVERIFIED), so these are the
/// ones to stay under.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRates {
    pub reads: RateLimit,
    pub writes: RateLimit,
    pub deletes: RateLimit,
}

impl Default for ArmRates {
    fn default() -> Self {
        ArmRates {
            reads: RateLimit {
                burst: 250,
                per_second: 25.0,
            },
            writes: RateLimit {
                burst: 200,
                per_second: 10.0,
            },
            deletes: RateLimit {
                burst: 200,
                per_second: 10.0,
            },
        }
    }
}

/// Everything the ARM client needs.
#[derive(Debug, Clone)]
pub struct ArmSettings {
    /// `https://management.azure.com`, without a trailing slash.
    pub arm_url: String,
    /// Sign-in, extra CA, parallelism of reads, retries, timeouts and read
    /// limits: the Graph client's settings (their `graph_url` unused here).
    pub connection: GraphSettings,
    pub rates: ArmRates,
}

impl ArmSettings {
    /// ARM for a client whose Graph settings are `graph`: the public ARM
    /// endpoint unless `PIM_ARM_URL` names another (validated as
    /// `PIM_GRAPH_URL` is: https, or plain http to loopback only).
    ///
    /// A Graph URL on a loopback address is an emulator started apart
    /// (`pim emulator`): ARM is then looked for there, where the emulator
    /// serves it, rather than at Azure's public endpoint.
    pub fn from_env(
        graph: &GraphSettings,
        env: &HashMap<String, String>,
    ) -> Result<Self, GraphError> {
        if crate::graph::is_loopback(&graph.graph_url) {
            return Self::for_emulator(graph, env);
        }
        Self::with_default(graph, env, DEFAULT_ARM_URL)
    }

    /// ARM of the embedded emulator whose Graph root is `graph.graph_url`:
    /// it serves ARM on the same base URL, in its own path space
    /// (`/subscriptions/…`, `/providers/…`). `PIM_ARM_URL` still wins.
    pub fn for_emulator(
        graph: &GraphSettings,
        env: &HashMap<String, String>,
    ) -> Result<Self, GraphError> {
        let url = reqwest::Url::parse(&graph.graph_url).map_err(|e| {
            arm_config(format!("Graph URL {:?} is not a URL: {e}", graph.graph_url))
        })?;
        let base = crate::graph::link::origin(&url);
        Self::with_default(graph, env, &base)
    }

    fn with_default(
        graph: &GraphSettings,
        env: &HashMap<String, String>,
        default: &str,
    ) -> Result<Self, GraphError> {
        let arm_url = non_empty(env, "PIM_ARM_URL").unwrap_or_else(|| default.to_string());
        let s = ArmSettings {
            arm_url: arm_url.trim().trim_end_matches('/').to_string(),
            connection: graph.clone(),
            rates: ArmRates::default(),
        };
        s.validate()?;
        Ok(s)
    }

    /// The endpoint as pim writes URLs under it, without a trailing slash.
    pub fn root(&self) -> &str {
        self.arm_url.trim_end_matches('/')
    }

    pub fn validate(&self) -> Result<(), GraphError> {
        check_url("ARM URL", &self.arm_url).map_err(as_arm)?;
        let url = reqwest::Url::parse(&self.arm_url)
            .map_err(|e| arm_config(format!("ARM URL {:?} is not a URL: {e}", self.arm_url)))?;
        // Every ARM path starts at the host's root (`/subscriptions/…`), so a
        // path here would be silently dropped or doubled: refuse it.
        if url.path() != "/" || url.query().is_some() {
            return Err(arm_config(format!(
                "ARM URL {:?} must be an endpoint alone (scheme, host and port), like {DEFAULT_ARM_URL}",
                self.arm_url
            )));
        }
        for (what, r) in [
            ("reads", self.rates.reads),
            ("writes", self.rates.writes),
            ("deletes", self.rates.deletes),
        ] {
            if r.burst == 0 || !(r.per_second.is_finite() && r.per_second > 0.0) {
                return Err(arm_config(format!(
                    "the ARM rate of {what} must allow at least one request and refill"
                )));
            }
        }
        self.connection.validate().map_err(as_arm)
    }
}

fn arm_config(message: String) -> GraphError {
    as_arm(GraphError::config(message))
}

fn as_arm(e: GraphError) -> GraphError {
    GraphError {
        service: crate::graph::Service::Arm,
        operation: if e.operation == "configure the Graph client" {
            "configure the ARM client".to_string()
        } else {
            e.operation
        },
        ..e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_public_endpoint_unless_pim_arm_url_says_otherwise() {
        let g = GraphSettings::default();
        let s = ArmSettings::from_env(&g, &env(&[])).unwrap();
        assert_eq!(s.root(), "https://management.azure.com");
        let s =
            ArmSettings::from_env(&g, &env(&[("PIM_ARM_URL", " http://127.0.0.1:9/ ")])).unwrap();
        assert_eq!(s.root(), "http://127.0.0.1:9");
        // An emulator started apart serves ARM where it serves Graph.
        let emulated = GraphSettings {
            graph_url: "https://127.0.0.1:8443/v1.0".into(),
            ..GraphSettings::default()
        };
        let s = ArmSettings::from_env(&emulated, &env(&[])).unwrap();
        assert_eq!(s.root(), "https://127.0.0.1:8443");
    }

    #[test]
    fn the_emulator_serves_arm_at_its_base_url() {
        let g = GraphSettings {
            graph_url: "https://127.0.0.1:8443/v1.0".into(),
            ..GraphSettings::default()
        };
        let s = ArmSettings::for_emulator(&g, &env(&[])).unwrap();
        assert_eq!(s.root(), "https://127.0.0.1:8443");
        let s =
            ArmSettings::for_emulator(&g, &env(&[("PIM_ARM_URL", "https://arm.example")])).unwrap();
        assert_eq!(s.root(), "https://arm.example");
    }

    #[test]
    fn api_versions_live_in_one_table() {
        assert_eq!(Collection::EligibilityRequests.api_version(), "2020-10-01");
        assert_eq!(Collection::Policies.api_version(), "2020-10-01");
        assert_eq!(Collection::RoleDefinitions.api_version(), "2022-04-01");
    }
}
