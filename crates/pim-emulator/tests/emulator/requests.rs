//! Admin and self-service schedule requests: assign, update, remove,
//! renew, cancel, future starts, policy enforcement and request errors.

use super::{
    ALICE, ASSIGN, BOB, ELIGIBLE, GA, GLOBAL_READER, HELPDESK, NOW, SECURITY_ADMIN, SP,
    for_duration, harness, permanent, request,
};
use crate::emulator_common;
use crate::emulator_common::{Harness, assert_graph_error};
use chrono::TimeDelta;
use serde_json::{Value, json};

#[tokio::test]
async fn admin_assign_update_remove_lifecycle() {
    let h = harness().await;
    let body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(json!({
        "startDateTime": "2026-11-01T00:00:00Z", "expiration": { "type": "AfterDuration", "duration": "P10D" } })),
    );
    let r = h.post(ASSIGN, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        b["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignmentScheduleRequests/$entity"
    );
    assert_eq!(b["status"], "Provisioned");
    assert_eq!(b["targetScheduleId"], id.as_str());
    assert_eq!(
        b["createdBy"],
        json!({ "application": null, "device": null, "user": { "displayName": null, "id": emulator_common::CALLER } })
    );
    // A start in the past is clamped to now; expiration carries all three keys, camelCase.
    assert_eq!(
        b["scheduleInfo"],
        json!({ "startDateTime": NOW, "recurrence": null,
        "expiration": { "type": "afterDuration", "endDateTime": null, "duration": "P10D" } })
    );
    assert_eq!(
        b["ticketInfo"],
        json!({ "ticketNumber": null, "ticketSystem": null })
    );
    for k in ["approvalId", "customData", "appScopeId"] {
        assert!(b[k].is_null(), "{k}");
    }
    assert_eq!(b["isValidationOnly"], false);

    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleAssignmentSchedules/{id}"
        ))
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["createdUsing"], id.as_str());
    assert_eq!(s.body["assignmentType"], "Assigned");
    assert_eq!(s.body["memberType"], "Direct");
    let inst = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=roleAssignmentScheduleId eq '{id}'")).await;
    assert_eq!(inst.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(inst.body["value"][0]["endDateTime"], "2026-12-11T10:00:00Z");

    let dup = h.post(ASSIGN, &body).await;
    assert_eq!(
        assert_graph_error(&dup, 400, "RoleAssignmentExists"),
        "The Role assignment already exists."
    );

    let too_soon = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(
        assert_graph_error(&too_soon, 400, "ActiveDurationTooShort"),
        "The Active duration is too short. Miniumum Required is 5 minutes."
    );

    let upd = h
        .post(
            ASSIGN,
            &request(
                "adminUpdate",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P20D")),
            ),
        )
        .await;
    assert_eq!(upd.status, 201, "{}", upd.body);
    let ext = h
        .post(
            ASSIGN,
            &request(
                "adminExtend",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P30D")),
            ),
        )
        .await;
    assert_eq!(ext.body["action"], "adminExtend");
    let schedules = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentSchedules?$filter=principalId eq '{ALICE}'")).await;
    let list = schedules.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 1, "update replaces the schedule");
    assert_eq!(list[0]["id"], ext.body["id"]);
    assert_eq!(list[0]["scheduleInfo"]["expiration"]["duration"], "P30D");

    h.emu.clock().advance(TimeDelta::minutes(6));
    let rm = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(rm.status, 201, "{}", rm.body);
    assert_eq!(rm.body["status"], "Revoked");
    assert!(
        rm.body["targetScheduleId"].is_null()
            && rm.body["scheduleInfo"].is_null()
            && rm.body["completedDateTime"].is_null()
    );
    let again = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(
        assert_graph_error(&again, 400, "RoleAssignmentDoesNotExist"),
        "The Role assignment does not exist."
    );
    let upd = h
        .post(
            ASSIGN,
            &request(
                "adminUpdate",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P1D")),
            ),
        )
        .await;
    assert_graph_error(&upd, 400, "RoleAssignmentDoesNotExist");

    // Requests stay listable, newest included.
    let reqs = h
        .get(&format!(
            "{ASSIGN}?$filter=principalId eq '{ALICE}'&$count=true"
        ))
        .await;
    assert_eq!(reqs.body["@odata.count"], 4);
}

