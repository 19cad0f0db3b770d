//! Azure resource roles: an Azure role definition (built-in by name, or
//! any role by its GUID) at an ARM scope (a management group, a
//! subscription, a resource group or a resource), through Azure Resource
//! Manager's `Microsoft.Authorization` provider (`crate::arm`).
//!
//! The model's role id is the role definition's GUID, the same at every
//! scope; its scope id the ARM scope, normalised and in lower case (ARM
//! compares scopes without regard to case). Each role has a policy per
//! scope. Grants are listed per governed scope with `atScope()`, which also
//! lists those made above it: such an inherited grant is shown, never
//! managed at the child. Requests are PUT by a name pim chooses; a policy
//! rule is PATCHed after its policy is found again by role and scope (its
//! name may change on update).

// As in `graph`: `GraphError` is large and rare.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;

use super::{Clients, Interest, Surface, SurfaceRead, TargetProblem, Writers};
use crate::arm::{Arm, ArmRequest, ArmRequestOutcome, ArmSchedule, normalize_scope, role_guid};
use crate::graph::{ErrorKind, GraphError, RequestOutcome, Service};
use crate::model::{
    Address, AssignmentKind, BlockKind, Caseless, Expiration, ObjectId, RoleRef, RuleId, RuleSet,
    RuleValue, ScheduleRequest, Scope, SurfaceKind, closest_azure_roles, find_azure_role, is_guid,
};
use crate::snapshot::{ActiveType, Current, Grant, MemberType, Policy, PolicyKey, RoleDefinition};

/// Roles treated as tier 0 at their scope unless the configuration names
/// its own: those that can grant themselves anything there.
pub const AZURE_TIER0: &[&str] = &[
    "Owner",
    "User Access Administrator",
    "Role Based Access Control Administrator",
];

/// How a custom Azure role's name is kept in a `RoleRef::Name`: apart from
/// directory role names (Entra and Azure both have a "Security Reader").
const CUSTOM: &str = "azure:";

/// The name a custom Azure role reference gives, as Azure names the role.
pub fn azure_role_name(role: &RoleRef) -> &str {
    match role {
        RoleRef::Name(n) => n.strip_prefix(CUSTOM).unwrap_or(n),
        RoleRef::Id(id) => id,
    }
}

/// The condition language version ARM takes (the only one it documents).
const CONDITION_VERSION: &str = "2.0";

/// The Azure resource role surface.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureRoles;

/// An ARM scope as the model keeps it: normalised, lower case.
pub fn scope_id(text: &str) -> Result<String, GraphError> {
    Ok(normalize_scope(text)?.to_ascii_lowercase())
}

/// How a scope under a subscription named by its display name begins.
pub const NAMED_SUBSCRIPTION: &str = "subscription:";

/// `subscription:<display name>[/rest]`, as the model keeps it until the
/// name resolves: the name trimmed, the rest normalised, all in lower case
/// (ARM compares both without regard to case). `None` when `text` is not
/// of that form.
fn named_subscription(text: &str) -> Option<Result<String, String>> {
    let t = text.trim();
    if !t
        .get(..NAMED_SUBSCRIPTION.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(NAMED_SUBSCRIPTION))
    {
        return None;
    }
    let after = &t[NAMED_SUBSCRIPTION.len()..];
    let (name, rest) = after.split_once('/').map_or((after, ""), |(n, r)| (n, r));
    let name = name.trim();
    if name.is_empty() {
        return Some(Err(format!("{text:?} names no subscription")));
    }
    let rest = if rest.is_empty() {
        String::new()
    } else {
        // Checked as it will be sent, under a stand-in subscription id.
        match normalize_scope(&format!("/subscriptions/x/{rest}")) {
            Ok(s) => s["/subscriptions/x".len()..].to_string(),
            Err(e) => return Some(Err(e.message)),
        }
    };
    Some(Ok(
        format!("{NAMED_SUBSCRIPTION}{name}{rest}").to_ascii_lowercase()
    ))
}

