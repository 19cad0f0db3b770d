//! Principals and scopes: resolving `user:`/`group:`/`sp:` references and
//! scope paths, and the Graph renderings of directory objects.

use serde_json::Value;

use super::{Store, ValueIndex};
use crate::json::{J, Obj};
use crate::odata::fold;
use crate::tenant::{AdministrativeUnitSeed, Group, ServicePrincipal, User};

/// What kind of directory object a principal id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalType {
    User,
    Group { assignable: bool },
    ServicePrincipal,
}

impl Store {
    /// An object id or `user:`/`group:`/`sp:` reference → object id and type.
    pub fn resolve_principal(&self, text: &str) -> Option<(String, PrincipalType)> {
        if let Some(upn) = text.strip_prefix("user:") {
            return self.user(upn).map(|u| (u.id.clone(), PrincipalType::User));
        }
        if let Some(name) = text.strip_prefix("group:") {
            return find(
                &self.groups,
                &self.rendered.group_index,
                "displayName",
                name,
                |g| g.display_name.eq_ignore_ascii_case(name),
            )
            .map(|g| {
                (
                    g.id.clone(),
                    PrincipalType::Group {
                        assignable: g.is_assignable_to_role,
                    },
                )
            });
        }
        if let Some(name) = text.strip_prefix("sp:") {
            let index = &self.rendered.sp_index;
            let same = |s: &ServicePrincipal| {
                s.display_name.eq_ignore_ascii_case(name) || s.app_id.eq_ignore_ascii_case(name)
            };
            let sps = &self.service_principals;
            // The first that matches either way, as a scan finds it.
            let found = [
                position(sps, index, "displayName", name, same),
                position(sps, index, "appId", name, same),
            ]
            .into_iter()
            .flatten()
            .min()
            .and_then(|i| sps.get(i));
            return found.map(|s| (s.id.clone(), PrincipalType::ServicePrincipal));
        }
        self.principal_type(text)
            .map(|t| (text.to_ascii_lowercase(), t))
    }

    /// A user by id or user principal name, in any case.
    pub fn user(&self, key: &str) -> Option<&User> {
        self.rendered
            .user_keys
            .get(&key.to_ascii_lowercase())
            .and_then(|&i| self.users.get(i))
    }

    pub fn principal_type(&self, id: &str) -> Option<PrincipalType> {
        if self.user(id).is_some_and(|u| u.id.eq_ignore_ascii_case(id)) {
            return Some(PrincipalType::User);
        }
        if let Some(g) = self.group_by_id(id) {
            return Some(PrincipalType::Group {
                assignable: g.is_assignable_to_role,
            });
        }
        self.service_principal_by_id(id)
            .is_some()
            .then_some(PrincipalType::ServicePrincipal)
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        find(&self.users, &self.rendered.user_index, "id", id, |u| {
            u.id.eq_ignore_ascii_case(id)
        })
    }

    pub fn group_by_id(&self, id: &str) -> Option<&Group> {
        find(&self.groups, &self.rendered.group_index, "id", id, |g| {
            g.id.eq_ignore_ascii_case(id)
        })
    }

    pub fn service_principal_by_id(&self, id: &str) -> Option<&ServicePrincipal> {
        find(
            &self.service_principals,
            &self.rendered.sp_index,
            "id",
            id,
            |s| s.id.eq_ignore_ascii_case(id),
        )
    }

    /// The service principal of an application, by its app id.
    pub fn service_principal_by_app_id(&self, app_id: &str) -> Option<&ServicePrincipal> {
        find(
            &self.service_principals,
            &self.rendered.sp_index,
            "appId",
            app_id,
            |s| s.app_id.eq_ignore_ascii_case(app_id),
        )
    }

