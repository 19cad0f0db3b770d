//! Names in the configuration to ids in the tenant: roles (built-ins
//! offline, custom roles from `roleDefinitions`), principals (UPN, group and
//! service-principal display names, app ids, raw object ids) and
//! administrative units. Every distinct name is looked up once, all lookups
//! of a run packed into `$batch`es. Unknown and ambiguous names become
//! diagnostics at the config line that wrote them, with candidates.

use std::collections::BTreeMap;

use super::{DirectoryEntry, EntryKind, Graph, GraphError, Lookup};
use crate::config::{Desired, Diagnostic, Diagnostics, Location};
use crate::model::{
    Caseless, ObjectId, PrincipalKind, PrincipalRef, RoleRef, Scope, SurfaceKind, closest_names,
};
use crate::snapshot::Principal;

/// What every name of the configuration stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Role reference → role definition id.
    pub roles: BTreeMap<RoleRef, ObjectId>,
    /// Normalized principal reference → object id.
    pub principals: BTreeMap<PrincipalRef, ObjectId>,
    /// Scope → `directoryScopeId` (`/` or `/administrativeUnits/{id}`).
    pub scopes: BTreeMap<Scope, String>,
    /// The principals found, as Graph names them: the tenant read need not
    /// ask for them again.
    pub found: Vec<Principal>,
}

impl Resolution {
    pub fn principal(&self, r: &PrincipalRef) -> Option<&str> {
        self.principals.get(&r.normalized()).map(ObjectId::as_str)
    }

    pub fn role(&self, r: &RoleRef) -> Option<&str> {
        self.roles.get(r).map(ObjectId::as_str)
    }

