//! Roles and scopes by the names people use: a role by display name or id,
//! a scope as `/` or `/administrativeUnits/<id or display name>`, and back
//! from ids to names for what is shown.

use std::collections::BTreeMap;

use crate::graph::Graph;
use crate::model::{Caseless, ObjectId, RoleRef, builtin_roles, closest_names};

use super::SelfServiceError;

/// A role at a scope, with ids for Graph and names for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub role_id: ObjectId,
    pub role_name: String,
    /// `/` or `/administrativeUnits/{id}`.
    pub scope_id: String,
    /// `/` or `/administrativeUnits/<display name>`.
    pub scope_name: String,
}

impl Target {
    /// `Global Administrator at /`.
    pub fn subject(&self) -> String {
        format!("{} at {}", self.role_name, self.scope_name)
    }

    pub fn matches(&self, role_id: &str, scope_id: &str) -> bool {
        self.role_id == role_id && Caseless::same(&self.scope_id, scope_id)
    }
}

const AU_PREFIX: &str = "/administrativeUnits/";

/// Resolve `role` (display name or role definition id) and `scope`.
pub async fn resolve_target(
    graph: &dyn Graph,
    role: &str,
    scope: &str,
) -> Result<Target, SelfServiceError> {
    let (role_id, role_name) = resolve_role(graph, role).await?;
    let scope = scope.trim();
    let (scope_id, scope_name) = if scope.is_empty() || scope == "/" {
        ("/".to_string(), "/".to_string())
    } else if let Some(key) = scope.strip_prefix(AU_PREFIX) {
        let aus = graph.administrative_units().await?;
        let au = aus
            .iter()
            .find(|a| a.id == key)
            .or_else(|| aus.iter().find(|a| Caseless::same(&a.display_name, key)))
            .ok_or_else(|| SelfServiceError::UnknownScope(scope.to_string()))?;
        (
            format!("{AU_PREFIX}{}", au.id),
            format!("{AU_PREFIX}{}", au.display_name),
        )
    } else {
        return Err(SelfServiceError::UnknownScope(scope.to_string()));
    };
    Ok(Target {
        role_id,
        role_name,
        scope_id,
        scope_name,
    })
}

async fn resolve_role(
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
            match builtin_roles().iter().find(|r| id == r.id) {
                Some(r) => {
                    names.roles.insert(id, r.display_name.clone());
                }
                None => unknown = true,
            }
        }
        if unknown {
            for d in graph.role_definitions().await? {
                names.roles.insert(d.id, d.display_name);
            }
        }
        if scope_ids.into_iter().any(|s| s != "/") {
            for a in graph.administrative_units().await? {
                names.units.insert(a.id, a.display_name);
            }
        }
        Ok(names)
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
            None => id.to_string(),
        }
    }
}
