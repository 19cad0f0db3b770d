//! PIM for Groups through the Graph client against the emulator: the group
//! reads, a request made and found again, and a rule update that outlives
//! the group's onboarding.

use crate::support::graph_common;

use graph_common::{client_with_token, contoso, emulator};
use pim::emulator::Faults;
use pim::graph::{ErrorKind, Graph, GraphWrite};
use pim::model::{
    AssignmentKind, Expiration, IsoDuration, RequestAction, RuleId, RuleValue, Schedule,
    ScheduleRequest, SurfaceKind,
};
use pim::snapshot::PolicyKey;
use pim::surface::{self, Writers};

const TIER0_ADMINS: &str = "fb0a86eb-9bf8-5088-b1c9-b5d90238ee55";
const PIM_APPROVERS: &str = "9040ba24-470b-561b-b3c2-ecbbeb78ef3c";
const DAVE: &str = "edbb48c4-a953-5e67-b57b-eaadc2a0b2dd";

fn membership(kind: AssignmentKind, principal: &str, group: &str) -> ScheduleRequest {
    ScheduleRequest {
        surface: SurfaceKind::Group,
        kind,
        action: RequestAction::AdminAssign,
        principal_id: principal.into(),
        role_id: "member".into(),
        scope_id: group.into(),
        schedule: Some(Schedule {
            start: None,
            expiration: Expiration::After(IsoDuration::days(30)),
        }),
        justification: Some("pim test".into()),
        ticket: None,
        condition: None,
    }
}

#[tokio::test]
async fn a_groups_schedules_and_policies_are_read_per_group() {
    let emu = emulator(contoso(), Faults::default()).await;
    let graph = client_with_token(&emu);
    let groups = [TIER0_ADMINS.into(), PIM_APPROVERS.into()];
    let eligible = graph
        .group_grants(AssignmentKind::Eligible, &groups)
        .await
        .unwrap();
    // The example seeds two eligible members of Tier0 Admins.
    assert_eq!(eligible.len(), 2, "{eligible:?}");
    assert!(eligible.iter().all(|g| g.surface == SurfaceKind::Group
        && g.scope_id == TIER0_ADMINS
        && g.role_id.as_str() == "member"));
    let policies = graph.group_policies(&groups).await.unwrap();
    assert_eq!(policies.len(), 4, "a member and an owner policy per group");
    for p in &policies {
        assert_eq!(p.surface, SurfaceKind::Group);
        assert!(p.policy_id.starts_with(&format!("Group_{}", p.scope_id)));
        assert_eq!(p.rules.rules.len(), 17);
    }
    // Graph requires the group filter: pim never lists a group collection whole.
    let before = emu.stats()["total"].as_u64().unwrap_or(0);
    graph
        .group_grants(AssignmentKind::Active, &[])
        .await
        .unwrap();
    assert_eq!(emu.stats()["total"].as_u64().unwrap_or(0), before);
}

#[tokio::test]
async fn a_membership_is_requested_and_found_again() {
    let emu = emulator(contoso(), Faults::default()).await;
    let graph = client_with_token(&emu);
    let req = membership(AssignmentKind::Eligible, DAVE, TIER0_ADMINS);
    let out = graph.create_request(&req).await.unwrap();
    assert_eq!(out.surface, SurfaceKind::Group);
    assert_eq!(out.status, "Provisioned");
    assert_eq!(out.scope_id, TIER0_ADMINS);
    assert_eq!(out.role_id.as_str(), "member");
    let to = Writers {
        graph: &graph,
        arm: None,
    };
    let found = surface::get(SurfaceKind::Group)
        .find_schedule(to, &req)
        .await
        .unwrap();
    assert_eq!(found, out.target_schedule_id);
    let again = graph.create_request(&req).await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::RoleAssignmentExists, "{again}");
}

#[tokio::test]
async fn a_rule_update_finds_the_policy_again_after_the_group_is_onboarded() {
    let emu = emulator(contoso(), Faults::default()).await;
    let graph = client_with_token(&emu);
    // PIM Approvers was never governed: its policy ids change with its first write.
    let before = graph.group_policies(&[PIM_APPROVERS.into()]).await.unwrap();
    let member = before
        .iter()
        .find(|p| p.role_id.as_str() == "member")
        .unwrap()
        .clone();
    graph
        .create_request(&membership(AssignmentKind::Eligible, DAVE, PIM_APPROVERS))
        .await
        .unwrap();
    let after = graph.group_policies(&[PIM_APPROVERS.into()]).await.unwrap();
    let now_id = after
        .iter()
        .find(|p| p.role_id.as_str() == "member")
        .unwrap()
        .policy_id
        .clone();
    assert_ne!(
        now_id, member.policy_id,
        "onboarding gave the policy a new id"
    );
    let value = RuleValue::Expiration {
        required: true,
        max: Some(IsoDuration::hours(2)),
    };
    // The plan's id is gone now: Graph says so, and the surface finds the new one.
    let stale = graph
        .update_rule(
            &member.policy_id,
            RuleId::ExpirationEndUserAssignment,
            &value,
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind, ErrorKind::NotFound, "{stale}");
    let key = PolicyKey::of_grant(SurfaceKind::Group, &"member".into(), PIM_APPROVERS);
    let patched = surface::get(SurfaceKind::Group)
        .update_rule(
            Writers {
                graph: &graph,
                arm: None,
            },
            &key,
            &member.policy_id,
            RuleId::ExpirationEndUserAssignment,
            &value,
        )
        .await
        .unwrap();
    assert_eq!(patched, now_id, "the id patched, which apply records");
    let updated = graph.group_policies(&[PIM_APPROVERS.into()]).await.unwrap();
    let rules = &updated
        .iter()
        .find(|p| p.role_id.as_str() == "member")
        .unwrap()
        .rules;
    assert_eq!(rules.rules[&RuleId::ExpirationEndUserAssignment], value);
}