    pub fn scope(&self, s: &Scope) -> Option<&str> {
        self.scopes.get(s).map(String::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Names that do not resolve, one diagnostic each.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Every name a configuration uses, with where it was first written.
#[derive(Debug, Default)]
pub struct Names {
    pub roles: BTreeMap<RoleRef, Location>,
    pub principals: BTreeMap<PrincipalRef, Location>,
    pub scopes: BTreeMap<Scope, Location>,
    /// Principals that would hold a directory role (not only approve or be
    /// protected), where first declared: a group must be role-assignable.
    pub holders: BTreeMap<PrincipalRef, Location>,
    /// Groups that PIM for Groups grants access to, as the principals they
    /// are looked up as.
    pub group_scopes: BTreeMap<Scope, PrincipalRef>,
    /// Azure roles named by a name that is not a built-in one, with the ARM
    /// scope they are granted at: looked up there (`roleName eq`), where a
    /// custom role must be assignable.
    pub azure_roles: BTreeMap<(RoleRef, String), Location>,
}

impl Names {
    pub fn of(desired: &Desired) -> Names {
        let mut n = Names::default();
        for d in desired.eligibilities.iter().chain(&desired.assignments) {
            let a = &d.item;
            n.add_principal(&a.principal, d.origin.attribute("principal"));
            let surface = crate::surface::get(a.surface);
            n.add_scope(&a.scope, d.origin.attribute(surface.scope_attribute()));
            n.add_azure_role(a.surface, &a.role, &a.scope, || {
                d.origin.attribute(surface.role_attribute())
            });
            // A group's access (member, owner) needs no lookup.
            if a.surface == SurfaceKind::DirectoryRole {
                n.holders
                    .entry(a.principal.normalized())
                    .or_insert_with(|| d.origin.attribute("principal").clone());
                n.roles
                    .entry(a.role.clone())
                    .or_insert_with(|| d.origin.attribute(surface.role_attribute()).clone());
            }
        }
        for p in &desired.policies {
            n.add_azure_role(p.item.surface, &p.item.role, &p.item.scope, || {
                &p.origin.block
            });
            if p.item.surface == SurfaceKind::DirectoryRole {
                n.roles
                    .entry(p.item.role.clone())
                    .or_insert_with(|| p.origin.block.clone());
            }
            n.add_scope(&p.item.scope, &p.origin.block);
            if let Some(approval) = &p.item.rules.activation.approval {
                let at = p.origin.attribute("activation.approval.approvers");
                for a in &approval.approvers {
                    n.add_principal(a, at);
                }
            }
        }
        if let Some(at) = &desired.tenant.protected_at {
            for p in &desired.tenant.protected {
                n.add_principal(p, at);
            }
        }
        for r in &desired.roles {
            n.add_azure_role(r.item.surface, &r.item.role, &r.item.scope, || {
                &r.origin.block
            });
            if r.item.surface == SurfaceKind::DirectoryRole {
                n.roles
                    .entry(r.item.role.clone())
                    .or_insert_with(|| r.origin.block.clone());
            }
            n.add_scope(&r.item.scope, &r.origin.block);
            for p in &r.item.protected {
                n.add_principal(p, r.origin.attribute("protected"));
            }
            for p in r.item.known_holders.principals() {
                n.add_principal(p, r.origin.attribute("known_holders"));
            }
        }
        n
    }

    fn add_azure_role<'a>(
        &mut self,
        surface: SurfaceKind,
        role: &RoleRef,
        scope: &Scope,
        at: impl FnOnce() -> &'a Location,
    ) {
        if let (SurfaceKind::AzureRole, RoleRef::Name(_), Scope::Azure(s)) = (surface, role, scope)
        {
            self.azure_roles
                .entry((role.clone(), s.clone()))
                .or_insert_with(|| at().clone());
        }
    }

    /// A group scope is looked up as the group principal it names.
    fn add_scope(&mut self, s: &Scope, at: &Location) {
        if let Scope::Group(g) = s {
            let p = if is_guid(g) {
                PrincipalRef::ObjectId(ObjectId::new(g.as_str()).into_string())
            } else {
                PrincipalRef::Group(g.clone())
            };
            self.add_principal(&p, at);
            self.group_scopes.insert(s.clone(), p.normalized());
        } else {
            self.scopes.entry(s.clone()).or_insert_with(|| at.clone());
        }
    }

    fn add_principal(&mut self, p: &PrincipalRef, at: &Location) {
        self.principals
            .entry(p.normalized())
            .or_insert_with(|| at.clone());
    }
}

/// The ARM client beside `graph`, which names in Azure need.
fn arm_of<'g>(graph: &'g dyn Graph, op: &str) -> Result<&'g dyn crate::arm::Arm, GraphError> {
    graph.arm().ok_or_else(|| {
        GraphError::new(
            super::ErrorKind::Config,
            op,
            "the configuration names Azure roles or scopes, and pim has no client for Azure Resource Manager",
        )
    })
}