#[tokio::test]
async fn renew_brings_back_an_expired_grant_and_instances_follow_the_clock() {
    let h = harness().await;
    async fn inst(h: &Harness) -> usize {
        let path = format!(
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=principalId eq '{ALICE}'"
        );
        h.get(&path).await.body["value"].as_array().unwrap().len()
    }
    assert_eq!(inst(&h).await, 1);
    h.emu.clock().advance(TimeDelta::days(6));
    assert_eq!(inst(&h).await, 0, "expired at +P5D");
    let ext = h
        .post(
            ELIGIBLE,
            &request("adminExtend", ALICE, GA, Some(for_duration("P30D"))),
        )
        .await;
    assert_graph_error(&ext, 400, "RoleAssignmentDoesNotExist");
    let mut renew = request(
        "adminRenew",
        ALICE,
        GA,
        Some(json!({ "expiration": { "type": "afterDuration", "duration": "P30D" } })),
    );
    renew["directoryScopeId"] = json!("/");
    let r = h.post(ELIGIBLE, &renew).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(inst(&h).await, 1);
}

#[tokio::test]
async fn future_start_is_granted_and_can_be_canceled() {
    let h = harness().await;
    let body = request(
        "adminAssign",
        BOB,
        GA,
        Some(json!({
        "startDateTime": "2026-12-05T00:00:00Z", "expiration": { "type": "afterDateTime", "endDateTime": "2027-01-05T00:00:00Z" } })),
    );
    let r = h.post(ELIGIBLE, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "Granted");
    assert_eq!(r.body["completedDateTime"], "2026-12-05T00:00:00Z");
    let id = r.body["id"].as_str().unwrap();
    let sched = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(sched.body["status"], "Granted");
    let inst = h.get(&format!("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=roleEligibilityScheduleId eq '{id}'")).await;
    assert_eq!(inst.body["value"], json!([]));
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_eq!(c.status, 204);
    let got = h.get(&format!("{ELIGIBLE}/{id}")).await;
    assert_eq!(got.body["status"], "Canceled");
    let gone = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(gone.status, 404);
    let c2 = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_graph_error(&c2, 400, "RequestCannotBeCancelled");
}

