//! Reading the tenant into a `Current` with the fewest Graph calls: each
//! surface reads its grants, policies and roles (see `surface`), principal
//! names come in `getByIds` calls of up to 1000 ids for every surface at
//! once, and independent reads run in parallel.

#![allow(clippy::result_large_err)] // see `graph`: GraphError is deliberately rich

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{AdministrativeUnit, Current, Grant, Policy, Principal, RoleDefinition};
use crate::graph::{Graph, GraphError};
use crate::model::{ObjectId, SurfaceKind};
use crate::surface::{self, Clients, Interest};

/// Which policies to read besides those of roles holding grants, and the
/// time the read is judged at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Role definition ids whose policy is needed (roles the configuration
    /// touches or declares exclusive). `None`: every role's policy.
    pub policy_roles: Option<BTreeSet<ObjectId>>,
    /// Grants that ended by then are not read as held.
    pub now: DateTime<Utc>,
    /// Principals already found (by name resolution): not asked for again.
    pub known: Vec<Principal>,
    /// The scopes each surface reads, for the surfaces whose grants are
    /// listed per scope (groups: their object ids). A surface not named
    /// reads every scope it can govern.
    pub scopes: BTreeMap<SurfaceKind, BTreeSet<ObjectId>>,
}

impl ReadOptions {
    /// Every role's policy.
    pub fn all(now: DateTime<Utc>) -> Self {
        ReadOptions {
            policy_roles: None,
            now,
            known: Vec::new(),
            scopes: BTreeMap::new(),
        }
    }

    /// The policies of these directory roles, and no group.
    pub fn roles(ids: impl IntoIterator<Item = ObjectId>, now: DateTime<Utc>) -> Self {
        ReadOptions {
            policy_roles: Some(ids.into_iter().collect()),
            now,
            known: Vec::new(),
            scopes: BTreeMap::from([(SurfaceKind::Group, BTreeSet::new())]),
        }
    }

    /// Every directory role's policy, not only those named.
    pub fn with_all_directory_policies(mut self) -> Self {
        self.policy_roles = None;
        self
    }

    /// Read these scopes of `surface` (and only these).
    pub fn with_scopes(
        mut self,
        surface: SurfaceKind,
        ids: impl IntoIterator<Item = ObjectId>,
    ) -> Self {
        self.scopes.insert(surface, ids.into_iter().collect());
        self
    }
}

/// The tenant as it is now: every surface's grants, policies and names.
pub async fn read(graph: &dyn Graph, options: &ReadOptions) -> Result<Current, GraphError> {
    read_grants(graph, options)
        .await?
        .name(graph, &options.known)
        .await
}

/// What the tenant holds, before the holders are named.
pub struct Holdings {
    caller: ObjectId,
    grants: Vec<Grant>,
    policies: Vec<Policy>,
    roles: Vec<RoleDefinition>,
}

/// Every surface's grants, policies and role names, all read at once; the
/// principals are named by [`Holdings::name`], which can wait for names
/// found meanwhile (by name resolution, run beside this read).
pub async fn read_grants(graph: &dyn Graph, options: &ReadOptions) -> Result<Holdings, GraphError> {
    let clients = Clients { graph };
    let policy_roles: Option<Vec<ObjectId>> = options
        .policy_roles
        .as_ref()
        .map(|s| s.iter().cloned().collect());
    let scopes: BTreeMap<SurfaceKind, Vec<ObjectId>> = options
        .scopes
        .iter()
        .map(|(k, v)| (*k, v.iter().cloned().collect()))
        .collect();
    // Not knowing who pim runs as fails the read: a plan that cannot tell
    // would be free to remove the caller's own grants.
    let (reads, caller) = futures::try_join!(
        futures::future::try_join_all(surface::all().map(|s| s.read(
            clients,
            Interest {
                policy_roles: policy_roles.as_deref(),
                scopes: scopes.get(&s.kind()).map(Vec::as_slice),
            }
        ))),
        graph.caller_id(),
    )?;
    let mut out = Holdings {
        caller,
        grants: Vec::new(),
        policies: Vec::new(),
        roles: Vec::new(),
    };
    for r in reads {
        // Entra lists an ended schedule for up to 30 days (renewable, no
        // longer in effect): nobody holds it, so nothing plans, reports or
        // checks it as held.
        out.grants
            .extend(r.grants.into_iter().filter(|g| !g.has_ended(options.now)));
        out.policies.extend(r.policies);
        out.roles.extend(r.roles);
    }
    Ok(out)
}

impl Holdings {
    /// The tenant, its holders named: `known` principals as given, the
    /// others read 1,000 to a `getByIds`, and the scopes grants name.
    pub async fn name(self, graph: &dyn Graph, known: &[Principal]) -> Result<Current, GraphError> {
        let clients = Clients { graph };
        let Holdings {
            caller,
            grants,
            policies,
            roles,
        } = self;
        let known_ids: BTreeSet<&ObjectId> = known.iter().map(|p| &p.id).collect();
        // Holders, and the scopes that are directory objects (groups).
        let scope_objects: Vec<ObjectId> = grants
            .iter()
            .filter_map(|g| surface::get(g.surface).scope_object(&g.scope_id))
            .collect();
        let principal_ids: Vec<ObjectId> = grants
            .iter()
            .map(|g| &g.principal_id)
            .chain(&scope_objects)
            .filter(|id| !known_ids.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let (principals, scopes) = futures::try_join!(
            async {
                if principal_ids.is_empty() {
                    Ok(Vec::new())
                } else {
                    graph.principals_by_ids(&principal_ids).await
                }
            },
            futures::future::try_join_all(surface::all().map(|s| s.scope_names(clients, &grants))),
        )?;
        let aus = scopes.into_iter().flatten();

        let mut role_map: BTreeMap<ObjectId, RoleDefinition> = BTreeMap::new();
        for r in roles {
            role_map.insert(r.id.clone(), r);
        }
        Ok(Current {
            tenant_id: graph.tenant_id().unwrap_or_default(),
            caller_id: Some(caller),
            grants,
            policies: policies.into_iter().map(|p| (p.key(), p)).collect(),
            roles: role_map,
            principals: known
                .iter()
                .cloned()
                .chain(principals)
                .map(|p| (p.id.clone(), p))
                .collect(),
            administrative_units: aus
                .into_iter()
                .map(|a: AdministrativeUnit| (a.id.clone(), a))
                .collect(),
        })
    }
}