/// Azure scopes: checked and normalised offline, but for those that name a
/// subscription by its display name (`subscription:Contoso Production`),
/// found among the subscriptions ARM lists (one call for all of them).
async fn azure_scopes(
    graph: &dyn Graph,
    names: &Names,
    out: &mut Resolution,
    diags: &mut Diagnostics,
) -> Result<(), GraphError> {
    let mut named = Vec::new();
    for (s, at) in &names.scopes {
        let Scope::Azure(id) = s else { continue };
        match crate::surface::subscription_named(id) {
            Some((name, rest)) => named.push((s, name, rest, at)),
            None => {
                out.scopes.insert(s.clone(), id.clone());
            }
        }
    }
    if named.is_empty() {
        return Ok(());
    }
    let arm = arm_of(graph, "resolve subscription names")?;
    let subscriptions = arm.subscriptions().await?;
    for (s, name, rest, at) in named {
        let hits: Vec<_> = subscriptions
            .iter()
            .filter(|x| Caseless::same(x.display_name.trim(), name))
            .collect();
        match hits.as_slice() {
            [one] => {
                out.scopes.insert(
                    s.clone(),
                    format!("/subscriptions/{}{rest}", one.subscription_id).to_ascii_lowercase(),
                );
            }
            [] => {
                let all: Vec<&str> = subscriptions
                    .iter()
                    .map(|x| x.display_name.as_str())
                    .collect();
                let close = closest_names(name, all.iter().copied(), 3, 0.6);
                let hint = if close.is_empty() {
                    "name it by its id, /subscriptions/<id>, or check that pim's identity can see it (it needs a role there)".to_string()
                } else {
                    format!("did you mean {}?", quote_list(&close))
                };
                diags.push(
                    Diagnostic::error(format!("no subscription pim can see is named {name:?}"))
                        .with_hint(hint)
                        .at_location(at),
                );
            }
            many => diags.push(
                Diagnostic::error(format!(
                    "subscription name {name:?} is ambiguous: {} subscriptions have it",
                    many.len()
                ))
                .with_hint(format!(
                    "name it by its id: {}",
                    many.iter()
                        .map(|x| format!("/subscriptions/{}", x.subscription_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .at_location(at),
            ),
        }
    }
    Ok(())
}

/// Azure roles named by a name that is not built in: looked up at the
/// scope each is granted at, all at once, through ARM. A custom role's GUID
/// is the same wherever it is assignable, so a name found at one scope
/// stands for it everywhere.
async fn azure_roles(
    graph: &dyn Graph,
    names: &Names,
    out: &mut Resolution,
    diags: &mut Diagnostics,
) -> Result<(), GraphError> {
    if names.azure_roles.is_empty() {
        return Ok(());
    }
    let arm = arm_of(graph, "resolve Azure role names")?;
    // A scope whose subscription name did not resolve was reported.
    let wanted: Vec<(&RoleRef, &String, &Location)> = names
        .azure_roles
        .iter()
        .filter_map(|((role, scope), at)| {
            let id = out.scopes.get(&Scope::Azure(scope.clone()))?;
            Some((role, id, at))
        })
        .collect();
    let found = futures::future::try_join_all(wanted.iter().map(|(role, scope, _)| {
        let name = crate::surface::azure_role_name(role);
        async move { arm.role_definitions(scope, name).await }
    }))
    .await?;
    for ((role, scope, at), defs) in wanted.into_iter().zip(found) {
        let name = crate::surface::azure_role_name(role);
        match defs.first() {
            Some(d) => {
                out.roles
                    .entry(role.clone())
                    .or_insert_with(|| ObjectId::new(crate::arm::role_guid(&d.id)));
            }
            None => {
                let close = crate::model::closest_azure_roles(name, 3);
                let mut hint = String::new();
                if !close.is_empty() {
                    hint = format!("did you mean {}? ", quote_list(&close));
                }
                hint.push_str(
                    "a custom role must be assignable at the scope (its assignableScopes), or be named by its GUID",
                );
                diags.push(
                    Diagnostic::error(format!(
                        "unknown Azure role {name:?}: no built-in role and no role assignable at {scope} has that name"
                    ))
                    .with_hint(hint)
                    .at_location(at),
                );
            }
        }
    }
    Ok(())
}

fn describe(e: &DirectoryEntry) -> String {
    match (&e.user_principal_name, &e.app_id) {
        (Some(upn), _) => format!("{upn} ({})", e.id),
        (_, Some(app)) => format!("{} (appId {app}, {})", e.display_name, e.id),
        _ => format!("{} ({})", e.display_name, e.id),
    }
}

/// The first letters of a name, for a `startswith` query of candidates.
fn prefix(name: &str) -> String {
    let local = name.split('@').next().unwrap_or(name);
    local.chars().take(2).collect()
}

/// Resolve every name of `desired` against the tenant.
pub async fn resolve(graph: &dyn Graph, desired: &Desired) -> Result<Resolution, ResolveError> {
    resolve_names(graph, &Names::of(desired)).await
}

pub async fn resolve_names(graph: &dyn Graph, names: &Names) -> Result<Resolution, ResolveError> {
    let (out, diags) = resolve_all(graph, names).await?;
    if diags.has_errors() {
        return Err(ResolveError::Invalid(diags));
    }
    Ok(out)
}

/// Resolves what can be resolved and reports the rest, so that a plan can
/// go on and report every problem of a run at once. Fails only when Graph
/// does.
pub async fn resolve_all(
    graph: &dyn Graph,
    names: &Names,
) -> Result<(Resolution, Diagnostics), GraphError> {
    let mut out = Resolution::default();
    let mut diags = Diagnostics::default();

    // Roles: built-ins need no call; custom ones are read once.
    let mut custom: Vec<(&RoleRef, &Location)> = Vec::new();
    for (r, at) in &names.roles {
        match r.builtin() {
            Some(b) => {
                out.roles.insert(r.clone(), ObjectId::new(b.id.as_str()));
            }
            None => custom.push((r, at)),
        }
    }
    if !custom.is_empty() {
        let defs = graph.role_definitions().await?;
        for (r, at) in custom {
            let hits: Vec<_> = defs
                .iter()
                .filter(|d| match r {
                    RoleRef::Id(id) => d.id == *id,
                    RoleRef::Name(n) => Caseless::same(&d.display_name, n.trim()),
                })
                .collect();
            match hits.as_slice() {
                [one] => {
                    out.roles.insert(r.clone(), one.id.clone());
                }
                [] => {
                    let close = closest_names(
                        &r.to_string(),
                        defs.iter().map(|d| d.display_name.as_str()),
                        3,
                        0.7,
                    );
                    let mut d = Diagnostic::error(format!(
                        "unknown role {:?}: no built-in or custom role has that name",
                        r.to_string()
                    ))
                    .at_location(at);
                    if !close.is_empty() {
                        d = d.with_hint(format!("did you mean {}?", quote_list(&close)));
                    }
                    diags.push(d);
                }
                many => diags.push(
                    Diagnostic::error(format!(
                        "role name {:?} is ambiguous: {} roles have it",
                        r.to_string(),
                        many.len()
                    ))
                    .with_hint(format!(
                        "use the role definition id, one of: {}",
                        many.iter()
                            .map(|d| d.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .at_location(at),
                ),
            }
        }
    }

    azure_scopes(graph, names, &mut out, &mut diags).await?;
    azure_roles(graph, names, &mut out, &mut diags).await?;

    // Principals and administrative units: one lookup per distinct name.
    let mut queries: Vec<Lookup> = Vec::new();
    let mut object_ids: Vec<(&PrincipalRef, &Location)> = Vec::new();
    let mut pending: Vec<(Pending<'_>, usize)> = Vec::new();
    for (p, at) in &names.principals {
        let q = match p {
            PrincipalRef::ObjectId(_) => {
                object_ids.push((p, at));
                continue;
            }
            PrincipalRef::User(upn) => Lookup::UserByUpn(upn.clone()),
            PrincipalRef::Group(n) => Lookup::GroupsByName(n.clone()),
            PrincipalRef::ServicePrincipal(n) if is_guid(n) => {
                Lookup::ServicePrincipalByAppId(ObjectId::new(n.as_str()))
            }
            PrincipalRef::ServicePrincipal(n) => Lookup::ServicePrincipalsByName(n.clone()),
        };
        pending.push((Pending::Principal(p, at), queries.len()));
        queries.push(q);
    }
    for (s, at) in &names.scopes {
        match s {
            Scope::Directory => {
                out.scopes.insert(s.clone(), "/".into());
            }
            Scope::AdministrativeUnit(id) if is_guid(id) => {
                out.scopes.insert(
                    s.clone(),
                    format!("/administrativeUnits/{}", ObjectId::new(id.as_str())),
                );
            }
            Scope::AdministrativeUnit(name) => {
                pending.push((Pending::Scope(s, at), queries.len()));
                queries.push(Lookup::AdministrativeUnitsByName(name.clone()));
            }
            // Looked up as principals (`Names::add_scope`).
            Scope::Group(_) => {}
            // Resolved with the Azure roles (`azure_scopes`).
            Scope::Azure(_) => {}
        }
    }
    let answers = if queries.is_empty() {
        Vec::new()
    } else {
        graph.lookup(&queries).await?
    };

    // Names that found nothing get a second, batched round for suggestions.
    let mut misses: Vec<(usize, Lookup)> = Vec::new();
    for (what, qi) in &pending {
        let Some(Ok(found)) = answers.get(*qi) else {
            continue;
        };
        if found.is_empty() {
            let (kind, name) = match what {
                Pending::Principal(PrincipalRef::User(n), _) => (EntryKind::User, n),
                Pending::Principal(PrincipalRef::Group(n), _) => (EntryKind::Group, n),
                Pending::Principal(PrincipalRef::ServicePrincipal(n), _) => {
                    (EntryKind::ServicePrincipal, n)
                }
                // Units are all listed instead (below).
                _ => continue,
            };
            misses.push((*qi, Lookup::StartingWith(kind, prefix(name))));
        }
    }
    let suggestions: BTreeMap<usize, Vec<DirectoryEntry>> = if misses.is_empty() {
        BTreeMap::new()
    } else {
        let qs: Vec<Lookup> = misses.iter().map(|(_, q)| q.clone()).collect();
        let found = graph.lookup(&qs).await?;
        misses
            .iter()
            .map(|(i, _)| *i)
            .zip(found.into_iter().map(|r| r.unwrap_or_default()))
            .collect()
    };

    let mut all_units: Option<Vec<super::AdministrativeUnit>> = None;
    let granted_groups: std::collections::BTreeSet<&PrincipalRef> =
        names.group_scopes.values().collect();
    for (what, qi) in pending {
        let (label, name, at) = match what {
            // A group granted access to is named as the group it is.
            Pending::Principal(p, at) if granted_groups.contains(p) => {
                (format!("group {:?}", p.name()), p.name().to_string(), at)
            }
            Pending::Principal(p, at) => (
                format!("principal {:?}", p.to_string()),
                p.name().to_string(),
                at,
            ),
            Pending::Scope(s, at) => (
                format!("administrative unit {:?}", s.to_string()),
                s.to_string(),
                at,
            ),
        };
        let found = match answers.get(qi) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(GraphError::decode("lookup", "missing answer")),
        };
        match found.as_slice() {
            [one] => {
                let id = one.id.clone();
                match what {
                    Pending::Principal(p, _) => {
                        if one.kind == EntryKind::Group
                            && one.is_assignable_to_role == Some(false)
                            && let Some(at) = names.holders.get(p)
                        {
                            diags.push(not_role_assignable(&label, at));
                        }
                        out.principals.insert(p.clone(), id);
                        out.found.extend(principal_of(one));
                    }
                    Pending::Scope(s, _) => {
                        out.scopes
                            .insert(s.clone(), format!("/administrativeUnits/{id}"));
                    }
                }
            }
            [] if matches!(what, Pending::Scope(..)) => {
                // Tenants have few units: naming them all helps more than a guess.
                let units = match &all_units {
                    Some(u) => u,
                    None => all_units.insert(graph.administrative_units().await?),
                };
                let mut names: Vec<&str> = units.iter().map(|u| u.display_name.as_str()).collect();
                names.sort_unstable();
                let wanted = match what {
                    Pending::Scope(Scope::AdministrativeUnit(n), _) => n.as_str(),
                    _ => name.as_str(),
                };
                let close = closest_names(wanted, names.iter().copied(), 3, 0.6);
                let hint = match (close.as_slice(), names.len()) {
                    (_, 0) => "the tenant has no administrative units".to_string(),
                    ([], n) if n <= 10 => {
                        format!("the tenant's administrative units: {}", quote_list(&names))
                    }
                    ([], n) => format!(
                        "the tenant has {n} administrative units, among them {}",
                        quote_list(&names[..10])
                    ),
                    (close, _) => format!("did you mean {}?", quote_list(close)),
                };
                diags.push(
                    Diagnostic::error(format!("{label} does not exist in the tenant"))
                        .with_hint(hint)
                        .at_location(at),
                );
            }
            [] => {
                let cands = suggestions.get(&qi).cloned().unwrap_or_default();
                let labels: Vec<String> = cands
                    .iter()
                    .map(|c| {
                        c.user_principal_name
                            .clone()
                            .unwrap_or_else(|| c.display_name.clone())
                    })
                    .collect();
                let close = closest_names(&name, labels.iter().map(String::as_str), 3, 0.6);
                // Every unknown name gets a hint: candidates when some are close,
                // else how names are written.
                let hint = if close.is_empty() {
                    "check the spelling: users by user:UPN, groups by group:Display Name, \
                     service principals by sp:Display Name or appId, or an object id"
                        .to_string()
                } else {
                    format!("did you mean {}?", quote_list(&close))
                };
                diags.push(
                    Diagnostic::error(format!("{label} does not exist in the tenant"))
                        .with_hint(hint)
                        .at_location(at),
                );
            }
            many => diags.push(
                Diagnostic::error(format!(
                    "{label} is ambiguous: {} objects have that name",
                    many.len()
                ))
                .with_hint(format!(
                    "use the object id instead, one of: {}",
                    many.iter().map(describe).collect::<Vec<_>>().join("; ")
                ))
                .at_location(at),
            ),
        }
    }

    // Raw object ids: verified to exist, all in as few getByIds calls as possible.
    if !object_ids.is_empty() {
        let ids: Vec<ObjectId> = object_ids
            .iter()
            .map(|(p, _)| ObjectId::new(p.name()))
            .collect();
        let principals = graph.principals_by_ids(&ids).await?;
        let found: BTreeMap<ObjectId, Option<bool>> = principals
            .iter()
            .map(|p| (p.id.clone(), p.is_assignable_to_role))
            .collect();
        out.found.extend(principals);
        for ((p, at), id) in object_ids.into_iter().zip(ids) {
            if let Some(assignable) = found.get(&id) {
                if *assignable == Some(false)
                    && let Some(at) = names.holders.get(p)
                {
                    diags.push(not_role_assignable(&format!("group {id}"), at));
                }
                out.principals.insert(p.clone(), id);
            } else {
                diags.push(
                    Diagnostic::error(format!(
                        "no user, group or service principal has object id {id}"
                    ))
                    .at_location(at),
                );
            }
        }
    }

    // Groups granted access to: the group principals found.
    let kinds: BTreeMap<&ObjectId, PrincipalKind> =
        out.found.iter().map(|f| (&f.id, f.kind)).collect();
    for (scope, p) in &names.group_scopes {
        let Some(id) = out.principals.get(p) else {
            continue;
        };
        let kind = kinds.get(id).copied();
        if kind.is_some_and(|k| k != PrincipalKind::Group) {
            if let Some(at) = names.principals.get(p) {
                diags.push(
                    Diagnostic::error(format!("{id} is not a group"))
                        .with_hint("PIM for Groups grants membership or ownership of a group: name one by group:Display Name or its object id")
                        .at_location(at),
                );
            }
            continue;
        }
        out.scopes.insert(scope.clone(), id.to_string());
    }

    diags.sort();
    Ok((out, diags))
}

/// A principal as a lookup found it; `None` for an administrative unit.
fn principal_of(e: &DirectoryEntry) -> Option<Principal> {
    let kind = match e.kind {
        EntryKind::User => PrincipalKind::User,
        EntryKind::Group => PrincipalKind::Group,
        EntryKind::ServicePrincipal => PrincipalKind::ServicePrincipal,
        EntryKind::AdministrativeUnit => return None,
    };
    Some(Principal {
        id: e.id.clone(),
        kind,
        display_name: e.display_name.clone(),
        user_principal_name: e.user_principal_name.clone(),
        app_id: e.app_id.clone(),
        is_assignable_to_role: e.is_assignable_to_role,
    })
}

/// Graph refuses a role to a group created without `isAssignableToRole`,
/// and the flag cannot be set later: the plan says so before apply does.
fn not_role_assignable(label: &str, at: &Location) -> Diagnostic {
    Diagnostic::error(format!(
        "{label} cannot hold a directory role: it is not role-assignable (isAssignableToRole is false)"
    ))
    .with_hint(
        "only groups created role-assignable can be eligible for or assigned an Entra role; \
         use a role-assignable group, or declare its members instead",
    )
    .at_location(at)
}

enum Pending<'a> {
    Principal(&'a PrincipalRef, &'a Location),
    Scope(&'a Scope, &'a Location),
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn quote_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match q.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