#[tokio::test]
async fn every_policy_rule_kind_is_enforced() {
    let h = harness().await;
    let no_mfa = h.emu.mint_token(emulator_common::CALLER, false);
    let msg = |r: &emulator_common::Reply| {
        assert_graph_error(r, 400, "RoleAssignmentRequestPolicyValidationFailed")
    };

    let mut bare = request("adminAssign", ALICE, SECURITY_ADMIN, Some(permanent()));
    bare["justification"] = Value::Null;
    let r = h.call_as(Some(&no_mfa), "POST", ASSIGN, Some(&bare)).await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule","JustificationRule","TicketingRule","MfaRule"]"#
    );

    let mut ok = request(
        "adminAssign",
        ALICE,
        SECURITY_ADMIN,
        Some(for_duration("P60D")),
    );
    ok["ticketInfo"] = json!({ "ticketNumber": "CHG-1", "ticketSystem": "SNOW" });
    let r = h.post(ASSIGN, &ok).await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    ok["scheduleInfo"] = for_duration("PT2M");
    assert_eq!(
        msg(&h.post(ASSIGN, &ok).await),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    ok["scheduleInfo"] = json!({ "startDateTime": NOW, "expiration": { "type": "afterDateTime", "endDateTime": "2026-12-31T10:00:01Z" } });
    assert_eq!(
        msg(&h.post(ASSIGN, &ok).await),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    let r = h
        .call_as(
            Some(&no_mfa),
            "POST",
            ASSIGN,
            Some(&{
                let mut x = ok.clone();
                x["scheduleInfo"] = for_duration("P30D");
                x
            }),
        )
        .await;
    assert_eq!(msg(&r), r#"The following policy rules failed: ["MfaRule"]"#);
    ok["scheduleInfo"] = for_duration("P30D");
    let r = h.post(ASSIGN, &ok).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["ticketInfo"]["ticketNumber"], "CHG-1");

    // Eligibility has its own expiration rule; validation-only requests persist nothing.
    let r = h
        .post(
            ELIGIBLE,
            &request(
                "adminAssign",
                BOB,
                SECURITY_ADMIN,
                Some(for_duration("P100D")),
            ),
        )
        .await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    let mut probe = request(
        "adminAssign",
        BOB,
        SECURITY_ADMIN,
        Some(for_duration("P90D")),
    );
    probe["isValidationOnly"] = json!(true);
    let r = h.post(ELIGIBLE, &probe).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["isValidationOnly"], true);
    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '{BOB}'"
        ))
        .await;
    assert_eq!(s.body["value"], json!([]));

    // Default policy: justification is required on active assignment.
    let mut nj = request("adminAssign", BOB, GLOBAL_READER, Some(permanent()));
    nj["justification"] = json!("  ");
    assert_eq!(
        msg(&h.post(ASSIGN, &nj).await),
        r#"The following policy rules failed: ["JustificationRule"]"#
    );
}

#[tokio::test]
async fn bad_principals_roles_and_actions_are_graph_errors() {
    let h = harness().await;
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                ALICE,
                "00000000-1111-2222-3333-444444444444",
                Some(permanent()),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "RoleNotFound");
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                "00000000-1111-2222-3333-444444444444",
                GA,
                Some(permanent()),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "SubjectNotFound");
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", SP, GA, Some(for_duration("P10D"))),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("Service principals"));
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", SP, GA, Some(for_duration("P10D"))),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "service principals may be active: {}",
        r.body
    );
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                "b0000000-0000-4000-8000-000000000002",
                GA,
                Some(for_duration("P10D")),
            ),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("role-assignable"));
    let r = h
        .post(
            ASSIGN,
            &request("selfActivate", ALICE, GA, Some(for_duration("PT1H"))),
        )
        .await;
    // Self-service acts for the signed-in user only.
    assert!(assert_graph_error(&r, 403, "Authorization_RequestDenied").contains("selfActivate"));
    let r = h
        .post(ASSIGN, &request("adminPromote", ALICE, GA, None))
        .await;
    assert_graph_error(&r, 400, "BadRequest");
    let mut scoped = request("adminAssign", ALICE, HELPDESK, Some(for_duration("P10D")));
    scoped["directoryScopeId"] = json!("/administrativeUnits/e0000000-0000-4000-8000-000000000001");
    assert_eq!(h.post(ASSIGN, &scoped).await.status, 201);
    scoped["directoryScopeId"] = json!("/administrativeUnits/nope");
    assert_graph_error(&h.post(ASSIGN, &scoped).await, 400, "BadRequest");
    let r = h.call("POST", ASSIGN, None).await;
    assert_graph_error(&r, 400, "BadRequest");
}

#[tokio::test]
async fn a_justification_longer_than_the_limit_is_refused() {
    let h = harness().await;
    let mut body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(for_duration("P10D")),
    );
    body["justification"] = json!("x".repeat(pim_model::MAX_JUSTIFICATION_CHARS + 1));
    let r = h.post(ASSIGN, &body).await;
    let msg = assert_graph_error(&r, 400, "BadRequest");
    assert!(msg.contains("justification is longer than 500"), "{msg}");
    body["justification"] = json!("x".repeat(pim_model::MAX_JUSTIFICATION_CHARS));
    let r = h.post(ASSIGN, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
