//! Directory reads: who pim runs as, `/me`, role definitions, principals
//! by id (`getByIds`), administrative units, and lookups by name or id.

use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde_json::Value;

use super::HttpGraph;
use super::query::{SEGMENT, odata_string, query};
use super::send::Call;
use crate::graph::auth::{SignIn, object_id_from_token};
use crate::graph::error::{ErrorKind, GraphError};
use crate::graph::wire::{self, DirectoryObject, GetByIds, Page, UnifiedRoleDefinition};
use crate::graph::{DirectoryEntry, EntryKind, Lookup, Me, page_size};
use crate::model::{ObjectId, PrincipalKind};
use crate::snapshot::{AdministrativeUnit, Principal, RoleDefinition};

impl HttpGraph {
    /// Who pim runs as. Entra's tokens are JWTs that say so (`oid`); a
    /// token that cannot be read is answered by Graph: `/me` for a user,
    /// the service principal of the client id for an application. When
    /// the source cannot tell which it is, `/me` first, and the service
    /// principal only when Graph answers 400 (its answer to an app-only
    /// token): a 403 or 404 may come with a delegated token, and the client
    /// application's service principal is then not the caller.
    pub(super) async fn identify_caller(&self) -> Result<ObjectId, GraphError> {
        let token = self.tokens.get().await?;
        if let Some(oid) = object_id_from_token(&token) {
            return Ok(ObjectId::new(oid));
        }
        let found = match self.tokens.sign_in() {
            SignIn::User => self.my_id().await,
            SignIn::App => self.service_principal_id().await,
            SignIn::Unknown => match self.my_id().await {
                Err(e) if e.status == Some(400) => self.service_principal_id().await,
                other => other,
            },
        };
        found.map_err(|e| GraphError {
            operation: format!("{} (finding the identity pim runs as)", e.operation),
            ..e
        })
    }

    async fn my_id(&self) -> Result<ObjectId, GraphError> {
        let path = format!("/me{}", query(&[("$select", "id".into())]));
        self.object_id(&path).await
    }

    async fn service_principal_id(&self) -> Result<ObjectId, GraphError> {
        let app_id = self.client_id.as_deref().ok_or_else(|| {
            GraphError::config(
                "the token does not say which identity pim runs as, and without a client id \
                 (AZURE_CLIENT_ID) its service principal cannot be looked up",
            )
        })?;
        let path = format!(
            "/servicePrincipals(appId={}){}",
            utf8_percent_encode(&odata_string(app_id), SEGMENT),
            query(&[("$select", "id".into())])
        );
        self.object_id(&path).await
    }

    /// The `id` of the one object at `path`.
    async fn object_id(&self, path: &str) -> Result<ObjectId, GraphError> {
        #[derive(serde::Deserialize)]
        struct IdOnly {
            id: String,
        }
        let found: IdOnly = self.get_json(path).await?;
        Ok(ObjectId::new(found.id))
    }

    pub(super) async fn read_me(&self) -> Result<Me, GraphError> {
        let u: wire::UserObject = self
            .get_json(&format!(
                "/me{}",
                query(&[("$select", "id,displayName,userPrincipalName".into())])
            ))
            .await?;
        Ok(Me {
            id: ObjectId::new(u.id),
            display_name: u.display_name.unwrap_or_default(),
            user_principal_name: u.user_principal_name,
        })
    }

    pub(super) async fn read_role_definitions(&self) -> Result<Vec<RoleDefinition>, GraphError> {
        let path = format!(
            "/roleManagement/directory/roleDefinitions{}",
            query(&[(
                "$select",
                "id,displayName,isBuiltIn,templateId,isEnabled".into()
            )])
        );
        let defs: Vec<UnifiedRoleDefinition> = self.get_all(&path).await?;
        Ok(defs
            .into_iter()
            .map(|d| RoleDefinition {
                id: ObjectId::new(d.id),
                display_name: d.display_name,
                is_builtin: d.is_built_in,
            })
            .collect())
    }

