//! Self-service on Azure resource roles, through the ARM client beside the
//! Graph one: naming a role at an ARM scope, reading the caller's own
//! instances (`asTarget()`), and sending, reading and canceling their
//! requests. The checks themselves are the same as for the other surfaces
//! (`activate`, `change`); this module only reaches ARM for them.

// As in `graph`: `SelfServiceError` carries a `GraphError`, large and rare.
#![allow(clippy::result_large_err)]

use crate::arm::{Arm, ArmSchedule, role_guid, same_scope};
use crate::graph::{ErrorKind, Graph, GraphError, Instance, RequestOutcome};
use crate::model::{
    AssignmentKind, ObjectId, ScheduleRequest, SurfaceKind, closest_azure_roles, find_azure_role,
    is_guid,
};
use crate::snapshot::MemberType;
use crate::surface::{
    azure_active_type as active_type, azure_outcome as outcome, azure_request as arm_request,
    azure_scope_id,
};

use super::{SelfServiceError, Target};

const AZ: SurfaceKind = SurfaceKind::AzureRole;

/// Whether `--scope` names an ARM scope (a subscription, resource group,
/// resource or management group) rather than a directory scope.
pub fn is_arm_scope(scope: &str) -> bool {
    let s = scope.trim().trim_start_matches('/').to_ascii_lowercase();
    s.starts_with("subscriptions/") || s.starts_with("providers/")
}

/// The ARM client, or why there is none.
pub(crate) fn arm(graph: &dyn Graph) -> Result<&dyn Arm, SelfServiceError> {
    graph.arm().ok_or(SelfServiceError::NoArm)
}

/// An Azure role (a built-in one by name, whatever the case, or any role
/// by its GUID) at an ARM scope, normalised as the model keeps it.
pub fn resolve_azure_target(role: &str, scope: &str) -> Result<Target, SelfServiceError> {
    let (role_id, role_name) = resolve_azure_role(role)?;
    let scope_id = match azure_scope_id(scope) {
        Ok(id) if !id.is_empty() => id,
        _ => {
            return Err(SelfServiceError::UnknownAzureScope(
                scope.trim().to_string(),
            ));
        }
    };
    Ok(Target {
        surface: AZ,
        role_id,
        role_name,
        scope_name: scope_id.clone(),
        scope_id,
    })
}

/// An Azure role's GUID and name, from its built-in name or a GUID.
pub(crate) fn resolve_azure_role(role: &str) -> Result<(ObjectId, String), SelfServiceError> {
    let given = role.trim();
    let given = given.strip_prefix("azure:").unwrap_or(given).trim();
    let (role_id, role_name) = match find_azure_role(given) {
        Some(b) => (ObjectId::new(b.id.as_str()), b.display_name.clone()),
        None if is_guid(given) => (ObjectId::new(given), given.to_ascii_lowercase()),
        None => {
            return Err(SelfServiceError::UnknownRole {
                name: given.to_string(),
                suggestions: closest_azure_roles(given, 3)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            });
        }
    };
    Ok((role_id, role_name))
}

/// The name of a built-in Azure role, or the id.
pub(crate) fn role_name(role_id: &str) -> Option<String> {
    find_azure_role(role_id).map(|r| r.display_name.clone())
}

/// An instance ARM listed, in the model's words: role by GUID, scope
/// normalised in lower case, and a grant made above the scope it was
/// listed at marked inherited.
pub(crate) fn instance(s: ArmSchedule) -> Instance {
    let member_type = if s.inherited && s.member_type == MemberType::Direct {
        MemberType::Inherited
    } else {
        s.member_type
    };
    let active_type = active_type(&s);
    Instance {
        surface: AZ,
        kind: s.kind,
        id: s.name,
        principal_id: s.principal_id,
        role_id: ObjectId::new(role_guid(&s.role_definition_id)),
        scope_id: s.scope.to_ascii_lowercase(),
        start: s.start,
        end: s.end,
        member_type,
        active_type,
        schedule_id: s.schedule_id.as_deref().map(role_guid),
    }
}

