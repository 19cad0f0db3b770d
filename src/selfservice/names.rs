//! Roles and scopes by the names people use: a role by display name or id,
//! a scope as `/` or `/administrativeUnits/<id or display name>`, and back
//! from ids to names for what is shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::graph::{Graph, Lookup};
use crate::model::{
    AssignmentKind, Caseless, ObjectId, PrincipalRef, RoleRef, builtin_roles, closest_names,
};

use super::SelfServiceError;
use crate::snapshot::Principal;

use super::DR;

/// A role at a scope (or a group's access), with ids for Graph and names
/// for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub surface: crate::model::SurfaceKind,
    pub role_id: ObjectId,
    pub role_name: String,
    /// `/` or `/administrativeUnits/{id}`.
    pub scope_id: String,
    /// `/` or `/administrativeUnits/<display name>`.
    pub scope_name: String,
}

impl Target {
    /// `Global Administrator at /`; `member of group:Tier0 Admins`;
    /// `Owner at /subscriptions/…`.
    pub fn subject(&self) -> String {
        match self.surface {
            crate::model::SurfaceKind::DirectoryRole | crate::model::SurfaceKind::AzureRole => {
                format!("{} at {}", self.role_name, self.scope_name)
            }
            _ => format!("{} of {}", self.role_name, self.scope_name),
        }
    }

    pub fn matches(&self, role_id: &str, scope_id: &str) -> bool {
        self.role_id == role_id && Caseless::same(&self.scope_id, scope_id)
    }
}

const AU_PREFIX: &str = "/administrativeUnits/";

/// Resolve `role` (display name or role definition id) and `scope`: `/`,
/// an administrative unit by display name or id, with or without
/// `/administrativeUnits/` before it; or, at an ARM scope, an Azure role.
pub async fn resolve_target(
    graph: &dyn Graph,
    role: &str,
    scope: &str,
) -> Result<Target, SelfServiceError> {
    if super::azure::is_arm_scope(scope) {
        return super::azure::resolve_azure_target(role, scope);
    }
    let (role_id, role_name) = resolve_role(graph, role).await?;
    let (scope_id, scope_name) = resolve_scope(graph, scope).await?;
    Ok(Target {
        surface: DR,
        role_id,
        role_name,
        scope_id,
        scope_name,
    })
}

