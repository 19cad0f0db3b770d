//! Role references and the table of Entra's built-in roles.

use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::principal::is_guid;
use super::{Caseless, ObjectId};

/// A role as configuration names it: a display name or a template id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoleRef {
    Id(String),
    Name(String),
}

impl RoleRef {
    pub fn parse(text: &str) -> RoleRef {
        let t = text.trim();
        if is_guid(t) {
            RoleRef::Id(ObjectId::new(t).into_string())
        } else {
            RoleRef::Name(t.to_string())
        }
    }

    /// The built-in role this reference names, if any. Display names match
    /// without regard to case, as the Entra admin center does.
    pub fn builtin(&self) -> Option<&'static BuiltinRole> {
        match self {
            RoleRef::Id(id) => by_id(id),
            RoleRef::Name(name) => find_builtin_role(name),
        }
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleRef::Id(s) | RoleRef::Name(s) => f.write_str(s),
        }
    }
}

/// One built-in Entra role: its template id (which is also its role
/// definition id in every tenant) and display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuiltinRole {
    pub id: String,
    pub display_name: String,
}

struct Table {
    roles: Vec<BuiltinRole>,
    /// Display name and id to position in `roles`: lookups run once per
    /// grant, on tenants of tens of thousands of grants.
    by_name: std::collections::HashMap<Caseless, usize>,
    by_id: std::collections::HashMap<ObjectId, usize>,
}

impl Table {
    fn new(roles: Vec<BuiltinRole>) -> Self {
        let mut by_name = std::collections::HashMap::new();
        let mut by_id = std::collections::HashMap::new();
        for (i, r) in roles.iter().enumerate() {
            by_name.insert(Caseless::new(&r.display_name), i);
            by_id.insert(ObjectId::new(r.id.as_str()), i);
        }
        Table {
            roles,
            by_name,
            by_id,
        }
    }

    fn by_id(&self, id: &str) -> Option<&BuiltinRole> {
        self.by_id
            .get(ObjectId::new(id.trim()).as_str())
            .map(|&i| &self.roles[i])
    }

    fn by_name(&self, name: &str) -> Option<&BuiltinRole> {
        self.by_name
            .get(Caseless::new(name.trim()).as_str())
            .map(|&i| &self.roles[i])
    }
}

// The tables are compiled in and checked by unit tests, so they cannot
// fail at run time.
static BUILTIN_ROLES: LazyLock<Table> = LazyLock::new(|| {
    Table::new(
        serde_json::from_str(include_str!("builtin_roles.json"))
            .expect("embedded built-in role table is valid JSON"),
    )
});

/// Azure's built-in roles (`{"id", "roleName"}`), from the built-in roles
/// reference on learn.microsoft.com. The list may miss a few roles added
/// after it was taken: a role it lacks is still granted by its GUID.
static AZURE_ROLES: LazyLock<Table> = LazyLock::new(|| {
    #[derive(Deserialize)]
    struct Entry {
        id: String,
        #[serde(rename = "roleName")]
        role_name: String,
    }
    let list: Vec<Entry> = serde_json::from_str(include_str!("builtin_azure_roles.json"))
        .expect("embedded Azure role table is valid JSON");
    Table::new(
        list.into_iter()
            .map(|e| BuiltinRole {
                id: e.id.to_ascii_lowercase(),
                display_name: e.role_name,
            })
            .collect(),
    )
});

pub fn builtin_roles() -> &'static [BuiltinRole] {
    &BUILTIN_ROLES.roles
}

fn by_id(id: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.by_id(id)
}

pub fn find_builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.by_name(name)
}

/// Azure's built-in roles; `id` is the role definition's GUID, the same at
/// every scope.
pub fn azure_builtin_roles() -> &'static [BuiltinRole] {
    &AZURE_ROLES.roles
}

/// The built-in Azure role of this name (whatever the case) or GUID.
pub fn find_azure_role(name_or_id: &str) -> Option<&'static BuiltinRole> {
    AZURE_ROLES
        .by_name(name_or_id)
        .or_else(|| AZURE_ROLES.by_id(name_or_id))
}

pub fn closest_azure_roles(name: &str, n: usize) -> Vec<&'static str> {
    closest_names(
        name,
        azure_builtin_roles()
            .iter()
            .map(|r| r.display_name.as_str()),
        n,
        0.6,
    )
}

/// Up to `n` names from `candidates` closest to `name`, best first: what a
/// diagnostic offers for a misspelt role or principal.
/// `min_score` is the Jaro-Winkler similarity (0 to 1) below which a
/// candidate is not worth offering.
pub fn closest_names<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
    min_score: f64,
) -> Vec<&'a str> {
    let needle = Caseless::new(name);
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| {
            let hay = Caseless::new(c);
            let mut score = strsim::jaro_winkler(&needle, &hay);
            if !needle.is_empty()
                && (hay.contains(needle.as_str()) || needle.contains(hay.as_str()))
            {
                score += 0.2;
            }
            (score, c)
        })
        .filter(|(score, _)| *score >= min_score)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

pub fn closest_builtin_roles(name: &str, n: usize) -> Vec<&'static str> {
    closest_names(
        name,
        builtin_roles().iter().map(|r| r.display_name.as_str()),
        n,
        0.6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_loads_and_is_unique() {
        let roles = builtin_roles();
        assert!(roles.len() > 100);
        let mut names: Vec<_> = roles
            .iter()
            .map(|r| Caseless::new(&r.display_name))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), roles.len());
        assert!(roles.iter().all(|r| is_guid(&r.id)));
    }

    #[test]
    fn resolves_by_name_and_id() {
        let ga = RoleRef::parse("global administrator").builtin().unwrap();
        assert_eq!(ga.id, "62e90394-69f5-4237-9190-012177145e10");
        assert_eq!(
            RoleRef::parse(&ga.id).builtin().unwrap().display_name,
            "Global Administrator"
        );
        assert!(RoleRef::parse("Global Admin").builtin().is_none());
    }

    #[test]
    fn azure_roles_resolve_by_name_and_guid() {
        assert!(azure_builtin_roles().len() > 500);
        let owner = find_azure_role("owner").unwrap();
        assert_eq!(owner.id, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
        assert_eq!(
            find_azure_role("B24988AC-6180-42A0-AB88-20F7382DD24C")
                .unwrap()
                .display_name,
            "Contributor"
        );
        // The two tables are apart: "Security Reader" is in both, as two roles.
        assert_ne!(
            find_azure_role("Security Reader").unwrap().id,
            find_builtin_role("Security Reader").unwrap().id
        );
        assert!(closest_azure_roles("Contributer", 3).contains(&"Contributor"));
    }

    #[test]
    fn suggests_close_names() {
        let s = closest_builtin_roles("Global Admnistrator", 3);
        assert_eq!(s[0], "Global Administrator");
        assert_eq!(s.len(), 3);
        assert!(closest_builtin_roles("Helpdesk Admin", 3).contains(&"Helpdesk Administrator"));
    }
}
