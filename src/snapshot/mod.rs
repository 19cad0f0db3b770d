//! The tenant as pim sees it: every eligibility and active assignment
//! schedule, the policy rules of the roles that matter, and the names of the
//! principals, roles and administrative units involved. Built from Graph
//! reads (`read`); compared with `Desired` by the planner.

mod read;

pub use read::{Holdings, ReadOptions, read, read_beside, read_grants};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{AssignmentKind, Expiration, ObjectId, PrincipalKind, RuleSet, SurfaceKind};

/// How a principal holds a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberType {
    /// Granted to the principal itself.
    Direct,
    /// Held through membership of a role-assignable group.
    Group,
    Inherited,
}

/// Whether an active assignment was assigned by an admin or activated from
/// an eligibility (`assignmentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActiveType {
    Assigned,
    Activated,
}

/// One schedule of the tenant: an eligibility or an active assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    /// The schedule id, which pim records in state.
    pub schedule_id: String,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    /// `directoryScopeId` as Graph returns it: `/` or `/administrativeUnits/{id}`.
    pub scope_id: String,
    pub start: Option<DateTime<Utc>>,
    pub expiration: Expiration,
    pub member_type: MemberType,
    /// Active assignments only.
    pub active_type: Option<ActiveType>,
    /// Id of the request that made the schedule (`createdUsing`).
    pub created_using: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub status: String,
    /// An ABAC condition (Azure roles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl Grant {
    /// The end of the grant, if it has one.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        match &self.expiration {
            Expiration::Permanent => None,
            Expiration::At(t) => Some(*t),
            Expiration::After(d) => self.start.and_then(|s| d.add_to(s)),
        }
    }

    /// Whether pim can manage it: a direct grant, and not an activation
    /// (activations come and go with their eligibility).
    pub fn is_manageable(&self) -> bool {
        self.member_type == MemberType::Direct && self.active_type != Some(ActiveType::Activated)
    }

    /// The role block and policy that govern it.
    pub fn key(&self) -> PolicyKey {
        PolicyKey::of_grant(self.surface, &self.role_id, &self.scope_id)
    }

    /// Whether the grant's end has passed: Graph may still list it, but it
    /// is no longer in effect.
    pub fn has_ended(&self, now: DateTime<Utc>) -> bool {
        self.end().is_some_and(|e| e <= now)
    }
}

/// A directory object that holds, approves or is named by a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub id: ObjectId,
    pub kind: PrincipalKind,
    pub display_name: String,
    /// Users only.
    pub user_principal_name: Option<String>,
    /// Service principals only.
    pub app_id: Option<String>,
    /// Groups only: whether it may hold Entra roles.
    #[serde(default)]
    pub is_assignable_to_role: Option<bool>,
}

impl Principal {
    /// How the configuration refers to it: `user:<upn>`, `group:<name>`,
    /// `sp:<name>`.
    pub fn reference(&self) -> String {
        let (prefix, name) = match (self.kind, &self.user_principal_name) {
            (PrincipalKind::User, Some(upn)) => ("user:", upn),
            (PrincipalKind::User, None) => ("user:", &self.display_name),
            (PrincipalKind::Group, _) => ("group:", &self.display_name),
            (PrincipalKind::ServicePrincipal, _) => ("sp:", &self.display_name),
        };
        // Once per unmanaged grant of a large tenant: concatenation, not
        // the formatter.
        let mut s = String::with_capacity(prefix.len() + name.len());
        s.push_str(prefix);
        s.push_str(name);
        s
    }
}

/// A role definition of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    pub id: ObjectId,
    pub display_name: String,
    pub is_builtin: bool,
}

/// A PIM policy: a directory role's at scope `/`, or a group's for its
/// `member` or `owner` access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub policy_id: String,
    pub role_id: ObjectId,
    /// Where the policy applies: `/` for directory roles, the group's id.
    #[serde(default = "root_scope", skip_serializing_if = "is_root_scope")]
    pub scope_id: String,
    pub rules: RuleSet,
}

impl Policy {
    pub fn key(&self) -> PolicyKey {
        PolicyKey::of_grant(self.surface, &self.role_id, &self.scope_id)
    }
}

fn root_scope() -> String {
    "/".into()
}

fn is_root_scope(s: &str) -> bool {
    s == "/"
}

/// What a policy governs: a role at a scope, on a surface. A directory
/// role has one policy, at `/`, whatever scope its grants have; each group
/// has one per access. Written as the role id for directory roles, and
/// `surface:role@scope` otherwise (`group:member@<group id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKey {
    pub surface: SurfaceKind,
    pub role_id: ObjectId,
    pub scope_id: String,
}

impl PolicyKey {
    /// A directory role's policy.
    pub fn directory(role_id: impl Into<ObjectId>) -> Self {
        PolicyKey {
            surface: SurfaceKind::DirectoryRole,
            role_id: role_id.into(),
            scope_id: "/".into(),
        }
    }

    /// The policy that governs a grant of `surface` on `role_id` at `scope_id`.
    pub fn of_grant(surface: SurfaceKind, role_id: &ObjectId, scope_id: &str) -> Self {
        PolicyKey {
            surface,
            role_id: role_id.clone(),
            scope_id: crate::surface::get(surface)
                .policy_scope(scope_id)
                .to_string(),
        }
    }
}

impl std::fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.surface.is_directory_role() {
            f.write_str(self.role_id.as_str())
        } else {
            write!(
                f,
                "{}:{}@{}",
                self.surface.as_str(),
                self.role_id,
                self.scope_id
            )
        }
    }
}