/// A scope written with a subscription's display name: the name, and what
/// follows it (`/resourcegroups/…`, or nothing).
pub fn subscription_named(scope: &str) -> Option<(&str, &str)> {
    let after = scope.strip_prefix(NAMED_SUBSCRIPTION)?;
    Some(
        after
            .find('/')
            .map_or((after, ""), |i| (&after[..i], &after[i..])),
    )
}

/// The full role definition id ARM takes for `role` (a GUID) at `scope`:
/// the form ARM's examples send, under the scope's subscription, or the
/// tenant-level form at a management group (UNVERIFIED for management
/// groups: taken from the form the emulator answers with).
pub fn role_definition_id(scope: &str, role: &str) -> String {
    let lower = scope.to_ascii_lowercase();
    let sub = lower
        .strip_prefix("/subscriptions/")
        .and_then(|rest| rest.split('/').next());
    match sub {
        Some(sub) => {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}")
        }
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
    }
}

fn no_arm(op: &str) -> GraphError {
    GraphError {
        service: Service::Arm,
        ..GraphError::new(
            ErrorKind::Config,
            op,
            "the configuration governs Azure roles, and pim has no client for Azure Resource Manager",
        )
    }
}

fn arm<'a>(a: Option<&'a dyn Arm>, op: &str) -> Result<&'a dyn Arm, GraphError> {
    a.ok_or_else(|| no_arm(op))
}

/// Whether an active schedule or instance was assigned or activated
/// (`assignmentType`); `None` for eligibilities.
pub(crate) fn active_type(s: &ArmSchedule) -> Option<ActiveType> {
    match (s.kind, s.assignment_type.as_deref()) {
        (AssignmentKind::Active, Some(t)) if t.eq_ignore_ascii_case("Activated") => {
            Some(ActiveType::Activated)
        }
        (AssignmentKind::Active, _) => Some(ActiveType::Assigned),
        _ => None,
    }
}

/// A schedule request as ARM takes it, under a fresh name: the schedule
/// only with the actions that send one, and so the condition.
pub(crate) fn arm_request(r: &ScheduleRequest) -> ArmRequest {
    let mut req = ArmRequest::new(
        r.kind,
        r.scope_id.clone(),
        r.action,
        r.principal_id.clone(),
        role_definition_id(&r.scope_id, &r.role_id),
    );
    req.schedule = r.schedule.clone().filter(|_| r.action.sends_schedule());
    req.justification = r.justification.clone();
    req.ticket = r.ticket.clone();
    if r.action.sends_schedule() {
        req.condition = r.condition.clone();
        req.condition_version = r.condition.as_ref().map(|_| CONDITION_VERSION.to_string());
    }
    req
}

/// ARM's answer to a schedule request in the model's words. The request
/// id is its name (the GUID pim chose), as short as Graph's; ARM answers
/// `ticketInfo` with nulls when none was given, so the ticket is left to
/// the caller, who knows what was sent.
pub(crate) fn outcome(o: ArmRequestOutcome) -> RequestOutcome {
    let action = o.action.map(|a| a.as_str().to_string()).unwrap_or_default();
    let name = if o.name.is_empty() {
        role_guid(&o.id)
    } else {
        o.name.to_ascii_lowercase()
    };
    RequestOutcome {
        surface: SurfaceKind::AzureRole,
        kind: o.kind,
        request_id: name,
        status: o.status,
        action,
        principal_id: o.principal_id,
        role_id: ObjectId::new(role_guid(&o.role_definition_id)),
        scope_id: o.scope.to_ascii_lowercase(),
        target_schedule_id: o.target_schedule_id.as_deref().map(schedule_name),
        justification: o.justification,
        created: o.created,
        approval_id: o.approval_id,
        schedule: o.schedule,
        ticket: None,
        created_by: None,
        completed: None,
        reconciled: o.reconciled,
    }
}

