//! The stages run in order against a tenant: names resolved, the tenant and
//! the state read, the plan made (with its baseline findings), a saved plan
//! made again and checked, and state saved as apply goes. What the
//! commands, the end-to-end tests and the benchmarks all run.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::check::Finding;
use crate::config::{Desired, Diagnostics, KnownHolders};
use crate::drift::{Accepted, DriftReport, Known};
use crate::graph::resolve::{self, Resolution};
use crate::graph::{Graph, GraphError};
use crate::model::{Caseless, ObjectId, RoleRef, Scope, SurfaceKind};
use crate::plan::{self, Basis, Plan, PlanOptions, Resolved, Upkeep};
use crate::snapshot::{self, Current, PolicyKey, ReadOptions};
use crate::state::{Backend, Lock, StateError, StateFile};

mod saved;

pub use saved::{SavedPlanError, replan_saved};

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Names that do not resolve or a configuration the planner refuses,
    /// quoted from the sources, for the user to fix at their lines.
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Everything a plan was made from, for the commands that go on with it.
pub struct Planned {
    pub plan: Plan,
    pub current: Current,
    pub resolved: Resolved,
    /// The state the plan was made against; apply starts from it.
    pub state: Option<StateFile>,
}

/// The planner's view of resolved names.
fn to_resolved(r: &Resolution) -> Resolved {
    let mut out = Resolved::default();
    for (p, id) in &r.principals {
        out.principals.insert(p.normalized(), id.clone());
    }
    for (role, id) in &r.roles {
        if let RoleRef::Name(n) = role
            && role.builtin().is_none()
        {
            out.custom_roles.insert(Caseless::new(n), id.clone());
        }
    }
    for (s, id) in &r.scopes {
        if *s != Scope::Directory {
            out.scopes.insert(s.clone(), id.clone());
        }
    }
    out
}

/// Names resolved and the tenant read; names that do not resolve are
/// diagnostics, quoted from the sources.
pub async fn read(
    graph: &dyn Graph,
    desired: &Desired,
    now: DateTime<Utc>,
) -> Result<(Resolved, Current), PipelineError> {
    let (resolved, current, mut diags) = read_all(graph, desired, now).await?;
    if diags.has_errors() {
        diags.quote_from(&desired.sources);
        return Err(PipelineError::Invalid(diags));
    }
    Ok((resolved, current))
}

/// [`read`], going on past names that do not resolve (reported in the
/// diagnostics), so that a plan reports every problem at once.
async fn read_all(
    graph: &dyn Graph,
    desired: &Desired,
    now: DateTime<Utc>,
) -> Result<(Resolved, Current, Diagnostics), GraphError> {
    let names = resolve::Names::of(desired);
    // Names resolve while the tenant is read. The policies wanted are those
    // of the directory roles the configuration touches; a custom role named
    // has no id until resolved, so with one every role's policy is read
    // (one bulk read either way).
    let policy_roles: Option<Vec<ObjectId>> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| (d.item.surface, &d.item.role))
        .chain(
            desired
                .policies
                .iter()
                .map(|p| (p.item.surface, &p.item.role)),
        )
        .chain(desired.roles.iter().map(|r| (r.item.surface, &r.item.role)))
        .filter(|(s, _)| *s == SurfaceKind::DirectoryRole)
        .map(|(_, r)| match (r.builtin(), r) {
            (Some(b), _) => Some(ObjectId::new(b.id.as_str())),
            (None, RoleRef::Id(id)) => Some(ObjectId::new(id.as_str())),
            (None, RoleRef::Name(_)) => None,
        })
        .collect();
    let options = match policy_roles {
        Some(ids) => ReadOptions::roles(ids, now),
        None => ReadOptions::roles([], now).with_all_directory_policies(),
    };
    let named_subscriptions = names.scopes.keys().any(|s| match s {
        Scope::Azure(id) => crate::surface::subscription_named(id).is_some(),
        _ => false,
    });
    let (resolution, diags, current) =
        if names.group_scopes.is_empty() && names.azure_roles.is_empty() && !named_subscriptions {
            let (azure_scopes, azure_targets) = azure_interest(desired, None);
            let options = options
                .with_scopes(SurfaceKind::AzureRole, azure_scopes)
                .with_targets(azure_targets);
            // Holders are named as their grants arrive, but for those the
            // resolution finds.
            let (resolved, current) =
                snapshot::read_beside(graph, &options, resolve::resolve_all(graph, &names), |r| {
                    r.as_ref().map_or(&[][..], |(res, _)| res.found.as_slice())
                })
                .await;
            let (resolution, diags) = resolved?;
            (resolution, diags, current?)
        } else {
            // Groups are read by id, and Azure roles by GUID, and named in the
            // configuration: their names resolve first.
            let (resolution, diags) = resolve::resolve_all(graph, &names).await?;
            let (azure_scopes, azure_targets) = azure_interest(desired, Some(&resolution));
            let options = options
                .with_scopes(SurfaceKind::AzureRole, azure_scopes)
                .with_targets(azure_targets);
            let groups: Vec<ObjectId> = names
                .group_scopes
                .keys()
                .filter_map(|s| resolution.scope(s))
                .map(ObjectId::new)
                .collect();
            let options = options.with_scopes(SurfaceKind::Group, groups);
            // The holders resolution found need no second read.
            let current = snapshot::read_grants(graph, &options)
                .await?
                .name(graph, &resolution.found)
                .await?;
            (resolution, diags, current)
        };
    let mut resolved = to_resolved(&resolution);
    resolved.names_reported = diags.has_errors();
    Ok((resolved, current, diags))
}

