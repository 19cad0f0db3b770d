//! PIM for Groups in the store: each group's member and owner policies and
//! their ids before and after onboarding, who a group's members and owners
//! are (outside PIM and through active grants), and approval decisions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::policies::{PolicyRec, PolicyScope, default_rules};
use super::seed::POLICY_NAMESPACE;
use super::{Key, Kind, Store, Surface};
use crate::odata::fold;

/// The two relationships PIM for Groups grants, in the order their
/// policies are listed.
pub(crate) const ACCESS: [&str; 2] = ["member", "owner"];

/// A decision made through the approvals API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Review {
    pub approve: bool,
    pub by_id: String,
    pub by_name: Option<String>,
    pub at: DateTime<Utc>,
    pub justification: Option<String>,
}

/// `<groupId>_<guid>`: the part of a group policy's id after `Group_`,
/// derived so that it is stable across restarts and changes once, when
/// the group is onboarded.
pub(super) fn group_policy_suffix(
    tenant_id: &str,
    group_id: &str,
    access: &str,
    onboarded: bool,
) -> String {
    let phase = if onboarded { "onboarded" } else { "new" };
    let guid = Uuid::new_v5(
        &POLICY_NAMESPACE,
        format!("{tenant_id}/group/{group_id}/{access}/{phase}").as_bytes(),
    );
    format!("{group_id}_{guid}")
}

/// A group's policy for one access, with the default rules.
pub(super) fn default_group_policy(
    tenant_id: &str,
    group_id: &str,
    access: &str,
    onboarded: bool,
) -> PolicyRec {
    let group_id = group_id.to_ascii_lowercase();
    PolicyRec {
        suffix: group_policy_suffix(tenant_id, &group_id, access, onboarded),
        scope: PolicyScope::Group(group_id),
        role_id: access.to_string(),
        rules: default_rules(Surface::Group),
        last_modified: None,
        last_modified_by: None,
    }
}

impl Store {
    pub fn is_onboarded(&self, group_id: &str) -> bool {
        self.onboarded.contains(&group_id.to_ascii_lowercase())
    }

    /// Onboard a group to PIM (its first request, policy or rule update):
    /// both its policies take new ids, as Graph's do. Ids a tenant file
    /// gave are kept. Returns whether the group was new to PIM.
    pub fn onboard(&mut self, group_id: &str) -> bool {
        let group_id = group_id.to_ascii_lowercase();
        if !self.onboarded.insert(group_id.clone()) {
            return false;
        }
        let tenant_id = self.tenant_id.clone();
        for p in &mut self.policies {
            if p.scope == PolicyScope::Group(group_id.clone())
                && p.suffix == group_policy_suffix(&tenant_id, &group_id, &p.role_id, false)
            {
                p.suffix = group_policy_suffix(&tenant_id, &group_id, &p.role_id, true);
            }
        }
        true
    }

    /// The group's policies, created when the group is: Graph lists them
    /// for every group, onboarded or not.
    pub(super) fn add_group_policies(&mut self, group_id: &str) {
        let onboarded = self.is_onboarded(group_id);
        for access in ACCESS {
            let p = default_group_policy(&self.tenant_id, group_id, access, onboarded);
            self.policies.push(p);
        }
    }

    /// Object ids of the group's members (`access` `member`) or owners:
    /// those added outside PIM, then those holding an active grant now.
    pub fn group_principals(
        &self,
        group_id: &str,
        access: &str,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut out: Vec<String> = self
            .group_by_id(group_id)
            .map(|g| match access {
                "owner" => g.owners.clone(),
                _ => g.members.clone(),
            })
            .unwrap_or_default()
            .into_iter()
            .map(|id| id.to_ascii_lowercase())
            .collect();
        let schedules = &self.schedules;
        let active = schedules
            .positions(schedules.keyed(Key::Scope, &fold(group_id)))
            .map(|i| &schedules[i])
            .filter(|s| {
                s.surface == Surface::Group
                    && s.kind == Kind::Assignment
                    && s.role_id.eq_ignore_ascii_case(access)
                    && s.is_visible()
                    && s.is_active(now)
            });
        for s in active {
            let id = s.principal_id.to_ascii_lowercase();
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }
}