/// A schedule ARM listed, in the model: an inherited one (granted above
/// the scope it was listed at) keeps the scope it lives at, and is never
/// manageable.
fn grant_of(s: ArmSchedule) -> Grant {
    let member_type = if s.inherited {
        MemberType::Inherited
    } else {
        s.member_type
    };
    let active_type = active_type(&s);
    Grant {
        surface: SurfaceKind::AzureRole,
        kind: s.kind,
        schedule_id: schedule_name(&s.id),
        principal_id: s.principal_id,
        role_id: ObjectId::new(role_guid(&s.role_definition_id)),
        scope_id: s.scope.to_ascii_lowercase(),
        start: s.start,
        expiration: s.end.map_or(Expiration::Permanent, Expiration::At),
        member_type,
        active_type,
        created_using: s.request_id,
        created: None,
        status: s.status.unwrap_or_default(),
        condition: s.condition.filter(|c| !c.trim().is_empty()),
    }
}

/// A schedule as state records it: its name (a GUID), lower case. ARM
/// gives the full id in some answers and the name in others, and the
/// full id in whatever case the scope was written.
fn schedule_name(id: &str) -> String {
    role_guid(id)
}

fn role_definition(id: &str) -> Option<RoleDefinition> {
    find_azure_role(id).map(|r| RoleDefinition {
        id: ObjectId::new(r.id.as_str()),
        display_name: r.display_name.clone(),
        is_builtin: true,
    })
}

#[async_trait]
impl Surface for AzureRoles {
    fn kind(&self) -> SurfaceKind {
        SurfaceKind::AzureRole
    }