/// A group's `member` or `owner` access: the group by display name
/// (`group:` before it or not) or object id.
pub async fn resolve_group_target(
    graph: &dyn Graph,
    group: &str,
    access: &str,
) -> Result<Target, SelfServiceError> {
    let groups = crate::surface::get(crate::model::SurfaceKind::Group);
    let role = groups
        .parse_role(access, &Default::default())
        .map_err(|p| SelfServiceError::UnknownGroup {
            what: p.message,
            hint: p.hint.unwrap_or_default(),
        })?;
    let given = group.trim();
    let name = given.strip_prefix("group:").unwrap_or(given).trim();
    let found = if crate::model::is_guid(name) {
        graph
            .principals_by_ids(&[ObjectId::new(name)])
            .await?
            .into_iter()
            .filter(|p| p.kind == crate::model::PrincipalKind::Group)
            .map(|p| (p.id, p.display_name))
            .collect::<Vec<_>>()
    } else {
        let answers = graph
            .lookup(&[Lookup::GroupsByName(name.to_string())])
            .await?;
        answers
            .into_iter()
            .next()
            .transpose()?
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.id, e.display_name))
            .collect()
    };
    match found.as_slice() {
        [(id, display)] => Ok(Target {
            surface: crate::model::SurfaceKind::Group,
            role_name: role.to_string(),
            role_id: ObjectId::new(role.to_string()),
            scope_id: id.to_string(),
            scope_name: format!("group:{display}"),
        }),
        [] => Err(SelfServiceError::UnknownGroup {
            what: format!("no group {name:?}"),
            hint: "give the group's display name (as Entra shows it) or its object id; \
                   pim my roles lists the groups you hold"
                .into(),
        }),
        many => Err(SelfServiceError::UnknownGroup {
            what: format!("{} groups are named {name:?}", many.len()),
            hint: format!(
                "use the object id, one of {}",
                many.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

async fn resolve_scope(
    graph: &dyn Graph,
    scope: &str,
) -> Result<(String, String), SelfServiceError> {
    let given = scope.trim();
    if given.is_empty() || given == "/" {
        return Ok(("/".to_string(), "/".to_string()));
    }
    let key = given
        .strip_prefix(AU_PREFIX)
        .or_else(|| given.strip_prefix(&AU_PREFIX[1..]))
        .unwrap_or(given)
        .trim();
    let aus = graph.administrative_units().await?;
    let au = aus
        .iter()
        .find(|a| a.id == key)
        .or_else(|| aus.iter().find(|a| Caseless::same(&a.display_name, key)))
        .ok_or_else(|| SelfServiceError::UnknownScope(given.to_string()))?;
    Ok((
        format!("{AU_PREFIX}{}", au.id),
        format!("{AU_PREFIX}{}", au.display_name),
    ))
}

/// Which of the caller's grants a command acts on, to find the scope when
/// none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Eligibilities, active assignments, or both (`None`).
    pub kind: Option<AssignmentKind>,
    /// Count grants that have ended (renewals), not only live or later ones.
    pub ended: bool,
}

/// [`resolve_target`], where no `scope` means the one scope at which the
/// caller holds the role (as `held` says); several are an error naming
/// them, none the directory (`/`), for the checks to explain.
pub async fn resolve_held_target(
    graph: &dyn Graph,
    now: DateTime<Utc>,
    role: &str,
    scope: Option<&str>,
    held: Held,
) -> Result<Target, SelfServiceError> {
    if let Some(scope) = scope {
        return resolve_target(graph, role, scope).await;
    }
    if is_azure_role_name(role) {
        return resolve_held_azure(graph, role, held).await;
    }
    let (role_id, role_name) = resolve_role(graph, role).await?;
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |scope_id: &str| {
        if !scopes.iter().any(|s| Caseless::same(s, scope_id)) {
            scopes.push(scope_id.to_string());
        }
    };
    for kind in [AssignmentKind::Eligible, AssignmentKind::Active] {
        if held.kind.is_some_and(|k| k != kind) {
            continue;
        }
        // Instances include what is held through a group; schedules what
        // starts later or has ended.
        for i in graph.my_instances(DR, kind).await? {
            if i.role_id == role_id {
                add(&i.scope_id);
            }
        }
        for g in graph.my_grants(DR, kind).await? {
            if g.role_id == role_id && (held.ended || !g.has_ended(now)) {
                add(&g.scope_id);
            }
        }
    }
    let names = DisplayNames::load(graph, [], scopes.iter().map(String::as_str)).await?;
    let target = |scope_id: &str| Target {
        surface: DR,
        role_id: role_id.clone(),
        role_name: role_name.clone(),
        scope_id: scope_id.to_string(),
        scope_name: names.scope(scope_id),
    };
    match scopes.as_slice() {
        [] => Ok(target("/")),
        [one] => Ok(target(one)),
        several => {
            let mut scopes: Vec<String> = several.iter().map(|s| names.scope(s)).collect();
            scopes.sort();
            Err(SelfServiceError::SeveralScopes {
                role: role_name,
                scopes,
            })
        }
    }
}

/// A role named `azure:…`, or a built-in Azure role's name that is not a
/// directory role's (`Owner`, `Contributor`; not `Global Reader`).
fn is_azure_role_name(role: &str) -> bool {
    let role = role.trim();
    role.starts_with("azure:")
        || (RoleRef::parse(role).builtin().is_none()
            && !is_guid(role)
            && crate::model::find_azure_role(role).is_some())
}

/// An Azure role without `--scope`: the one scope at which the caller
/// holds it, as ARM lists their instances across scopes.
async fn resolve_held_azure(
    graph: &dyn Graph,
    role: &str,
    held: Held,
) -> Result<Target, SelfServiceError> {
    let (role_id, role_name) = super::azure::resolve_azure_role(role)?;
    let mut scopes: Vec<String> = Vec::new();
    for kind in [AssignmentKind::Eligible, AssignmentKind::Active] {
        if held.kind.is_some_and(|k| k != kind) {
            continue;
        }
        for i in super::my_instances(graph, crate::model::SurfaceKind::AzureRole, kind).await? {
            if i.role_id == role_id && !scopes.iter().any(|s| Caseless::same(s, &i.scope_id)) {
                scopes.push(i.scope_id.clone());
            }
        }
    }
    match scopes.as_slice() {
        [one] => super::azure::resolve_azure_target(role, one),
        [] => Err(SelfServiceError::NoAzureScope { role: role_name }),
        several => {
            let mut scopes = several.to_vec();
            scopes.sort();
            Err(SelfServiceError::SeveralScopes {
                role: role_name,
                scopes,
            })
        }
    }
}

/// A principal as `--principal` names it: `user:UPN` (or a bare UPN),
/// `group:Name`, `sp:Name` or appId, or an object id.
pub(crate) async fn resolve_principal(
    graph: &dyn Graph,
    given: &str,
) -> Result<ObjectId, SelfServiceError> {
    let text = given.trim();
    let text = if !text.contains(':') && text.contains('@') {
        format!("user:{text}")
    } else {
        text.to_string()
    };
    let unknown = || SelfServiceError::UnknownPrincipal(given.to_string());
    let query = match text.parse::<PrincipalRef>().map_err(|_| unknown())? {
        PrincipalRef::ObjectId(id) => return Ok(ObjectId::new(id.as_str())),
        PrincipalRef::User(upn) => Lookup::UserByUpn(upn),
        PrincipalRef::Group(name) => Lookup::GroupsByName(name),
        PrincipalRef::ServicePrincipal(n) if is_guid(&n) => {
            Lookup::ServicePrincipalByAppId(ObjectId::new(n.as_str()))
        }
        PrincipalRef::ServicePrincipal(n) => Lookup::ServicePrincipalsByName(n),
    };
    let found = graph.lookup(&[query]).await?;
    match found.into_iter().next() {
        Some(Ok(entries)) => match entries.as_slice() {
            [one] => Ok(one.id.clone()),
            _ => Err(unknown()),
        },
        Some(Err(e)) if e.kind == crate::graph::ErrorKind::NotFound => Err(unknown()),
        Some(Err(e)) => Err(e.into()),
        None => Err(unknown()),
    }
}

pub(crate) async fn resolve_role(
    graph: &dyn Graph,
    role: &str,
) -> Result<(ObjectId, String), SelfServiceError> {
    let role = role.trim();
    if let Some(r) = RoleRef::parse(role).builtin() {
        return Ok((ObjectId::new(r.id.as_str()), r.display_name.clone()));
    }
    // A custom role: only the tenant knows it.
    let defs = graph.role_definitions().await?;
    if let Some(d) = defs
        .iter()
        .find(|d| d.id == role || Caseless::same(&d.display_name, role))
    {
        return Ok((d.id.clone(), d.display_name.clone()));
    }
    // An Azure role named at a directory scope.
    if let Some(azure) = crate::model::find_azure_role(role) {
        return Err(SelfServiceError::NoAzureScope {
            role: azure.display_name.clone(),
        });
    }
    let suggestions = closest_names(role, defs.iter().map(|d| d.display_name.as_str()), 3, 0.6)
        .into_iter()
        .map(str::to_string)
        .collect();
    Err(SelfServiceError::UnknownRole {
        name: role.to_string(),
        suggestions,
    })
}

/// Names for the role and scope ids of what is shown: built-in roles from
/// the table, custom roles and administrative units read once, when needed.
#[derive(Debug, Default)]
pub(crate) struct DisplayNames {
    roles: BTreeMap<ObjectId, String>,
    units: BTreeMap<ObjectId, String>,
    principals: BTreeMap<ObjectId, Principal>,
}

impl DisplayNames {
    pub async fn load<'a>(
        graph: &dyn Graph,
        role_ids: impl IntoIterator<Item = &'a str>,
        scope_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<DisplayNames, crate::graph::GraphError> {
        let mut names = DisplayNames::default();
        let mut unknown = false;
        for id in role_ids {
            let id = ObjectId::new(id);
            // A group's access names itself.
            if crate::surface::GROUP_ACCESS.contains(&id.as_str()) {
                names.roles.insert(id.clone(), id.to_string());
                continue;
            }
            match builtin_roles().iter().find(|r| id == r.id) {
                Some(r) => {
                    names.roles.insert(id, r.display_name.clone());
                }
                // An Azure role's GUID: built-in names are known offline,
                // a custom one's only to ARM, and shown by its id.
                None => match super::azure::role_name(id.as_str()) {
                    Some(name) => {
                        names.roles.insert(id, name);
                    }
                    None => unknown = true,
                },
            }
        }
        if unknown {
            for d in graph.role_definitions().await? {
                names.roles.insert(d.id, d.display_name);
            }
        }
        // A scope is the directory, a unit, (PIM for Groups) a group, or
        // (Azure roles) an ARM scope, which names itself.
        let (units, groups): (Vec<&str>, Vec<&str>) = scope_ids
            .into_iter()
            .filter(|s| *s != "/" && !super::azure::is_arm_scope(s))
            .partition(|s| s.starts_with(AU_PREFIX));
        if !units.is_empty() {
            for a in graph.administrative_units().await? {
                names.units.insert(a.id, a.display_name);
            }
        }
        let groups: Vec<ObjectId> = groups.into_iter().map(ObjectId::new).collect();
        names.load_principals(graph, groups.iter()).await?;
        Ok(names)
    }

    /// Add the principals with these ids (users, groups, applications).
    pub async fn load_principals<'a>(
        &mut self,
        graph: &dyn Graph,
        ids: impl IntoIterator<Item = &'a ObjectId>,
    ) -> Result<(), crate::graph::GraphError> {
        let mut wanted: Vec<ObjectId> = ids
            .into_iter()
            .filter(|id| !self.principals.contains_key(*id))
            .cloned()
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        for p in graph.principals_by_ids(&wanted).await? {
            self.principals.insert(p.id.clone(), p);
        }
        Ok(())
    }

    /// `user:alice@contoso.com`, `group:PIM Approvers`: as configuration
    /// writes it; the id when Graph did not say.
    pub fn principal(&self, id: &str) -> String {
        self.principals
            .get(ObjectId::new(id).as_str())
            .map_or_else(|| id.to_string(), Principal::reference)
    }

    pub fn role(&self, id: &str) -> String {
        self.roles
            .get(ObjectId::new(id).as_str())
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    pub fn scope(&self, id: &str) -> String {
        match id.strip_prefix(AU_PREFIX) {
            Some(au) => match self.units.get(ObjectId::new(au).as_str()) {
                Some(name) => format!("{AU_PREFIX}{name}"),
                None => id.to_string(),
            },
            None if id == "/" || super::azure::is_arm_scope(id) => id.to_string(),
            None => match self.principals.get(ObjectId::new(id).as_str()) {
                Some(g) => format!("group:{}", g.display_name),
                None => id.to_string(),
            },
        }
    }

    /// `Global Administrator at /`, `member of group:Tier0 Admins`,
    /// `Owner at /subscriptions/…`.
    pub fn subject(
        &self,
        surface: crate::model::SurfaceKind,
        role_id: &str,
        scope_id: &str,
    ) -> String {
        match surface {
            crate::model::SurfaceKind::DirectoryRole | crate::model::SurfaceKind::AzureRole => {
                format!("{} at {}", self.role(role_id), self.scope(scope_id))
            }
            _ => format!("{} of {}", self.role(role_id), self.scope(scope_id)),
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits: an object id or appId, not a name.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