impl Serialize for PolicyKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let surface = SurfaceKind::ALL
            .iter()
            .find(|k| !k.is_directory_role() && text.starts_with(&format!("{}:", k.as_str())));
        Ok(match (surface, text.split_once('@')) {
            (Some(k), Some((head, scope))) => PolicyKey {
                surface: *k,
                role_id: ObjectId::new(&head[k.as_str().len() + 1..]),
                scope_id: scope.to_string(),
            },
            _ => PolicyKey::directory(ObjectId::new(text)),
        })
    }
}

/// An administrative unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdministrativeUnit {
    pub id: ObjectId,
    pub display_name: String,
}

/// What the tenant holds, as read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub tenant_id: String,
    /// Object id of the identity pim runs as, which exclusive roles never remove.
    pub caller_id: Option<ObjectId>,
    pub grants: Vec<Grant>,
    /// By what each governs.
    pub policies: BTreeMap<PolicyKey, Policy>,
    /// By role definition id.
    pub roles: BTreeMap<ObjectId, RoleDefinition>,
    /// By object id.
    pub principals: BTreeMap<ObjectId, Principal>,
    /// By object id.
    pub administrative_units: BTreeMap<ObjectId, AdministrativeUnit>,
}

impl Current {
    /// A digest of everything read, independent of the order Graph returned
    /// it in: a saved plan made against a different tenant state is stale.
    pub fn fingerprint(&self) -> String {
        let mut grants: Vec<&Grant> = self.grants.iter().collect();
        grants.sort_by(|a, b| {
            a.schedule_id
                .cmp(&b.schedule_id)
                .then_with(|| a.kind.cmp(&b.kind))
        });
        // Each grant is fed to the digest field by field, not as JSON: a
        // large tenant's grants formatted (its times above all) cost a plan
        // more than reading them. Serialising the policies cannot fail; if
        // it did, the digest would only make plans look stale, never fresh.
        let mut h = Sha256::new();
        for g in grants {
            digest_grant(&mut h, g);
        }
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut h);
            let _ = serde_json::to_writer(&mut w, &self.policies);
            let _ = std::io::Write::flush(&mut w);
        }
        format!("sha256:{:x}", h.finalize())
    }
}

/// Feeds every field of `g` to `h`, each string length-prefixed and each
/// absent value tagged, so that no two grants feed the same bytes.
fn digest_grant(h: &mut Sha256, g: &Grant) {
    fn text(h: &mut Sha256, s: &str) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    fn time(h: &mut Sha256, t: Option<DateTime<Utc>>) {
        match t {
            None => h.update([0]),
            Some(t) => {
                h.update([1]);
                h.update(t.timestamp().to_le_bytes());
                h.update(t.timestamp_subsec_nanos().to_le_bytes());
            }
        }
    }
    // Taken apart whole: a field added to `Grant` must be added here.
    let Grant {
        surface,
        kind,
        schedule_id,
        principal_id,
        role_id,
        scope_id,
        start,
        expiration,
        member_type,
        active_type,
        created_using,
        created,
        status,
        condition,
    } = g;
    text(h, surface.as_str());
    h.update([*kind as u8, *member_type as u8]);
    h.update([active_type.map_or(0, |t| 1 + t as u8)]);
    text(h, schedule_id);
    text(h, principal_id);
    text(h, role_id);
    text(h, scope_id);
    time(h, *start);
    match expiration {
        Expiration::Permanent => h.update([0]),
        Expiration::At(t) => {
            h.update([1]);
            time(h, Some(*t));
        }
        Expiration::After(d) => {
            h.update([2]);
            text(h, &d.to_string());
        }
    }
    time(h, *created);
    text(h, status);
    // Absent is not the empty condition: one tag byte before it.
    for o in [created_using, condition] {
        match o {
            None => h.update([0]),
            Some(c) => {
                h.update([1]);
                text(h, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str) -> Grant {
        Grant {
            surface: SurfaceKind::DirectoryRole,
            kind: AssignmentKind::Eligible,
            schedule_id: id.into(),
            principal_id: "p".into(),
            role_id: "r".into(),
            scope_id: "/".into(),
            start: None,
            expiration: Expiration::Permanent,
            member_type: MemberType::Direct,
            active_type: None,
            created_using: None,
            created: None,
            status: "Provisioned".into(),
            condition: None,
        }
    }

    #[test]
    fn fingerprint_ignores_order_and_sees_changes() {
        let a = Current {
            grants: vec![grant("1"), grant("2")],
            ..Current::default()
        };
        let b = Current {
            grants: vec![grant("2"), grant("1")],
            ..Current::default()
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.grants[0].expiration = Expiration::At(Utc::now());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn fingerprint_sees_every_field_and_where_strings_end() {
        let base = Current {
            grants: vec![grant("1")],
            ..Current::default()
        };
        let changes: [fn(&mut Grant); 13] = [
            |g| g.surface = SurfaceKind::Group,
            |g| g.kind = AssignmentKind::Active,
            |g| g.principal_id = "q".into(),
            |g| g.role_id = "s".into(),
            |g| g.scope_id = "/administrativeUnits/x".into(),
            |g| g.start = Some(DateTime::UNIX_EPOCH),
            |g| g.expiration = Expiration::After("P1D".parse().unwrap()),
            |g| g.member_type = MemberType::Group,
            |g| g.active_type = Some(ActiveType::Assigned),
            |g| g.created_using = Some(String::new()),
            |g| g.created = Some(DateTime::UNIX_EPOCH),
            |g| g.status = "Granted".into(),
            // The same bytes, split differently between two fields.
            |g| {
                g.schedule_id = "1p".into();
                g.principal_id = "".into();
            },
        ];
        let mut seen = std::collections::BTreeSet::from([base.fingerprint()]);
        for (i, change) in changes.iter().enumerate() {
            let mut c = base.clone();
            change(&mut c.grants[0]);
            assert!(seen.insert(c.fingerprint()), "change {i} went unseen");
        }
    }
}