/// `inner` lies below `outer` in ARM's path (a resource group below its
/// subscription). A management group's children are not below it in the
/// path: only ARM knows them.
fn is_below(inner: &str, outer: &str) -> bool {
    let (i, o) = (inner.to_ascii_lowercase(), outer.to_ascii_lowercase());
    i.len() > o.len() && i.starts_with(&o) && i.as_bytes()[o.len()] == b'/'
}

/// The caller's instances of `kind` (`asTarget()`) across every scope.
/// ARM's listing without a scope is what azure-pim-cli is seen to use for
/// both kinds (arm-pim.md §5.2, observed, not documented). Should ARM
/// refuse it for active assignments, they are listed at the scopes of the
/// caller's eligibilities instead (what was activated from them; an
/// administrator's active assignment elsewhere is then not seen).
pub(crate) async fn my_instances(
    graph: &dyn Graph,
    kind: AssignmentKind,
) -> Result<Vec<Instance>, SelfServiceError> {
    let arm = arm(graph)?;
    let listed = match arm.my_instances(kind, None).await {
        Ok(listed) => listed,
        Err(e) if kind == AssignmentKind::Active && refused_without_scope(&e) => {
            let eligible = arm.my_instances(AssignmentKind::Eligible, None).await?;
            let scopes = scopes_of(&eligible.into_iter().map(instance).collect::<Vec<_>>());
            let lists = futures::future::try_join_all(
                scopes.iter().map(|s| arm.my_instances(kind, Some(s))),
            )
            .await?;
            let mut seen = std::collections::HashSet::new();
            lists
                .into_iter()
                .flatten()
                .filter(|s| seen.insert(s.id.to_ascii_lowercase()))
                // Listed at another grant's scope, what is below it is not
                // inherited: ARM's memberType says where it lives.
                .map(|mut s| {
                    s.inherited = s.member_type == MemberType::Inherited;
                    s
                })
                .collect()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(listed.into_iter().map(instance).collect())
}

/// ARM's answer to a list it does not take without a scope: a 400
/// (`InvalidFilter`, `BadRequest`: UNVERIFIED which).
fn refused_without_scope(e: &GraphError) -> bool {
    e.status == Some(400)
}

/// The caller's instances of `kind` that hold the target's role at its
/// scope. An eligibility counts when it is made at the scope or above it
/// (a management group's or subscription's, seen from below): ARM's docs
/// say only that activating needs "an eligible role assignment on the
/// scope"; that one inherited from above counts, activated at the child
/// scope, is UNVERIFIED (the emulator accepts it; ARM decides in the end,
/// and its `EligibilityRule` refusal is reported). An active assignment
/// counts only at the scope itself.
pub(crate) async fn held_at(
    graph: &dyn Graph,
    t: &Target,
    kind: AssignmentKind,
) -> Result<Vec<Instance>, SelfServiceError> {
    let arm = arm(graph)?;
    let listed = arm.my_instances(kind, Some(&t.scope_id)).await?;
    Ok(listed
        .into_iter()
        .filter(|s| match kind {
            AssignmentKind::Eligible => covers(s, &t.scope_id),
            AssignmentKind::Active => same_scope(&s.scope, &t.scope_id),
        })
        .map(instance)
        .filter(|i| i.role_id == t.role_id)
        .collect())
}

/// Whether a grant listed at `scope` holds there: ARM lists what is at,
/// above and (without `atScope()`) below it. Above and below show in the
/// path, except between a management group and what it holds, where
/// ARM's `memberType` tells (`Inherited` from above; what is below is
/// `Direct` where it lives).
fn covers(s: &ArmSchedule, scope: &str) -> bool {
    same_scope(&s.scope, scope)
        || (!is_below(&s.scope, scope)
            && (is_below(scope, &s.scope) || s.member_type != MemberType::Direct))
}

/// The caller's requests of `kind` (`asTarget()`) listed at each of
/// `scopes`, each once. ARM documents no tenant-wide list of a user's
/// requests, so they are asked for where the caller holds something. That
/// a list at a scope also shows what was asked below it (an activation at
/// a subscription, listed at the management group of its eligibility) is
/// what the spec says of `principalId eq` and the emulator does for
/// `asTarget()`: UNVERIFIED on ARM.
pub(crate) async fn my_requests(
    graph: &dyn Graph,
    kind: AssignmentKind,
    scopes: &[String],
) -> Result<Vec<RequestOutcome>, SelfServiceError> {
    let arm = arm(graph)?;
    let lists = futures::future::try_join_all(
        scopes
            .iter()
            .map(|s| arm.my_requests(kind, s, crate::graph::RequestParty::Principal)),
    )
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(lists
        .into_iter()
        .flatten()
        .map(outcome)
        .filter(|r| seen.insert(r.request_id.to_ascii_lowercase()))
        .collect())
}

/// Activation requests waiting for the caller's approval, anywhere
/// (`asApprover()` at the tenant root: EasyPIM lists them there with an
/// older preview api-version; UNVERIFIED with 2020-10-01).
pub(crate) async fn to_approve(graph: &dyn Graph) -> Result<Vec<RequestOutcome>, SelfServiceError> {
    let arm = arm(graph)?;
    Ok(arm
        .my_requests(
            AssignmentKind::Active,
            "/",
            crate::graph::RequestParty::Approver,
        )
        .await?
        .into_iter()
        .map(outcome)
        .collect())
}

/// Decide the stage of `r`'s approval assigned to the caller, through
/// ARM's approvals API (2021-01-01-preview).
pub(crate) async fn decide(
    graph: &dyn Graph,
    r: &RequestOutcome,
    approve: bool,
    justification: &str,
) -> Result<(), SelfServiceError> {
    let arm = arm(graph)?;
    let Some(approval_id) = r.approval_id.as_deref() else {
        return Err(SelfServiceError::NotWaitingForYou(r.request_id.clone()));
    };
    let approval = arm.approval(approval_id).await?;
    let Some(stage) = approval
        .stages
        .iter()
        .find(|s| s.assigned_to_me && s.status.eq_ignore_ascii_case("InProgress"))
    else {
        return Err(SelfServiceError::NotWaitingForYou(r.request_id.clone()));
    };
    match arm.decide_stage(&stage.id, approve, justification).await {
        Ok(()) => Ok(()),
        // Decided by another approver first (the emulator's code; ARM's
        // own is UNVERIFIED), or no longer the caller's to decide.
        Err(e) if e.status == Some(400) || e.status == Some(409) => {
            Err(SelfServiceError::AlreadyDecided {
                request_id: r.request_id.clone(),
            })
        }
        Err(e) if e.kind == ErrorKind::Forbidden => {
            Err(SelfServiceError::NotWaitingForYou(r.request_id.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The scopes at which the caller holds an Azure role now, eligible or
/// active, each once.
pub(crate) fn scopes_of<'a>(held: impl IntoIterator<Item = &'a Instance>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for i in held {
        if i.surface == AZ && !scopes.iter().any(|s| same_scope(s, &i.scope_id)) {
            scopes.push(i.scope_id.clone());
        }
    }
    scopes
}

/// The full id of the eligibility schedule an instance comes from, as
/// `linkedRoleEligibilityScheduleId` takes it.
pub(crate) fn eligibility_schedule_id(i: &Instance) -> Option<String> {
    let name = i.schedule_id.as_deref()?;
    Some(format!(
        "{}/providers/Microsoft.Authorization/roleEligibilitySchedules/{name}",
        i.scope_id
    ))
}

/// PUT a checked self-service request to ARM under a fresh name; an
/// activation names the eligibility it uses.
pub(crate) async fn submit(
    graph: &dyn Graph,
    r: &ScheduleRequest,
    linked_eligibility: Option<&str>,
) -> Result<RequestOutcome, SelfServiceError> {
    let arm = arm(graph)?;
    let mut req = arm_request(r);
    req.linked_eligibility_schedule_id = linked_eligibility.map(str::to_string);
    let o = arm
        .create_request(&req)
        .await
        .map_err(|e| SelfServiceError::rejected(r.action, e))?;
    let mut out = outcome(o);
    // ARM answers `ticketInfo` with nulls when none was given; the
    // request's own is what was sent.
    if out.ticket.is_none() {
        out.ticket = r.ticket.clone();
    }
    Ok(out)
}

/// An ARM schedule request id: `{scope}/providers/Microsoft.Authorization/
/// role{Eligibility|Assignment}ScheduleRequests/{name}`, split into its
/// kind, scope and name.
pub(crate) fn parse_request_id(id: &str) -> Option<(AssignmentKind, String, String)> {
    let lower = id.trim().to_ascii_lowercase();
    for (segment, kind) in [
        ("roleassignmentschedulerequests", AssignmentKind::Active),
        ("roleeligibilityschedulerequests", AssignmentKind::Eligible),
    ] {
        let marker = format!("/providers/microsoft.authorization/{segment}/");
        if let Some(at) = lower.rfind(&marker) {
            let name = lower[at + marker.len()..].trim_end_matches('/');
            if name.is_empty() || name.contains('/') {
                return None;
            }
            let scope = azure_scope_id(&lower[..at]).ok()?;
            return Some((kind, scope, name.to_string()));
        }
    }
    None
}

/// One of the caller's Azure requests by ARM's full id of it (as ARM's
/// own tools show it); `None` when `id` is not one, or ARM has no such
/// request.
pub(crate) async fn get_request_by_id(
    graph: &dyn Graph,
    id: &str,
) -> Result<Option<RequestOutcome>, SelfServiceError> {
    let Some((kind, scope, name)) = parse_request_id(id) else {
        return Ok(None);
    };
    match arm(graph)?.get_request(kind, &scope, &name).await {
        Ok(o) => Ok(Some(outcome(o))),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A request read again where it was made.
pub(crate) async fn reread(
    graph: &dyn Graph,
    r: &RequestOutcome,
) -> Result<RequestOutcome, SelfServiceError> {
    let arm = arm(graph)?;
    Ok(outcome(
        arm.get_request(r.kind, &r.scope_id, &r.request_id).await?,
    ))
}

/// Cancel an Azure request still pending, where it was made.
pub(crate) async fn cancel(graph: &dyn Graph, r: &RequestOutcome) -> Result<(), GraphError> {
    match graph.arm() {
        Some(arm) => arm.cancel_request(r.kind, &r.scope_id, &r.request_id).await,
        None => Err(GraphError::new(
            ErrorKind::Config,
            "cancel an Azure role request",
            "pim has no client for Azure Resource Manager",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";

    #[test]
    fn arm_scopes_are_told_from_directory_scopes() {
        assert!(is_arm_scope(SUB));
        assert!(is_arm_scope("subscriptions/x/resourceGroups/rg"));
        assert!(is_arm_scope(
            "/providers/Microsoft.Management/managementGroups/contoso"
        ));
        assert!(!is_arm_scope("/"));
        assert!(!is_arm_scope("/administrativeUnits/Paris"));
        assert!(!is_arm_scope("Paris"));
    }

    #[test]
    fn an_azure_target_is_a_builtin_name_or_guid_at_a_normalised_scope() {
        let t = resolve_azure_target("owner", &format!("{SUB}/resourceGroups/RG-Data/")).unwrap();
        assert_eq!(t.surface, SurfaceKind::AzureRole);
        assert_eq!(t.role_id, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
        assert_eq!(t.role_name, "Owner");
        assert_eq!(t.scope_id, format!("{SUB}/resourcegroups/rg-data"));
        assert_eq!(
            t.subject(),
            format!("Owner at {SUB}/resourcegroups/rg-data")
        );
        let guid = resolve_azure_target("AAAAAAAA-1111-4111-8111-111111111111", SUB).unwrap();
        assert_eq!(guid.role_id, "aaaaaaaa-1111-4111-8111-111111111111");
        match resolve_azure_target("Contributer", SUB) {
            Err(SelfServiceError::UnknownRole { suggestions, .. }) => {
                assert!(
                    suggestions.iter().any(|s| s == "Contributor"),
                    "{suggestions:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve_azure_target("Owner", "/"),
            Err(SelfServiceError::UnknownAzureScope(_))
        ));
        assert!(matches!(
            resolve_azure_target("Owner", "/subscriptions/x/../y"),
            Err(SelfServiceError::UnknownAzureScope(_))
        ));
    }

    #[test]
    fn below_is_by_path_and_never_the_scope_itself() {
        assert!(is_below(&format!("{SUB}/resourcegroups/rg"), SUB));
        assert!(!is_below(SUB, SUB));
        assert!(!is_below(SUB, &format!("{SUB}/resourcegroups/rg")));
        // `…/rg-data` is not below `…/rg`.
        assert!(!is_below(
            &format!("{SUB}/resourcegroups/rg-data"),
            &format!("{SUB}/resourcegroups/rg")
        ));
    }

    #[test]
    fn an_instance_listed_below_its_grant_is_inherited_and_names_its_schedule() {
        let s = ArmSchedule {
            kind: AssignmentKind::Eligible,
            id: format!("{SUB}/providers/Microsoft.Authorization/roleEligibilityScheduleInstances/i"),
            name: "i".into(),
            scope: "/providers/Microsoft.Management/managementGroups/Contoso".into(),
            role_definition_id: "/providers/Microsoft.Authorization/roleDefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635".into(),
            principal_id: ObjectId::new("b"),
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
            schedule_id: Some(
                "/providers/Microsoft.Management/managementGroups/Contoso/providers/Microsoft.Authorization/roleEligibilitySchedules/ABC".into(),
            ),
            request_id: None,
        };
        let i = instance(s);
        assert_eq!(i.member_type, MemberType::Inherited);
        assert_eq!(i.role_id, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
        assert_eq!(
            i.scope_id,
            "/providers/microsoft.management/managementgroups/contoso"
        );
        assert_eq!(i.active_type, None);
        assert_eq!(
            eligibility_schedule_id(&i).as_deref(),
            Some(
                "/providers/microsoft.management/managementgroups/contoso/providers/Microsoft.Authorization/roleEligibilitySchedules/abc"
            )
        );
    }

    #[test]
    fn a_grant_holds_at_its_scope_and_below_never_above() {
        let mg = "/providers/microsoft.management/managementgroups/contoso";
        let rg = format!("{SUB}/resourcegroups/rg");
        let at = |scope: &str, member_type: MemberType| ArmSchedule {
            kind: AssignmentKind::Eligible,
            id: "x".into(),
            name: "x".into(),
            scope: scope.into(),
            role_definition_id: "r".into(),
            principal_id: ObjectId::new("p"),
            principal_type: None,
            member_type,
            inherited: false,
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
        assert!(covers(&at(SUB, MemberType::Direct), SUB));
        assert!(covers(&at(SUB, MemberType::Inherited), &rg));
        assert!(covers(&at(SUB, MemberType::Direct), &rg), "by the path");
        assert!(covers(&at(mg, MemberType::Inherited), SUB), "ARM says so");
        assert!(!covers(&at(&rg, MemberType::Direct), SUB));
        assert!(!covers(&at(SUB, MemberType::Direct), mg), "below it");
    }

    #[test]
    fn a_request_id_names_its_kind_scope_and_name() {
        let id = format!(
            "{SUB}/providers/Microsoft.Authorization/RoleAssignmentScheduleRequests/6F2A0000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            parse_request_id(&id),
            Some((
                AssignmentKind::Active,
                SUB.to_string(),
                "6f2a0000-0000-4000-8000-000000000001".to_string()
            ))
        );
        let e =
            format!("{SUB}/providers/Microsoft.Authorization/roleEligibilityScheduleRequests/n");
        assert_eq!(
            parse_request_id(&e).map(|(k, _, _)| k),
            Some(AssignmentKind::Eligible)
        );
        assert_eq!(
            parse_request_id("6f2a0000-0000-4000-8000-000000000001"),
            None
        );
        assert_eq!(parse_request_id(&format!("{id}/cancel")), None);
    }
}
