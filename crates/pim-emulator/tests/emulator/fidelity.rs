//! Where the emulator follows what Graph is seen to do beyond its docs:
//! `$top` on policy assignments, the policy pages, requests purged after
//! 45 days, ended schedules listed for 30, which requests cancel accepts,
//! the tenant scope expanded, and rule targets stored as sent. Options switch the UNVERIFIED choices.

use super::{ALICE, ASSIGN, BOB, ELIGIBLE, GA, GLOBAL_READER, NOW, harness, request, tenant};
use crate::emulator_common::{Harness, assert_graph_error, at};
use chrono::TimeDelta;
use pim_emulator::{CancelRule, EmulatorClock, EmulatorConfig, TopOption};
use serde_json::{Value, json};

const ASSIGNMENTS: &str = "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'";

async fn with(config: EmulatorConfig) -> Harness {
    Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        clock: EmulatorClock::fixed(at(NOW)),
        ..config
    })
    .await
}

/// Makes Alice permanently eligible for Global Reader: the id of the
/// request, which has taken effect (`Provisioned`).
async fn assign_alice(h: &Harness) -> String {
    let body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(super::permanent()),
    );
    let r = h.post(ELIGIBLE, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// Every page of `path`, by `@odata.nextLink`: (items, pages).
async fn read_all(h: &Harness, path: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(path.to_string());
    while let Some(url) = next.take() {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        items.extend(r.body["value"].as_array().unwrap().iter().cloned());
        next = r.body["@odata.nextLink"].as_str().map(str::to_string);
    }
    (items, pages)
}

#[tokio::test]
async fn policy_assignments_are_one_page_and_ignore_top() {
    let h = harness().await;
    let (all, pages) = read_all(&h, ASSIGNMENTS).await;
    assert_eq!(pages, 1, "every policy in one answer");
    assert!(all.len() > 100, "{}", all.len());
    let r = h.get(&format!("{ASSIGNMENTS}&$top=5")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"].as_array().unwrap().len(), all.len());
    assert!(r.body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn policy_assignments_can_refuse_top_and_page_by_next_link() {
    let h = with(EmulatorConfig {
        policy_assignments_top: TopOption::Reject,
        policy_page_size: Some(10),
        ..EmulatorConfig::default()
    })
    .await;
    let r = h.get(&format!("{ASSIGNMENTS}&$top=999")).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let (all, pages) = read_all(&h, &format!("{ASSIGNMENTS}&$expand=policy($expand=rules)")).await;
    assert_eq!(pages, all.len().div_ceil(10));
    assert!(
        all.iter()
            .all(|a| a["policy"]["rules"].as_array().unwrap().len() == 17)
    );
    let ids: std::collections::BTreeSet<String> = all.iter().map(|a| a["id"].to_string()).collect();
    assert_eq!(ids.len(), all.len(), "no assignment twice");
}

#[tokio::test]
async fn requests_are_purged_after_45_days_and_then_not_found() {
    let h = harness().await;
    let id = assign_alice(&h).await;

    h.emu.clock().advance(TimeDelta::days(44));
    assert_eq!(h.get(&format!("{ELIGIBLE}/{id}")).await.status, 200);
    h.emu.clock().advance(TimeDelta::days(1));
    let r = h.get(&format!("{ELIGIBLE}/{id}")).await;
    let m = assert_graph_error(&r, 404, "RoleAssignmentRequestNotFound");
    assert_eq!(m, "The role assignment request is not found");
    let list = h.get(ELIGIBLE).await;
    assert!(
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["id"] != id.as_str()),
        "{}",
        list.body
    );
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_graph_error(&c, 404, "RoleAssignmentRequestNotFound");
    // The grant the request made outlives it.
    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(s.status, 200, "{}", s.body);

    let never = h
        .get(&format!("{ASSIGN}/00000000-0000-0000-0000-000000000000"))
        .await;
    assert_graph_error(&never, 404, "RoleAssignmentRequestNotFound");
}

#[tokio::test]
async fn request_retention_is_an_option() {
    let h = with(EmulatorConfig {
        request_retention: TimeDelta::zero(),
        ..EmulatorConfig::default()
    })
    .await;
    let id = assign_alice(&h).await;
    let r = h.get(&format!("{ELIGIBLE}/{id}")).await;
    assert_graph_error(&r, 404, "RoleAssignmentRequestNotFound");
}

fn later() -> Value {
    json!({ "startDateTime": "2026-12-05T00:00:00Z",
            "expiration": { "type": "afterDuration", "duration": "P30D" } })
}

#[tokio::test]
async fn cancel_granted_only_refuses_waiting_requests_with_a_bare_400() {
    let h = with(EmulatorConfig {
        cancel: CancelRule::GrantedOnly,
        ..EmulatorConfig::default()
    })
    .await;
    // Granted (a start in the future): what the docs allow.
    let r = h
        .post(ELIGIBLE, &request("adminAssign", BOB, GA, Some(later())))
        .await;
    assert_eq!(r.body["status"], "Granted", "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_eq!(c.status, 204, "{}", c.body);
    // Provisioned: refused, with no invented code.
    let id = assign_alice(&h).await;
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_graph_error(&c, 400, "BadRequest");
}

#[tokio::test]
async fn the_tenant_scope_expands_to_an_object_with_id_slash() {
    let h = harness().await;
    let id = assign_alice(&h).await;
    let got = h
        .get(&format!("{ELIGIBLE}/{id}?$expand=directoryScope"))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["directoryScope"], json!({ "id": "/" }));
    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '{ALICE}'&$expand=directoryScope"
        ))
        .await;
    assert_eq!(s.body["value"][0]["directoryScope"], json!({ "id": "/" }));
}

#[tokio::test]
async fn a_patched_rule_keeps_the_target_it_was_sent() {
    let h = harness().await;
    let a = h
        .get(&format!("{ASSIGNMENTS} and roleDefinitionId eq '{GA}'"))
        .await;
    let pid = a.body["value"][0]["policyId"].as_str().unwrap().to_string();
    let url =
        format!("/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment");
    // A wrong target (Admin / Eligibility on an EndUser / Assignment rule)
    // reads back as sent, so a client's mistake shows.
    let body = json!({
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": true,
        "maximumDuration": "PT4H",
        "target": { "caller": "Admin", "operations": ["All"], "level": "Eligibility",
                    "inheritableSettings": [], "enforcedSettings": [] }
    });
    let r = h.call("PATCH", &url, Some(&body)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = h.get(&url).await;
    assert_eq!(got.body["target"]["caller"], "Admin");
    assert_eq!(got.body["target"]["level"], "Eligibility");
    assert_eq!(got.body["target"]["operations"], json!(["all"]));
}

const ELIGIBILITY_SCHEDULES: &str = "/v1.0/roleManagement/directory/roleEligibilitySchedules";
const ELIGIBILITY_INSTANCES: &str =
    "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances";

/// Makes Alice eligible for Global Reader for one day: the schedule id.
async fn assign_alice_for_a_day(h: &Harness) -> String {
    let one_day = json!({ "startDateTime": NOW,
                          "expiration": { "type": "afterDuration", "duration": "P1D" } });
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", ALICE, GLOBAL_READER, Some(one_day)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["targetScheduleId"].as_str().unwrap().to_string()
}

async fn listed(h: &Harness, path: &str, id: &str) -> bool {
    let r = h.get(path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"].as_str() == Some(id) || v["roleEligibilityScheduleId"] == id)
}

#[tokio::test]
async fn ended_schedules_stay_listed_for_30_days_without_instances() {
    let h = harness().await;
    let id = assign_alice_for_a_day(&h).await;
    assert!(listed(&h, ELIGIBILITY_INSTANCES, &id).await);

    h.emu.clock().advance(TimeDelta::days(2));
    assert!(
        listed(&h, ELIGIBILITY_SCHEDULES, &id).await,
        "still listed, ended"
    );
    let one = h.get(&format!("{ELIGIBILITY_SCHEDULES}/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(
        !listed(&h, ELIGIBILITY_INSTANCES, &id).await,
        "no longer in effect"
    );

    // An ended grant is no obstacle to a new one, and can be renewed.
    let again = h
        .post(
            ELIGIBLE,
            &request(
                "adminAssign",
                ALICE,
                GLOBAL_READER,
                Some(super::permanent()),
            ),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);

    h.emu.clock().advance(TimeDelta::days(30));
    assert!(!listed(&h, ELIGIBILITY_SCHEDULES, &id).await, "forgotten");
    let gone = h.get(&format!("{ELIGIBILITY_SCHEDULES}/{id}")).await;
    assert_eq!(gone.status, 404, "{}", gone.body);
}

#[tokio::test]
async fn an_ended_grant_is_renewable_until_it_is_forgotten() {
    let h = harness().await;
    assign_alice_for_a_day(&h).await;
    h.emu.clock().advance(TimeDelta::days(20));
    let renew = |days: i64| {
        json!({ "startDateTime": super::NOW,
                "expiration": { "type": "afterDuration", "duration": format!("P{days}D") } })
    };
    let r = h
        .post(
            ELIGIBLE,
            &request("adminRenew", ALICE, GLOBAL_READER, Some(renew(10))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let h = harness().await;
    assign_alice_for_a_day(&h).await;
    h.emu.clock().advance(TimeDelta::days(32));
    let r = h
        .post(
            ELIGIBLE,
            &request("adminRenew", ALICE, GLOBAL_READER, Some(renew(10))),
        )
        .await;
    assert_graph_error(&r, 400, "RoleAssignmentDoesNotExist");
}

#[tokio::test]
async fn how_long_ended_schedules_stay_listed_is_an_option() {
    let h = with(EmulatorConfig {
        expired_schedule_retention: TimeDelta::zero(),
        ..EmulatorConfig::default()
    })
    .await;
    let id = assign_alice_for_a_day(&h).await;
    h.emu.clock().advance(TimeDelta::days(2));
    assert!(!listed(&h, ELIGIBILITY_SCHEDULES, &id).await);
}

/// `adminUpdate` of Alice's one-day eligibility to two days: the request
/// and the schedules listed after it.
async fn update_alice(h: &Harness) -> (String, Value, Vec<Value>) {
    let before = assign_alice_for_a_day(h).await;
    let two_days = json!({ "startDateTime": NOW,
                           "expiration": { "type": "afterDuration", "duration": "P2D" } });
    let r = h
        .post(
            ELIGIBLE,
            &request("adminUpdate", ALICE, GLOBAL_READER, Some(two_days)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let listed = h.get(ELIGIBILITY_SCHEDULES).await.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["principalId"] == ALICE && s["roleDefinitionId"] == GLOBAL_READER)
        .cloned()
        .collect();
    (before, r.body, listed)
}

#[tokio::test]
async fn an_updated_schedule_is_reissued_under_the_request_id_by_default() {
    let h = harness().await;
    let (before, r, listed) = update_alice(&h).await;
    assert_eq!(r["targetScheduleId"], r["id"]);
    assert_ne!(r["targetScheduleId"], before.as_str());
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], r["targetScheduleId"]);
}

#[tokio::test]
async fn an_updated_schedule_can_keep_its_id() {
    let h = with(EmulatorConfig {
        schedule_ids: pim_emulator::ScheduleIds::Kept,
        ..EmulatorConfig::default()
    })
    .await;
    let (before, r, listed) = update_alice(&h).await;
    assert_eq!(r["targetScheduleId"], before.as_str());
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], before.as_str());
    assert_eq!(
        listed[0]["scheduleInfo"]["expiration"]["duration"], "P2D",
        "{listed:?}"
    );
}