    fn role_attribute(&self) -> &'static str {
        "azure_role"
    }

    fn scope_attribute(&self) -> &'static str {
        "scope"
    }

    fn label_prefix(&self) -> Option<&'static str> {
        Some("azure:")
    }

    fn label_attribute(&self) -> Option<&'static str> {
        Some("scope")
    }

    /// A built-in role by name (whatever the case) or GUID, kept as its
    /// GUID; any other GUID is taken as a custom role's.
    fn parse_role(
        &self,
        text: &str,
        _custom: &HashSet<Caseless>,
    ) -> Result<RoleRef, TargetProblem> {
        let t = text.trim();
        if let Some(b) = find_azure_role(t) {
            return Ok(RoleRef::Id(b.id.clone()));
        }
        if is_guid(t) {
            return Ok(RoleRef::Id(ObjectId::new(t).into_string()));
        }
        // A name this close to a built-in one is its misspelling; any other
        // is a custom role's, looked up at its scope when planning.
        let close = closest_azure_roles(t, 3);
        if t.is_empty() || crate::model::closest_names(t, close.iter().copied(), 1, 0.9).len() == 1
        {
            let quoted: Vec<String> = close.iter().map(|c| format!("\"{c}\"")).collect();
            return Err(TargetProblem {
                message: format!("unknown Azure role \"{t}\""),
                hint: Some(format!(
                    "did you mean {}? a custom role is named as Azure names it, or by its GUID",
                    quoted.join(", ")
                )),
            });
        }
        Ok(RoleRef::Name(format!("{CUSTOM}{t}")))
    }

    /// An ARM scope, required: Azure roles have no default scope.
    fn parse_scope(&self, text: Option<&str>) -> Result<Scope, TargetProblem> {
        let example = "/subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name>, a resource id, or /providers/Microsoft.Management/managementGroups/<id>";
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(TargetProblem {
                message: "an Azure role grant needs a scope".into(),
                hint: Some(format!("set scope to {example}")),
            });
        };
        if let Some(named) = named_subscription(text) {
            return named.map(Scope::Azure).map_err(|message| TargetProblem {
                message,
                hint: Some(
                    "write subscription:<display name>, optionally followed by /resourceGroups/<name> and what is under it"
                        .into(),
                ),
            });
        }
        match scope_id(text) {
            Ok(id) if !id.is_empty() => Ok(Scope::Azure(id)),
            Ok(_) => Err(TargetProblem {
                message: format!("{text:?} is the tenant root, where PIM grants no Azure role"),
                hint: Some(format!("use {example}")),
            }),
            Err(e) => Err(TargetProblem {
                message: e.message,
                hint: Some(format!("use {example}")),
            }),
        }
    }

    /// `azure:<role>` labels a role; its scope is the block's `scope`.
    fn parse_label(
        &self,
        label: &str,
        scope: Option<&str>,
        custom: &HashSet<Caseless>,
    ) -> Result<(RoleRef, Scope), TargetProblem> {
        let name = label.trim().strip_prefix("azure:").unwrap_or(label).trim();
        let role = self.parse_role(name, custom)?;
        let Some(scope) = scope else {
            return Err(TargetProblem {
                message: "an Azure role's block needs a scope".into(),
                hint: Some(
                    "an Azure role has a policy at each scope: set scope = \"/subscriptions/<id>\" (or another ARM scope)"
                        .into(),
                ),
            });
        };
        Ok((role, self.parse_scope(Some(scope))?))
    }

    fn role_name(&self, current: &Current, role_id: &str) -> String {
        if let Some(b) = find_azure_role(role_id) {
            return b.display_name.clone();
        }
        current
            .roles
            .get(role_id)
            .map_or_else(|| role_id.to_string(), |r| r.display_name.clone())
    }

    fn scope_name(&self, _current: &Current, scope_id: &str) -> String {
        scope_id.to_string()
    }

    /// `Owner at /subscriptions/…`.
    fn policy_name(&self, current: &Current, role_id: &str, scope_id: &str) -> String {
        format!("{} at {scope_id}", self.role_name(current, role_id))
    }

    /// Each role has a policy at each scope.
    fn policy_scope<'s>(&self, scope_id: &'s str) -> &'s str {
        scope_id
    }

    /// `policy["azure:Owner"]["/subscriptions/…"]`: one block per role and
    /// scope.
    fn role_block_address(&self, kind: BlockKind, role: &RoleRef, scope: &Scope) -> Address {
        let name = match role {
            RoleRef::Id(id) => find_azure_role(id).map_or(id.as_str(), |b| b.display_name.as_str()),
            RoleRef::Name(_) => azure_role_name(role),
        };
        Address::new(kind, format!("azure:{name}")).with_key(scope.to_string())
    }

    fn default_rules(&self) -> RuleSet {
        let parsed: Result<serde_json::Value, _> =
            serde_json::from_str(crate::model::default_azure_rules_json());
        let rules = parsed
            .ok()
            .and_then(|v| v.get("rules").and_then(|r| r.as_array()).cloned())
            .unwrap_or_default();
        // Compiled in and checked by a unit test.
        crate::arm::convert::rule_set_from_wire(&rules).unwrap_or_default()
    }

    fn default_tier0(&self) -> &'static [&'static str] {
        AZURE_TIER0
    }

    /// Both kinds of schedule at every governed scope (`atScope()`, all at
    /// once within ARM's limits), and the policy of each governed role at
    /// each of its scopes. Nothing is read when no scope is governed: ARM
    /// cannot list every scope a tenant has.
    async fn read(
        &self,
        clients: Clients<'_>,
        interest: Interest<'_>,
    ) -> Result<SurfaceRead, GraphError> {
        let scopes: Vec<String> = interest
            .scopes
            .unwrap_or_default()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if scopes.is_empty() && interest.targets.is_empty() {
            return Ok(SurfaceRead::default());
        }
        let arm = arm(clients.arm, "read Azure role grants")?;
        let policies =
            futures::future::try_join_all(interest.targets.iter().map(|k| async move {
                let full = role_definition_id(&k.scope_id, &k.role_id);
                Ok::<_, GraphError>(arm.policy_for_role(&k.scope_id, &full).await?.map(|p| {
                    Policy {
                        surface: SurfaceKind::AzureRole,
                        policy_id: p.id,
                        role_id: k.role_id.clone(),
                        scope_id: k.scope_id.clone(),
                        rules: p.rules,
                    }
                }))
            }));
        let (eligible, active, policies) = futures::try_join!(
            arm.schedules_at(AssignmentKind::Eligible, &scopes),
            arm.schedules_at(AssignmentKind::Active, &scopes),
            policies,
        )?;
        let governed: HashSet<&str> = scopes.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let mut grants = Vec::new();
        for s in eligible.into_iter().chain(active).flatten() {
            let g = grant_of(s);
            // A grant made at a governed scope is read there, directly;
            // seen again from a scope below it, it is the same grant.
            if g.member_type == MemberType::Inherited && governed.contains(g.scope_id.as_str()) {
                continue;
            }
            if seen.insert((g.kind, g.schedule_id.to_ascii_lowercase())) {
                grants.push(g);
            }
        }
        let roles: BTreeSet<&str> = grants
            .iter()
            .map(|g| g.role_id.as_str())
            .chain(interest.targets.iter().map(|k| k.role_id.as_str()))
            .collect();
        let roles = roles.into_iter().filter_map(role_definition).collect();
        Ok(SurfaceRead {
            grants,
            policies: policies.into_iter().flatten().collect(),
            roles,
        })
    }

    /// PUT under a fresh name at the grant's scope.
    async fn submit(
        &self,
        to: Writers<'_>,
        r: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        let arm = arm(to.arm, "send an Azure role request")?;
        let o = arm.create_request(&arm_request(r)).await?;
        // Apply records a request by its full id, where ARM keeps it.
        Ok(RequestOutcome {
            request_id: o.id.clone(),
            action: o.action.unwrap_or(r.action).as_str().to_string(),
            ticket: r.ticket.clone(),
            ..outcome(o)
        })
    }

    /// The rule is sent whole, in a PATCH of the policy found again by role
    /// and scope: its name may have changed since the plan read it.
    async fn update_rule(
        &self,
        to: Writers<'_>,
        key: &PolicyKey,
        _policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<String, GraphError> {
        let arm = arm(to.arm, "update an Azure role's policy")?;
        let mut rules = RuleSet::default();
        rules.rules.insert(rule, value.clone());
        let full = role_definition_id(&key.scope_id, &key.role_id);
        Ok(arm
            .update_role_policy(&key.scope_id, &full, &rules)
            .await?
            .id)
    }

    async fn find_schedule(
        &self,
        to: Writers<'_>,
        r: &ScheduleRequest,
    ) -> Result<Option<String>, GraphError> {
        let arm = arm(to.arm, "find an Azure role schedule")?;
        let listed = arm.schedules(r.kind, &r.scope_id).await?;
        Ok(listed
            .into_iter()
            .map(grant_of)
            .filter(|g| {
                g.principal_id == r.principal_id
                    && g.role_id == r.role_id
                    && g.scope_id == r.scope_id
                    && g.is_manageable()
            })
            .max_by_key(|g| g.end().map_or((1, None), |e| (0, Some(e))))
            .map(|g| g.schedule_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/11111111-1111-4111-8111-111111111111";

    #[test]
    fn a_role_is_a_builtin_name_or_a_guid() {
        let s = AzureRoles;
        let none = HashSet::new();
        assert_eq!(
            s.parse_role("owner", &none),
            Ok(RoleRef::Id("8e3af657-a8ff-443c-a75c-2fe8c4bcb635".into()))
        );
        assert_eq!(
            s.parse_role("9980E02C-C2BE-4D73-94E8-173B1DC7CF3C", &none),
            Ok(RoleRef::Id("9980e02c-c2be-4d73-94e8-173b1dc7cf3c".into()))
        );
        let bad = s.parse_role("Contributer", &none).unwrap_err();
        assert_eq!(bad.message, "unknown Azure role \"Contributer\"");
        assert!(bad.hint.is_some_and(|h| h.contains("\"Contributor\"")));
        // Any other name is a custom role's, looked up when planning, and
        // never taken for a directory role of the same name.
        let custom = s.parse_role("Contoso Payments Operator", &none).unwrap();
        assert_eq!(
            custom,
            RoleRef::Name("azure:Contoso Payments Operator".into())
        );
        assert_eq!(azure_role_name(&custom), "Contoso Payments Operator");
        assert!(custom.builtin().is_none());
    }

    #[test]
    fn a_scope_is_an_arm_scope_and_is_required() {
        let s = AzureRoles;
        assert_eq!(
            s.parse_scope(Some(&format!("{SUB}/resourceGroups/RG-Prod/"))),
            Ok(Scope::Azure(format!("{SUB}/resourcegroups/rg-prod")))
        );
        assert_eq!(
            s.parse_scope(Some(
                "/providers/Microsoft.Management/managementGroups/Contoso"
            )),
            Ok(Scope::Azure(
                "/providers/microsoft.management/managementgroups/contoso".into()
            ))
        );
        assert_eq!(
            s.parse_scope(Some(
                "Subscription: Contoso Production /resourceGroups/RG-Data"
            )),
            Ok(Scope::Azure(
                "subscription:contoso production/resourcegroups/rg-data".into()
            ))
        );
        assert_eq!(
            subscription_named("subscription:contoso production/resourcegroups/rg-data"),
            Some(("contoso production", "/resourcegroups/rg-data"))
        );
        assert!(s.parse_scope(Some("subscription:")).is_err());
        assert!(s.parse_scope(Some("subscription:x/../y")).is_err());
        assert!(s.parse_scope(None).is_err());
        assert!(s.parse_scope(Some("/")).is_err());
        assert!(s.parse_scope(Some("/administrativeUnits/Paris")).is_err());
        assert!(s.parse_scope(Some(&format!("{SUB}/../x"))).is_err());
    }

    #[test]
    fn role_definition_ids_are_under_the_scopes_subscription() {
        assert_eq!(
            role_definition_id(&format!("{SUB}/resourcegroups/rg"), "abc"),
            format!("{SUB}/providers/Microsoft.Authorization/roleDefinitions/abc")
        );
        assert_eq!(
            role_definition_id(
                "/providers/microsoft.management/managementgroups/contoso",
                "abc"
            ),
            "/providers/Microsoft.Authorization/roleDefinitions/abc"
        );
    }

    #[test]
    fn each_role_at_each_scope_has_its_own_block_address() {
        let s = AzureRoles;
        let owner = s.parse_role("Owner", &HashSet::new()).unwrap();
        let a = s.role_block_address(
            BlockKind::Policy,
            &owner,
            &Scope::Azure(SUB.to_ascii_lowercase()),
        );
        assert_eq!(
            a.to_string(),
            format!("policy[\"azure:Owner\"][\"{}\"]", SUB.to_ascii_lowercase())
        );
        assert_eq!(s.default_rules().rules.len(), 17);
    }

    #[test]
    fn an_inherited_schedule_is_never_manageable() {
        let s = ArmSchedule {
            kind: AssignmentKind::Eligible,
            id: format!("{SUB}/providers/Microsoft.Authorization/roleEligibilitySchedules/x"),
            name: "x".into(),
            scope: SUB.into(),
            role_definition_id: role_definition_id(SUB, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            principal_id: ObjectId::new("a"),
            principal_type: None,
            member_type: MemberType::Direct,
            inherited: true,
            start: None,
            end: None,
            status: None,
            assignment_type: None,
            condition: None,
            condition_version: None,
            linked_eligibility_schedule_id: None,
            schedule_id: None,
            request_id: None,
        };
        let g = grant_of(s);
        assert_eq!(g.member_type, MemberType::Inherited);
        assert!(!g.is_manageable());
        assert_eq!(g.role_id, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
    }
}
