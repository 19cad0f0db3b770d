//! Directory reads: who pim runs as, `/me`, role definitions, principals
//! by id (`getByIds`), administrative units, and lookups by name or id.

use std::collections::BTreeMap;

use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde_json::Value;
use serde_json::value::RawValue;

use super::HttpGraph;
use super::query::{SEGMENT, odata_string, query};
use super::send::Call;
use crate::graph::auth::{SignIn, object_id_from_token};
use crate::graph::error::GraphError;
use crate::graph::wire::{self, DirectoryObject, GetByIds, Page, UnifiedRoleDefinition};
use crate::graph::{DirectoryEntry, EntryKind, Lookup, Me, page_size};
use crate::model::{Caseless, ObjectId, PrincipalKind};
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
        const OP: &str = "POST /directoryObjects/getByIds";
        // Each answer is made principals as it arrives: a thousand objects
        // held as JSON trees cost many times what they are worth, and a
        // large tenant's calls all run at once.
        let calls = ids.chunks(page_size::GET_BY_IDS).map(|chunk| async move {
            let body = serde_json::to_value(GetByIds {
                ids: chunk,
                types: &TYPES,
            })
            .map_err(|e| GraphError::decode(OP, e.to_string()))?;
            let call = Call {
                method: Method::POST,
                url: self.url("/directoryObjects/getByIds"),
                body: Some(body),
                // A read, though it is a POST.
                idempotent: true,
                retry_replication: false,
                batchable: false,
            };
            let answer = self.execute(&call).await?;
            // Objects stay raw text until read one by one, so one that pim
            // cannot read is skipped, not the whole answer.
            let page: Page<&RawValue> = answer.decode(OP)?;
            Ok::<_, GraphError>(
                page.value
                    .into_iter()
                    .filter_map(|raw| serde_json::from_str::<DirectoryObject>(raw.get()).ok())
                    .filter_map(principal)
                    .collect::<Vec<_>>(),
            )
        });
        let mut out = Vec::with_capacity(ids.len());
        for r in futures::future::join_all(calls).await {
            out.extend(r?);
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

    /// Looks names up with the fewest requests: names of one kind are
    /// asked together, [`IN_VALUES`] to a `$filter=… in (…)`, those filters
    /// 20 to a `$batch`; the answers are matched back to each name as Graph
    /// compares them (without case). Prefix searches go one to a request.
    pub(super) async fn look_up(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError> {
        let mut plans: Vec<Plan> = Vec::new();
        let mut by_field: BTreeMap<InField, Vec<(usize, &str)>> = BTreeMap::new();
        for (i, q) in queries.iter().enumerate() {
            match in_field(q) {
                Some((field, value)) => by_field.entry(field).or_default().push((i, value)),
                None => plans.push(Plan::Prefix(i)),
            }
        }
        for (field, members) in by_field {
            for chunk in members.chunks(IN_VALUES) {
                plans.push(Plan::In(field, chunk.to_vec()));
            }
        }
        let paths: Vec<String> = plans
            .iter()
            .map(|p| match p {
                Plan::Prefix(i) => prefix_path(&queries[*i]).0,
                Plan::In(field, members) => in_path(*field, members),
            })
            .collect();
        let answers = self.batch_get(&paths).await?;
        let mut out: Vec<Option<Result<Vec<DirectoryEntry>, GraphError>>> =
            (0..queries.len()).map(|_| None).collect();
        for (plan, answer) in plans.into_iter().zip(answers) {
            match plan {
                Plan::Prefix(i) => {
                    let kind = prefix_path(&queries[i]).1;
                    out[i] = Some(answer.map(|v| entries(kind, &v).collect()));
                }
                Plan::In(field, members) => {
                    let found: Result<Vec<DirectoryEntry>, GraphError> =
                        answer.map(|v| entries(field.kind(), &v).collect());
                    for (i, value) in members {
                        out[i] = Some(match &found {
                            Ok(all) => Ok(all
                                .iter()
                                .filter(|e| {
                                    field.value(e).is_some_and(|v| Caseless::same(v, value))
                                })
                                .cloned()
                                .collect()),
                            Err(e) => Err(e.clone()),
                        });
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(GraphError::decode("lookup", "missing answer"))))
            .collect())
    }
}

/// Values one `in (…)` holds: Graph's limit on directory objects.
pub(crate) const IN_VALUES: usize = 15;

/// A directory property names are looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum InField {
    UserPrincipalName,
    GroupName,
    ServicePrincipalName,
    AppId,
    UnitName,
}

impl InField {
    fn kind(self) -> EntryKind {
        match self {
            InField::UserPrincipalName => EntryKind::User,
            InField::GroupName => EntryKind::Group,
            InField::ServicePrincipalName | InField::AppId => EntryKind::ServicePrincipal,
            InField::UnitName => EntryKind::AdministrativeUnit,
        }
    }

    /// The collection, the property and what to `$select`.
    fn query(self) -> (&'static str, &'static str, &'static str) {
        match self {
            InField::UserPrincipalName => ("users", "userPrincipalName", USER),
            InField::GroupName => ("groups", "displayName", GROUP),
            InField::ServicePrincipalName => ("servicePrincipals", "displayName", SP),
            InField::AppId => ("servicePrincipals", "appId", SP),
            InField::UnitName => ("directory/administrativeUnits", "displayName", AU),
        }
    }

    /// The found object's value of the property.
    fn value(self, e: &DirectoryEntry) -> Option<&str> {
        match self {
            InField::UserPrincipalName => e.user_principal_name.as_deref(),
            InField::AppId => e.app_id.as_deref(),
            _ => Some(&e.display_name),
        }
    }
}

/// One request of a lookup.
enum Plan<'q> {
    /// A prefix search, for suggestions.
    Prefix(usize),
    /// Up to [`IN_VALUES`] names of one property: (query index, name).
    In(InField, Vec<(usize, &'q str)>),
}

const USER: &str = "id,displayName,userPrincipalName";
const GROUP: &str = "id,displayName,isAssignableToRole";
const SP: &str = "id,displayName,appId";
const AU: &str = "id,displayName";

fn in_field(q: &Lookup) -> Option<(InField, &str)> {
    Some(match q {
        Lookup::UserByUpn(upn) => (InField::UserPrincipalName, upn),
        Lookup::GroupsByName(n) => (InField::GroupName, n),
        Lookup::ServicePrincipalsByName(n) => (InField::ServicePrincipalName, n),
        Lookup::ServicePrincipalByAppId(a) => (InField::AppId, a.as_str()),
        Lookup::AdministrativeUnitsByName(n) => (InField::UnitName, n),
        Lookup::StartingWith(..) => return None,
    })
}

fn in_path(field: InField, members: &[(usize, &str)]) -> String {
    let (set, prop, select) = field.query();
    let mut values: Vec<String> = members.iter().map(|(_, v)| odata_string(v)).collect();
    values.dedup();
    format!(
        "/{set}{}",
        query(&[
            ("$filter", format!("{prop} in ({})", values.join(","))),
            ("$select", select.to_string()),
            // Display names need not be unique: room for every namesake.
            ("$top", page_size::DIRECTORY.to_string()),
        ])
    )
}

fn entries(kind: EntryKind, v: &Value) -> impl Iterator<Item = DirectoryEntry> + '_ {
    v.get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |x| entry(kind, x))
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

/// The path of a prefix search, and the kind it finds.
fn prefix_path(q: &Lookup) -> (String, EntryKind) {
    let Lookup::StartingWith(kind, prefix) = q else {
        // Only prefix searches are planned one to a request.
        return (String::new(), EntryKind::User);
    };
    let (set, select, prop) = match kind {
        EntryKind::User => ("users", USER, "userPrincipalName"),
        EntryKind::Group => ("groups", GROUP, "displayName"),
        EntryKind::ServicePrincipal => ("servicePrincipals", SP, "displayName"),
        EntryKind::AdministrativeUnit => ("directory/administrativeUnits", AU, "displayName"),
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
    )
}

/// The principal a directory object is; `None` for other kinds.
fn principal(obj: DirectoryObject) -> Option<Principal> {
    let kind = match obj.odata_type.as_deref()? {
        "#microsoft.graph.user" => PrincipalKind::User,
        "#microsoft.graph.group" => PrincipalKind::Group,
        "#microsoft.graph.servicePrincipal" => PrincipalKind::ServicePrincipal,
        _ => return None,
    };
    let only = |k: PrincipalKind| kind == k;
    Some(Principal {
        id: ObjectId::new(obj.id),
        kind,
        display_name: obj.display_name.unwrap_or_default(),
        user_principal_name: obj
            .user_principal_name
            .filter(|_| only(PrincipalKind::User)),
        app_id: obj.app_id.filter(|_| only(PrincipalKind::ServicePrincipal)),
        is_assignable_to_role: obj
            .is_assignable_to_role
            .filter(|_| only(PrincipalKind::Group)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_kind_go_fifteen_to_an_in_filter() {
        let upns: Vec<String> = (0..16).map(|i| format!("u{i}#EXT#@b.com")).collect();
        let members: Vec<(usize, &str)> = upns.iter().map(String::as_str).enumerate().collect();
        let p = in_path(InField::UserPrincipalName, &members[..IN_VALUES]);
        let decoded = percent_encoding::percent_decode_str(&p)
            .decode_utf8_lossy()
            .to_string();
        assert!(
            decoded.starts_with(
                "/users?$filter=userPrincipalName in ('u0#EXT#@b.com','u1#EXT#@b.com',"
            ),
            "{decoded}"
        );
        assert_eq!(decoded.matches("#EXT#").count(), IN_VALUES);
        let p = in_path(InField::AppId, &[(0, "00000003-0000"), (1, "o'brien")]);
        let decoded = percent_encoding::percent_decode_str(&p)
            .decode_utf8_lossy()
            .to_string();
        assert!(
            decoded.contains("appId in ('00000003-0000','o''brien')"),
            "{decoded}"
        );
    }
}
