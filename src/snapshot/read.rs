//! Reading the tenant into a `Current` with the fewest Graph calls: each
//! surface reads its grants, policies and roles (see `surface`), principal
//! names come in `getByIds` calls of up to 1000 ids for every surface at
//! once, and independent reads run in parallel. [`read_beside`] names the
//! holders while their grants are still being read.

#![allow(clippy::result_large_err)] // see `graph`: GraphError is deliberately rich

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::{AdministrativeUnit, Current, Grant, Policy, PolicyKey, Principal, RoleDefinition};
use crate::graph::{Graph, GraphError, SeenGrants, page_size};
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
    /// The roles at scopes whose policies a surface reads one by one
    /// (Azure roles: a role's policy at each scope the configuration
    /// governs it).
    pub targets: BTreeMap<SurfaceKind, BTreeSet<PolicyKey>>,
}

impl ReadOptions {
    /// Every role's policy.
    pub fn all(now: DateTime<Utc>) -> Self {
        ReadOptions {
            policy_roles: None,
            now,
            known: Vec::new(),
            scopes: BTreeMap::new(),
            targets: BTreeMap::new(),
        }
    }

    /// The policies of these directory roles, and no group.
    pub fn roles(ids: impl IntoIterator<Item = ObjectId>, now: DateTime<Utc>) -> Self {
        ReadOptions {
            policy_roles: Some(ids.into_iter().collect()),
            now,
            known: Vec::new(),
            scopes: BTreeMap::from([
                (SurfaceKind::Group, BTreeSet::new()),
                (SurfaceKind::AzureRole, BTreeSet::new()),
            ]),
            targets: BTreeMap::new(),
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

    /// Read the policies of these roles at these scopes (of their surface).
    pub fn with_targets(mut self, keys: impl IntoIterator<Item = PolicyKey>) -> Self {
        for k in keys {
            self.targets.entry(k.surface).or_default().insert(k);
        }
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
    read_grants_seen(graph, options, &|_| {}).await
}

/// [`read_grants`], the grants shown to `seen` as they arrive.
async fn read_grants_seen(
    graph: &dyn Graph,
    options: &ReadOptions,
    seen: SeenGrants<'_>,
) -> Result<Holdings, GraphError> {
    let clients = Clients {
        graph,
        arm: graph.arm(),
        seen,
    };
    let policy_roles: Option<Vec<ObjectId>> = options
        .policy_roles
        .as_ref()
        .map(|s| s.iter().cloned().collect());
    let scopes: BTreeMap<SurfaceKind, Vec<ObjectId>> = options
        .scopes
        .iter()
        .map(|(k, v)| (*k, v.iter().cloned().collect()))
        .collect();
    let targets: BTreeMap<SurfaceKind, Vec<PolicyKey>> = options
        .targets
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
                targets: targets.get(&s.kind()).map_or(&[][..], Vec::as_slice),
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

/// `getByIds` calls the naming keeps in flight during the read: the rest
/// of the client's parallelism (4 by default) stays free for the schedule
/// pages, whose chain of `nextLink`s is what makes a large read long.
const NAMING_IN_FLIGHT: usize = 2;

/// The tenant read beside `beside` (name resolution), whose outcome says
/// which principals are found already (`known`): the holders of grants
/// are named while the read goes on, 1,000 to a `getByIds` as soon as
/// that many are waiting and `beside` is done, and the rest at the end, so
/// a large tenant costs no more calls than naming them all at the end
/// would, and no time after its last page but one call.
pub async fn read_beside<T>(
    graph: &dyn Graph,
    options: &ReadOptions,
    beside: impl Future<Output = T>,
    known: impl for<'x> Fn(&'x T) -> &'x [Principal],
) -> (T, Result<Current, GraphError>) {
    let (tx, rx) = mpsc::unbounded_channel::<Vec<ObjectId>>();
    let now = options.now;
    let read = async move {
        let seen = move |grants: &[Grant]| {
            // Ended grants are not read as held (see `read_grants`): their
            // holders need no name.
            let ids: Vec<ObjectId> =
                holder_ids(grants.iter().filter(|g| !g.has_ended(now))).collect();
            if !ids.is_empty() {
                // The naming has stopped only when it failed, and then so
                // has the read.
                let _ = tx.send(ids);
            }
        };
        // `seen`, and with it the sender, ends with the read: the naming
        // then knows no more ids are coming.
        read_grants_seen(graph, options, &seen).await
    };
    let naming = async {
        let outcome = beside.await;
        let known_ids: HashSet<ObjectId> = known(&outcome).iter().map(|p| p.id.clone()).collect();
        let by_ids = |ids: Vec<ObjectId>| async move { graph.principals_by_ids(&ids).await };
        let named = name_as_read(by_ids, rx, &known_ids).await;
        (outcome, known_ids, named)
    };
    let (holdings, (outcome, known_ids, named)) = futures::join!(read, naming);
    let current = async {
        let holdings = holdings?;
        let mut named = named?;
        // Ids still waiting, and any the surfaces did not show as they read.
        let rest: Vec<ObjectId> = named
            .pending
            .drain(..)
            .chain(
                holder_ids(holdings.grants.iter())
                    .filter(|id| !known_ids.contains(id) && !named.asked.contains(id))
                    .collect::<BTreeSet<_>>(),
            )
            .collect();
        if !rest.is_empty() {
            named
                .principals
                .extend(graph.principals_by_ids(&rest).await?);
        }
        drop(named.asked);
        holdings
            .into_current(graph, known(&outcome), named.principals)
            .await
    }
    .await;
    (outcome, current)
}

/// Who holds `grants`, and the scopes that are directory objects (groups).
fn holder_ids<'g>(grants: impl Iterator<Item = &'g Grant>) -> impl Iterator<Item = ObjectId> {
    grants.flat_map(|g| {
        std::iter::once(g.principal_id.clone())
            .chain(surface::get(g.surface).scope_object(&g.scope_id))
    })
}

/// What [`name_as_read`] named, asked for and left waiting.
struct Named {
    principals: Vec<Principal>,
    /// Every id asked for or waiting.
    asked: HashSet<ObjectId>,
    /// Fewer than a call's worth, not asked for yet.
    pending: Vec<ObjectId>,
}

/// Names (by `name`, a `getByIds`) the ids `ids` brings, but for `known`
/// ones and those seen before, in full calls as they gather, until the
/// sender is gone.
async fn name_as_read<F, Fut>(
    name: F,
    mut ids: mpsc::UnboundedReceiver<Vec<ObjectId>>,
    known: &HashSet<ObjectId>,
) -> Result<Named, GraphError>
where
    F: Fn(Vec<ObjectId>) -> Fut,
    Fut: Future<Output = Result<Vec<Principal>, GraphError>>,
{
    let mut named = Named {
        principals: Vec::new(),
        asked: HashSet::new(),
        pending: Vec::new(),
    };
    let mut calls = FuturesUnordered::new();
    let mut open = true;
    loop {
        while named.pending.len() >= page_size::GET_BY_IDS && calls.len() < NAMING_IN_FLIGHT {
            let chunk: Vec<ObjectId> = named.pending.drain(..page_size::GET_BY_IDS).collect();
            calls.push(name(chunk));
        }
        if !open && calls.is_empty() {
            return Ok(named);
        }
        tokio::select! {
            got = ids.recv(), if open => match got {
                Some(got) => {
                    for id in got {
                        if !known.contains(&id) && !named.asked.contains(&id) {
                            named.asked.insert(id.clone());
                            named.pending.push(id);
                        }
                    }
                }
                None => open = false,
            },
            Some(answer) = calls.next(), if !calls.is_empty() => named.principals.extend(answer?),
        }
    }
}

impl Holdings {
    /// The tenant, its holders named: `known` principals as given, the
    /// others read 1,000 to a `getByIds`, and the scopes grants name.
    pub async fn name(self, graph: &dyn Graph, known: &[Principal]) -> Result<Current, GraphError> {
        let known_ids: BTreeSet<&ObjectId> = known.iter().map(|p| &p.id).collect();
        let principal_ids: Vec<ObjectId> = holder_ids(self.grants.iter())
            .filter(|id| !known_ids.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let principals = if principal_ids.is_empty() {
            Vec::new()
        } else {
            graph.principals_by_ids(&principal_ids).await?
        };
        self.into_current(graph, known, principals).await
    }

    /// The tenant, its holders named by `known` and `principals`, and the
    /// scopes grants name read.
    async fn into_current(
        self,
        graph: &dyn Graph,
        known: &[Principal],
        principals: Vec<Principal>,
    ) -> Result<Current, GraphError> {
        let clients = Clients {
            graph,
            arm: graph.arm(),
            seen: &|_| {},
        };
        let Holdings {
            caller,
            grants,
            policies,
            roles,
        } = self;
        let scopes =
            futures::future::try_join_all(surface::all().map(|s| s.scope_names(clients, &grants)))
                .await?;
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
            administrative_units: scopes
                .into_iter()
                .flatten()
                .map(|a: AdministrativeUnit| (a.id.clone(), a))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::model::PrincipalKind;

    fn ids(range: std::ops::Range<usize>) -> Vec<ObjectId> {
        range.map(|i| ObjectId::new(format!("p{i:05}"))).collect()
    }

    fn user(id: &ObjectId) -> Principal {
        Principal {
            id: id.clone(),
            kind: PrincipalKind::User,
            display_name: id.to_string(),
            user_principal_name: None,
            app_id: None,
            is_assignable_to_role: None,
        }
    }

    #[tokio::test]
    async fn holders_are_named_in_full_calls_while_ids_still_come() {
        let calls: Arc<Mutex<Vec<Vec<ObjectId>>>> = Arc::default();
        let called = Arc::new(tokio::sync::Notify::new());
        let name = {
            let (calls, called) = (calls.clone(), called.clone());
            move |chunk: Vec<ObjectId>| {
                let (calls, called) = (calls.clone(), called.clone());
                async move {
                    let found = chunk.iter().map(user).collect();
                    calls.lock().unwrap().push(chunk);
                    called.notify_one();
                    Ok(found)
                }
            }
        };
        let known: HashSet<ObjectId> = ids(0..10).into_iter().collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let naming = tokio::spawn(async move { name_as_read(name, rx, &known).await });
        // 1,200 ids, ten of them known and some twice: one full call, made
        // before any more ids come.
        tx.send(ids(0..700)).unwrap();
        tx.send(ids(600..1210)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), called.notified())
            .await
            .expect("a full call while the read goes on");
        assert_eq!(calls.lock().unwrap().len(), 1);
        tx.send(ids(1210..2500)).unwrap();
        drop(tx);
        let named = naming.await.unwrap().unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "full calls only");
        assert!(calls.iter().all(|c| c.len() == page_size::GET_BY_IDS));
        assert_eq!(calls[0], ids(10..1010));
        // What is left waits for the last call, made with the read's end.
        assert_eq!(named.pending, ids(2010..2500));
        assert_eq!(named.principals.len(), 2000);
        assert_eq!(named.asked.len(), 2490);
        assert!(
            !named.asked.contains(&ids(0..1)[0]),
            "known ids are not asked"
        );
    }

    #[tokio::test]
    async fn a_failed_call_fails_the_naming() {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(ids(0..1000)).unwrap();
        let name =
            |_: Vec<ObjectId>| async { Err::<Vec<Principal>, _>(GraphError::config("refused")) };
        let e = name_as_read(name, rx, &HashSet::new()).await.err();
        assert!(e.is_some_and(|e| e.to_string().contains("refused")));
        drop(tx);
    }
}