    pub(super) async fn read_principals(
        &self,
        ids: &[ObjectId],
    ) -> Result<Vec<Principal>, GraphError> {
        const TYPES: [&str; 3] = ["user", "group", "servicePrincipal"];
        let calls = ids.chunks(page_size::GET_BY_IDS).map(|chunk| async move {
            let body = serde_json::to_value(GetByIds {
                ids: chunk,
                types: &TYPES,
            })
            .map_err(|e| GraphError::decode("POST /directoryObjects/getByIds", e.to_string()))?;
            let call = Call {
                method: Method::POST,
                url: self.url("/directoryObjects/getByIds"),
                body: Some(body),
                // A read, though it is a POST.
                idempotent: true,
                retry_replication: false,
            };
            let page: Page<Value> = self
                .execute(&call)
                .await?
                .decode("POST /directoryObjects/getByIds")?;
            Ok::<_, GraphError>(page.value)
        });
        let mut out = Vec::new();
        for r in futures::future::join_all(calls).await {
            for v in r? {
                let Ok(obj) = serde_json::from_value::<DirectoryObject>(v) else {
                    continue;
                };
                out.push(match obj {
                    DirectoryObject::User(u) => Principal {
                        id: ObjectId::new(u.id),
                        kind: PrincipalKind::User,
                        display_name: u.display_name.unwrap_or_default(),
                        user_principal_name: u.user_principal_name,
                        app_id: None,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Group(g) => Principal {
                        id: ObjectId::new(g.id),
                        kind: PrincipalKind::Group,
                        display_name: g.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: None,
                        is_assignable_to_role: g.is_assignable_to_role,
                    },
                    DirectoryObject::ServicePrincipal(s) => Principal {
                        id: ObjectId::new(s.id),
                        kind: PrincipalKind::ServicePrincipal,
                        display_name: s.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: s.app_id,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Other => continue,
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn read_administrative_units(
        &self,
    ) -> Result<Vec<AdministrativeUnit>, GraphError> {
        let path = format!(
            "/directory/administrativeUnits{}",
            query(&[
                ("$select", "id,displayName".into()),
                ("$top", page_size::DIRECTORY.to_string()),
            ])
        );
        let aus: Vec<wire::AdministrativeUnitObject> = self.get_all(&path).await?;
        Ok(aus
            .into_iter()
            .map(|a| AdministrativeUnit {
                id: ObjectId::new(a.id),
                display_name: a.display_name.unwrap_or_default(),
            })
            .collect())
    }

    pub(super) async fn look_up(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError> {
        let plans: Vec<(String, EntryKind, bool)> = queries.iter().map(lookup_path).collect();
        let paths: Vec<String> = plans.iter().map(|p| p.0.clone()).collect();
        let answers = self.batch_get(&paths).await?;
        Ok(answers
            .into_iter()
            .zip(plans)
            .map(|(answer, (_, kind, single))| match answer {
                Ok(v) if single => Ok(entry(kind, &v).into_iter().collect()),
                Ok(v) => Ok(v
                    .get("value")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| entry(kind, x)).collect())
                    .unwrap_or_default()),
                Err(e) if single && e.kind == ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            })
            .collect())
    }
}

fn entry(kind: EntryKind, v: &Value) -> Option<DirectoryEntry> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(DirectoryEntry {
        id: ObjectId::new(s("id")?),
        kind,
        display_name: s("displayName").unwrap_or_default(),
        user_principal_name: s("userPrincipalName"),
        app_id: s("appId"),
        is_assignable_to_role: v.get("isAssignableToRole").and_then(Value::as_bool),
    })
}

fn lookup_path(q: &Lookup) -> (String, EntryKind, bool) {
    let filter_by = |set: &str, select: &str, prop: &str, value: &str| {
        format!(
            "/{set}{}",
            query(&[
                ("$filter", format!("{prop} eq {}", odata_string(value))),
                ("$select", select.to_string()),
            ])
        )
    };
    const USER: &str = "id,displayName,userPrincipalName";
    const GROUP: &str = "id,displayName,isAssignableToRole";
    const SP: &str = "id,displayName,appId";
    const AU: &str = "id,displayName";
    match q {
        Lookup::UserByUpn(upn) => {
            let path = if upn.starts_with('$') {
                // A UPN starting with `$` reads as a system query option after a slash.
                format!(
                    "/users({})",
                    utf8_percent_encode(&odata_string(upn), SEGMENT)
                )
            } else {
                format!("/users/{}", utf8_percent_encode(upn, SEGMENT))
            };
            (
                format!("{path}{}", query(&[("$select", USER.into())])),
                EntryKind::User,
                true,
            )
        }
        Lookup::GroupsByName(n) => (
            filter_by("groups", GROUP, "displayName", n),
            EntryKind::Group,
            false,
        ),
        Lookup::ServicePrincipalsByName(n) => (
            filter_by("servicePrincipals", SP, "displayName", n),
            EntryKind::ServicePrincipal,
            false,
        ),
        Lookup::ServicePrincipalByAppId(a) => (
            format!(
                "/servicePrincipals(appId={}){}",
                utf8_percent_encode(&odata_string(a), SEGMENT),
                query(&[("$select", SP.into())])
            ),
            EntryKind::ServicePrincipal,
            true,
        ),
        Lookup::AdministrativeUnitsByName(n) => (
            filter_by("directory/administrativeUnits", AU, "displayName", n),
            EntryKind::AdministrativeUnit,
            false,
        ),
        Lookup::StartingWith(kind, prefix) => {
            let (set, select, prop) = match kind {
                EntryKind::User => ("users", USER, "userPrincipalName"),
                EntryKind::Group => ("groups", GROUP, "displayName"),
                EntryKind::ServicePrincipal => ("servicePrincipals", SP, "displayName"),
                EntryKind::AdministrativeUnit => {
                    ("directory/administrativeUnits", AU, "displayName")
                }
            };
            (
                format!(
                    "/{set}{}",
                    query(&[
                        (
                            "$filter",
                            format!("startswith({prop},{})", odata_string(prefix))
                        ),
                        ("$select", select.to_string()),
                        ("$top", "25".to_string()),
                    ])
                ),
                *kind,
                false,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lookup_paths() {
        let (p, kind, single) = lookup_path(&Lookup::UserByUpn("a#EXT#@b.com".into()));
        assert!(p.starts_with("/users/a%23EXT%23@b.com?"), "{p}");
        assert_eq!((kind, single), (EntryKind::User, true));
        let (p, _, _) = lookup_path(&Lookup::ServicePrincipalByAppId("00000003-0000".into()));
        assert!(
            p.starts_with("/servicePrincipals(appId='00000003-0000')"),
            "{p}"
        );
    }
}