/// The ARM scopes the configuration governs Azure roles at, and each
/// governed role at each of them, whose policy is read. Azure scopes need
/// no resolution: they are checked and normalised as they are loaded; a
/// custom role's name is its GUID once `resolution` has it.
fn azure_interest(
    desired: &Desired,
    resolution: Option<&Resolution>,
) -> (BTreeSet<ObjectId>, BTreeSet<PolicyKey>) {
    let targets: BTreeSet<PolicyKey> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| (d.item.surface, &d.item.role, &d.item.scope))
        .chain(
            desired
                .policies
                .iter()
                .map(|p| (p.item.surface, &p.item.role, &p.item.scope)),
        )
        .chain(
            desired
                .roles
                .iter()
                .map(|r| (r.item.surface, &r.item.role, &r.item.scope)),
        )
        .filter_map(|(surface, role, scope)| {
            let (SurfaceKind::AzureRole, Scope::Azure(written)) = (surface, scope) else {
                return None;
            };
            let scope = match resolution {
                Some(r) => r.scope(scope)?.to_string(),
                None => written.clone(),
            };
            let role_id = match role {
                RoleRef::Id(id) => ObjectId::new(id.as_str()),
                RoleRef::Name(_) => ObjectId::new(resolution?.role(role)?),
            };
            Some(PolicyKey {
                surface: SurfaceKind::AzureRole,
                role_id,
                scope_id: scope,
            })
        })
        .collect();
    // Every governed scope is read, even one whose role did not resolve.
    let scopes = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| &d.item.scope)
        .chain(desired.policies.iter().map(|p| &p.item.scope))
        .chain(desired.roles.iter().map(|r| &r.item.scope))
        .filter_map(|s| match (s, resolution) {
            (Scope::Azure(_), Some(r)) => r.scope(s).map(ObjectId::new),
            (Scope::Azure(id), None) => Some(ObjectId::new(id.as_str())),
            _ => None,
        })
        .collect();
    (scopes, targets)
}

/// Plans `desired` against the tenant and the state `backend` holds.
pub async fn make_plan(
    graph: &dyn Graph,
    desired: &Desired,
    backend: &dyn Backend,
    opts: &PlanOptions,
) -> Result<Planned, PipelineError> {
    let (resolved, current, mut diags) = read_all(graph, desired, opts.now).await?;
    let state = backend.load().await?;
    let basis = Basis {
        config_hash: desired.config_hash.clone(),
        state_lineage: state.as_ref().map(|s| s.lineage.clone()),
        state_serial: state.as_ref().map(|s| s.serial),
        snapshot_fingerprint: String::new(),
        renew_within: Some(opts.renew_within),
    };
    diags.quote_from(&desired.sources);
    // The fingerprint of a large tenant takes a while, and nothing in the
    // plan depends on it: it is worked out beside the plan.
    let (fingerprint, planned) = std::thread::scope(|s| {
        let fingerprint = std::thread::Builder::new()
            .name("fingerprint".into())
            .spawn_scoped(s, || current.fingerprint());
        let planned = plan::plan(desired, &current, &resolved, state.as_ref(), basis, opts);
        let fingerprint = match fingerprint {
            Ok(handle) => handle.join().ok(),
            Err(_) => None,
        };
        (
            fingerprint.unwrap_or_else(|| current.fingerprint()),
            planned,
        )
    });
    let planned = planned.map(|mut p| {
        p.basis.snapshot_fingerprint = fingerprint;
        p
    });
    match planned {
        Ok(_) if diags.has_errors() => Err(PipelineError::Invalid(diags)),
        Ok(plan) => Ok(Planned {
            plan,
            current,
            resolved,
            state,
        }),
        Err(plan::PlanError::Invalid(mut d)) => {
            d.quote_from(&desired.sources);
            diags.0.extend(d.0);
            diags.sort();
            Err(PipelineError::Invalid(diags))
        }
    }
}