    /// `/`, `/administrativeUnits/<id or name>` or `/<object id>` → canonical scope id.
    pub fn resolve_scope(&self, text: &str) -> Option<String> {
        if text == "/" {
            return Some("/".into());
        }
        if let Some(rest) = text.strip_prefix("/administrativeUnits/") {
            return self
                .administrative_units
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(rest))
                .or_else(|| {
                    self.administrative_units
                        .iter()
                        .find(|a| a.display_name.eq_ignore_ascii_case(rest))
                })
                .map(|a| format!("/administrativeUnits/{}", a.id));
        }
        let id = text.strip_prefix('/')?;
        (self.principal_type(id).is_some() || uuid::Uuid::parse_str(id).is_ok())
            .then(|| text.to_string())
    }

    pub fn user_json(u: &User) -> Value {
        Store::user_obj(u).to_value()
    }

    fn user_obj(u: &User) -> Obj<'_> {
        Obj::new(vec![
            ("id", J::Str(&u.id)),
            ("businessPhones", J::Arr(Vec::new())),
            ("displayName", J::Str(&u.display_name)),
            ("givenName", J::Null),
            ("jobTitle", J::from(&u.job_title)),
            ("mail", J::from(&u.mail)),
            ("mobilePhone", J::Null),
            ("officeLocation", J::Null),
            ("preferredLanguage", J::Null),
            ("surname", J::Null),
            ("userPrincipalName", J::Str(&u.user_principal_name)),
            ("accountEnabled", J::Bool(u.account_enabled)),
        ])
    }

    pub fn group_json(g: &Group) -> Value {
        Store::group_obj(g).to_value()
    }

    fn group_obj(g: &Group) -> Obj<'_> {
        // A Microsoft 365 group is mail-enabled; the emulator's groups are
        // security groups otherwise.
        let unified = g
            .group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Unified"));
        Obj::new(vec![
            ("id", J::Str(&g.id)),
            ("displayName", J::Str(&g.display_name)),
            ("description", J::from(&g.description)),
            ("isAssignableToRole", J::Bool(g.is_assignable_to_role)),
            ("mail", J::from(&g.mail)),
            ("mailEnabled", J::Bool(unified)),
            ("securityEnabled", J::Bool(true)),
            (
                "groupTypes",
                J::Arr(g.group_types.iter().map(|t| J::Str(t)).collect()),
            ),
            ("onPremisesSyncEnabled", J::from(g.on_premises_sync_enabled)),
        ])
    }

    pub fn sp_json(s: &ServicePrincipal) -> Value {
        Store::sp_obj(s).to_value()
    }

    fn sp_obj(s: &ServicePrincipal) -> Obj<'_> {
        Obj::new(vec![
            ("id", J::Str(&s.id)),
            ("accountEnabled", J::Bool(true)),
            ("appId", J::Str(&s.app_id)),
            ("displayName", J::Str(&s.display_name)),
            ("servicePrincipalType", J::Str("Application")),
        ])
    }

    pub fn au_json(a: &AdministrativeUnitSeed) -> Value {
        Store::au_obj(a).to_value()
    }

    fn au_obj(a: &AdministrativeUnitSeed) -> Obj<'_> {
        Obj::new(vec![
            ("id", J::Str(&a.id)),
            ("displayName", J::Str(&a.display_name)),
            ("description", J::from(&a.description)),
            ("visibility", J::Null),
        ])
    }

    /// A directory object with its `@odata.type`, as `$expand=principal` and getByIds show it.
    pub fn directory_object(&self, id: &str) -> Option<Value> {
        self.directory_object_obj(id).map(|(_, o)| o.to_value())
    }

    /// A directory object with its `@odata.type`, and that type's short
    /// name in lower case (`user`, `group`, `serviceprincipal`,
    /// `administrativeunit`), as getByIds' `types` names them.
    pub fn directory_object_obj(&self, id: &str) -> Option<(&'static str, Obj<'_>)> {
        let (short, t, mut o) = if let Some(u) = self.user_by_id(id) {
            ("user", "#microsoft.graph.user", Store::user_obj(u))
        } else if let Some(g) = self.group_by_id(id) {
            ("group", "#microsoft.graph.group", Store::group_obj(g))
        } else if let Some(s) = self.service_principal_by_id(id) {
            (
                "serviceprincipal",
                "#microsoft.graph.servicePrincipal",
                Store::sp_obj(s),
            )
        } else {
            let a = self
                .administrative_units
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(id))?;
            (
                "administrativeunit",
                "#microsoft.graph.administrativeUnit",
                Store::au_obj(a),
            )
        };
        o.insert("@odata.type", J::Str(t));
        Some((short, o))
    }
}

/// The first of `items` that is `same`, found through `index` by the
/// folded `value` of `prop` (a superset of what `same` accepts), or by a
/// scan when `prop` is not indexed.
fn find<'a, T>(
    items: &'a [T],
    index: &ValueIndex,
    prop: &str,
    value: &str,
    same: impl Fn(&T) -> bool,
) -> Option<&'a T> {
    position(items, index, prop, value, same).and_then(|i| items.get(i))
}

/// Where [`find`] finds it.
fn position<T>(
    items: &[T],
    index: &ValueIndex,
    prop: &str,
    value: &str,
    same: impl Fn(&T) -> bool,
) -> Option<usize> {
    match index.get(prop, &fold(value)) {
        Some(found) => found
            .iter()
            .copied()
            .find(|&i| items.get(i).is_some_and(&same)),
        None => items.iter().position(same),
    }
}