impl Planned {
    /// The baseline findings of the configuration and the tenant, with the
    /// policies as the plan leaves them and the holders it leaves in place.
    pub fn baseline(&self, desired: &Desired, opts: &PlanOptions) -> Vec<Finding> {
        baseline(desired, &self.current, &self.resolved, &self.plan, opts)
    }

    /// [`Planned::baseline`], added to the plan's warnings as `pim plan`
    /// shows and saves them.
    pub fn add_baseline(&mut self, desired: &Desired, opts: &PlanOptions) -> Vec<Finding> {
        add_baseline(desired, &self.current, &self.resolved, &mut self.plan, opts)
    }

    /// What changed in the tenant outside pim, and whether it is news.
    pub fn drift(&self, desired: &Desired) -> DriftReport {
        crate::drift::report(
            &self.plan,
            &self.current,
            self.state.as_ref(),
            &self.known(desired),
        )
    }

    /// What the configuration says of holders it does not declare.
    fn known(&self, desired: &Desired) -> Known {
        let mut known = Known::default();
        for r in &desired.roles {
            let Some(role_id) = self.resolved.role(&r.item.role) else {
                continue;
            };
            if r.item.exclusive {
                known.exclusive_roles.insert(role_id.clone());
            }
            let at = r.origin.attribute("known_holders").to_string();
            let accepted = match &r.item.known_holders {
                KnownHolders::None => continue,
                KnownHolders::Any => Accepted {
                    any: true,
                    principals: Default::default(),
                    at,
                },
                KnownHolders::Listed(list) => Accepted {
                    any: false,
                    principals: list
                        .iter()
                        .filter_map(|p| self.resolved.principal(p))
                        .collect(),
                    at,
                },
            };
            known.accepted.insert(role_id, accepted);
        }
        known
    }

    /// What `state` needs written down that no Graph request changes.
    /// The holders the tenant has are recorded as seen, so that drift
    /// reports only what changes after this apply.
    pub fn upkeep(&self, desired: &Desired, state: &StateFile, opts: &PlanOptions) -> Upkeep {
        let mut upkeep = plan::upkeep(desired, &self.current, &self.resolved, state, opts);
        let drift =
            crate::drift::report(&self.plan, &self.current, Some(state), &self.known(desired));
        let seen = crate::drift::seen_at_apply(&drift, state, opts.now);
        if seen != state.acknowledged {
            upkeep.acknowledged = Some(seen);
        }
        upkeep
    }
}

fn add_baseline(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    plan: &mut Plan,
    opts: &PlanOptions,
) -> Vec<Finding> {
    let findings = baseline(desired, current, resolved, plan, opts);
    plan.warnings
        .extend(findings.iter().map(ToString::to_string));
    findings
}

fn baseline(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    plan: &Plan,
    opts: &PlanOptions,
) -> Vec<Finding> {
    let effective = plan::effective_policies(desired, current, resolved, opts);
    let names = |id: &str| {
        current
            .roles
            .get(id)
            .map_or_else(|| id.to_string(), |r| r.display_name.clone())
    };
    crate::check::baseline(desired, resolved, &effective, &plan.unmanaged, &names)
}

/// Writes down what upkeep found, under the held lock, as the state's next
/// version.
pub async fn record_upkeep(
    backend: &dyn Backend,
    lock: &Lock,
    state: &mut StateFile,
    upkeep: &Upkeep,
) -> Result<(), StateError> {
    upkeep.apply_to(state);
    state.serial += 1;
    backend.save(lock, state).await
}

/// Saves state through the backend after every step of an apply, under the
/// held lock.
pub struct BackendSink {
    pub backend: Arc<dyn Backend>,
    pub lock: Arc<Lock>,
}

impl crate::apply::StateSink for BackendSink {
    fn save(&self, state: &StateFile) -> Result<(), String> {
        // Apply saves from its blocking pool, where waiting is allowed.
        tokio::runtime::Handle::try_current()
            .map_err(|e| e.to_string())?
            .block_on(self.backend.save(&self.lock, state))
            .map_err(|e| e.to_string())
    }
}
