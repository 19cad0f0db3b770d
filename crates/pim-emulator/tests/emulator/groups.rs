//! PIM for Groups: the required list filters, admin and self-service
//! requests and their errors, the effect on a group's members and owners,
//! the group policies and their onboarding, approvals, permissions,
//! `$batch` and seeding. The tenant is `fixtures/groups/test-tenant.json`.

use super::NOW;
use crate::emulator_common::{self, Harness, Reply, assert_graph_error, at};
use chrono::TimeDelta;
use pim_emulator::{EmulatorClock, EmulatorConfig, Group, GroupScheduleSeed, Permissions, Tenant};
use serde_json::{Value, json};

const ALICE: &str = "a1000000-0000-4000-8000-000000000001";
const BOB: &str = "a1000000-0000-4000-8000-000000000002";
const CAROL: &str = "a1000000-0000-4000-8000-000000000003";
const DAVE: &str = "a1000000-0000-4000-8000-000000000004";
const ERIN: &str = "a1000000-0000-4000-8000-000000000005";
const SP: &str = "c1000000-0000-4000-8000-000000000001";
/// Onboarded by the tenant file; its member policy needs approval by
/// Alice or a member of Tier 1 Approvers (Carol).
const OPERATORS: &str = "b1000000-0000-4000-8000-000000000001";
/// Not onboarded; Dave is a member and Alice an owner outside PIM.
const HELPDESK: &str = "b1000000-0000-4000-8000-000000000002";
const APPROVERS: &str = "b1000000-0000-4000-8000-000000000003";
const DYNAMIC: &str = "b1000000-0000-4000-8000-000000000004";
const ON_PREMISES: &str = "b1000000-0000-4000-8000-000000000005";
const ROLE_ASSIGNABLE: &str = "b1000000-0000-4000-8000-000000000006";
const PROJECT_X: &str = "b1000000-0000-4000-8000-000000000007";

const P: &str = "/v1.0/identityGovernance/privilegedAccess/group";
const ASSIGN: &str = "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests";
const ELIGIBLE: &str =
    "/v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleRequests";
const POLICY_ASSIGNMENTS: &str = "/v1.0/policies/roleManagementPolicyAssignments";
const POLICIES: &str = "/v1.0/policies/roleManagementPolicies";

fn tenant() -> Tenant {
    Tenant::from_file(emulator_common::groups_fixture_path("test-tenant.json")).unwrap()
}

async fn harness() -> Harness {
    Harness::with_seed(tenant(), NOW).await
}

fn request(
    action: &str,
    principal: &str,
    group: &str,
    access: &str,
    duration: Option<&str>,
) -> Value {
    let mut r = json!({
        "action": action, "principalId": principal, "groupId": group, "accessId": access,
        "justification": "testing",
    });
    if let Some(d) = duration {
        r["scheduleInfo"] = json!({ "startDateTime": NOW, "expiration": { "type": "afterDuration", "duration": d } });
    }
    r
}

fn ids(r: &Reply, key: &str) -> Vec<String> {
    r.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {}", r.body))
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn members(h: &Harness, group: &str, nav: &str) -> Vec<String> {
    let r = h.get(&format!("/v1.0/groups/{group}/{nav}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    ids(&r, "id")
}

/// The member and owner policy ids of a group, as its policy assignments give them.
async fn policy_ids(h: &Harness, group: &str) -> (String, String, Vec<String>) {
    let r = h
        .get(&format!(
            "{POLICY_ASSIGNMENTS}?$filter=scopeId eq '{group}' and scopeType eq 'Group'"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", r.body);
    let of = |access: &str| {
        rows.iter()
            .find(|a| a["roleDefinitionId"] == access)
            .map(|a| a["policyId"].as_str().unwrap().to_string())
            .unwrap()
    };
    (of("member"), of("owner"), ids(&r, "id"))
}

#[tokio::test]
async fn list_endpoints_refuse_a_call_without_a_group_or_principal_filter() {
    let h = harness().await;
    let app = h.emu.mint_token(SP, false);
    for set in [
        "assignmentScheduleRequests",
        "assignmentSchedules",
        "assignmentScheduleInstances",
        "eligibilitySchedules",
        "eligibilityScheduleInstances",
    ] {
        for query in [
            "".to_string(),
            "?$filter=accessId eq 'member'".to_string(),
            format!("?$filter=groupId eq '{OPERATORS}' or groupId eq '{HELPDESK}'"),
        ] {
            let r = h.get(&format!("{P}/{set}{query}")).await;
            let message = assert_graph_error(&r, 400, "BadRequest");
            assert!(
                message.contains("principalId or groupId"),
                "{set}{query}: {message}"
            );
        }
        for query in [
            format!("$filter=groupId eq '{OPERATORS}'"),
            format!("$filter=principalId eq '{BOB}'"),
            format!(
                "$filter=groupId eq '{OPERATORS}' and accessId eq 'member' and principalId eq '{BOB}'"
            ),
        ] {
            let r = h.get(&format!("{P}/{set}?{query}")).await;
            assert_eq!(r.status, 200, "{set}?{query}: {}", r.body);
        }
    }
    // Eligibility requests: required of applications; a signed-in user
    // without a filter gets their own.
    let r = h.call_as(Some(&app), "GET", ELIGIBLE, None).await;
    assert_graph_error(&r, 400, "BadRequest");
    let bob = h.emu.mint_token(BOB, false);
    let r = h.call_as(Some(&bob), "GET", ELIGIBLE, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r, "principalId"), [BOB]);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#identityGovernance/privilegedAccess/group/eligibilityScheduleRequests"
    );
    let r = h
        .call_as(
            Some(&app),
            "GET",
            &format!("{ELIGIBLE}?$filter=groupId eq '{OPERATORS}'&$count=true"),
            None,
        )
        .await;
    assert_eq!(r.body["@odata.count"], 2, "{}", r.body);
    // The filter combines with status, and the directory-role lists are untouched.
    let r = h
        .get(&format!(
            "{ELIGIBLE}?$filter=groupId eq '{OPERATORS}' and status eq 'PendingApproval'"
        ))
        .await;
    assert_eq!(ids(&r, "id"), Vec::<String>::new());
    let r = h
        .get("/v1.0/roleManagement/directory/roleEligibilitySchedules")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"], json!([]), "group grants are not roles");
}

#[tokio::test]
async fn admin_requests_grant_and_remove_membership_and_ownership() {
    let h = harness().await;
    let body = request("adminAssign", CAROL, HELPDESK, "member", Some("P30D"));
    let r = h.post(ASSIGN, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        b["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity"
    );
    assert_eq!(b["status"], "Provisioned");
    assert_eq!(b["action"], "adminAssign");
    assert_eq!(
        (b["accessId"].as_str(), b["groupId"].as_str()),
        (Some("member"), Some(HELPDESK))
    );
    let target = format!("{HELPDESK}_member_{id}");
    assert_eq!(b["targetScheduleId"], target.as_str());
    assert_eq!(
        b["scheduleInfo"],
        json!({ "startDateTime": NOW, "recurrence": null,
                "expiration": { "type": "afterDuration", "endDateTime": null, "duration": "P30D" } })
    );
    assert_eq!(
        b["ticketInfo"],
        json!({ "ticketNumber": null, "ticketSystem": null })
    );
    assert_eq!(b["createdBy"]["user"]["id"], emulator_common::CALLER);
    for k in ["roleDefinitionId", "directoryScopeId", "appScopeId"] {
        assert!(b.get(k).is_none(), "{k} is a directory-role property");
    }

    let s = h.get(&format!("{P}/assignmentSchedules/{target}")).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(
        (
            s.body["assignmentType"].as_str(),
            s.body["memberType"].as_str()
        ),
        (Some("assigned"), Some("direct")),
        "camelCase enums"
    );
    assert_eq!(s.body["createdUsing"], id.as_str());
    let inst = h
        .get(&format!(
            "{P}/assignmentScheduleInstances?$filter=groupId eq '{HELPDESK}' and principalId eq '{CAROL}'"
        ))
        .await;
    assert_eq!(ids(&inst, "assignmentScheduleId"), [target.as_str()]);
    assert_eq!(inst.body["value"][0]["endDateTime"], "2026-12-31T10:00:00Z");

    // Active grants are real members; owners and other groups are untouched.
    assert_eq!(members(&h, HELPDESK, "members").await, [DAVE, CAROL]);
    assert_eq!(members(&h, HELPDESK, "owners").await, [ALICE]);
    let page = h
        .get(&format!(
            "/v1.0/groups/{HELPDESK}/members?$top=1&$select=id"
        ))
        .await;
    assert_eq!(
        page.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)"
    );
    assert_eq!(
        page.body["value"],
        json!([{ "@odata.type": "#microsoft.graph.user", "id": DAVE }])
    );
    let next = page.body["@odata.nextLink"]
        .as_str()
        .expect("a second page");
    let rest = h.get(next).await;
    assert_eq!(ids(&rest, "id"), [CAROL]);
    assert!(rest.body.get("@odata.nextLink").is_none());

    let dup = h.post(ASSIGN, &body).await;
    assert_graph_error(&dup, 400, "RoleAssignmentExists");
    let remove = request("adminRemove", CAROL, HELPDESK, "member", None);
    let too_soon = h.post(ASSIGN, &remove).await;
    assert_graph_error(&too_soon, 400, "ActiveDurationTooShort");
    h.emu.clock().advance(TimeDelta::minutes(6));
    let rm = h.post(ASSIGN, &remove).await;
    assert_eq!(rm.status, 201, "{}", rm.body);
    assert_eq!(rm.body["status"], "Revoked");
    for k in ["targetScheduleId", "scheduleInfo", "completedDateTime"] {
        assert!(rm.body[k].is_null(), "{k}: {}", rm.body);
    }
    assert_eq!(members(&h, HELPDESK, "members").await, [DAVE]);
    let again = h.post(ASSIGN, &remove).await;
    assert_graph_error(&again, 400, "RoleAssignmentDoesNotExist");
    let update = request("adminUpdate", CAROL, HELPDESK, "member", Some("P10D"));
    assert_graph_error(
        &h.post(ASSIGN, &update).await,
        400,
        "RoleAssignmentDoesNotExist",
    );

    // Eligible ownership is no ownership; an active one ends on time.
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", CAROL, HELPDESK, "owner", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(members(&h, HELPDESK, "owners").await, [ALICE]);
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", BOB, HELPDESK, "owner", Some("P1D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(members(&h, HELPDESK, "owners").await, [ALICE, BOB]);
    h.emu.clock().advance(TimeDelta::days(2));
    assert_eq!(members(&h, HELPDESK, "owners").await, [ALICE]);
    let r = h
        .get(&format!(
            "{P}/assignmentScheduleInstances?$filter=groupId eq '{HELPDESK}'"
        ))
        .await;
    assert_eq!(r.body["value"], json!([]), "ended grants have no instance");

    // Extend and renew an eligibility, as for directory roles.
    let ext = h
        .post(
            ELIGIBLE,
            &request("adminExtend", CAROL, HELPDESK, "owner", Some("P60D")),
        )
        .await;
    assert_eq!(ext.status, 201, "{}", ext.body);
    let list = h
        .get(&format!(
            "{P}/eligibilitySchedules?$filter=groupId eq '{HELPDESK}'"
        ))
        .await;
    assert_eq!(
        ids(&list, "id"),
        [format!(
            "{HELPDESK}_owner_{}",
            ext.body["id"].as_str().unwrap()
        )],
        "the extended schedule replaces the old one"
    );

    // Membership lists page and select like any directory collection.
    let r = h
        .get(&format!(
            "/v1.0/groups/{OPERATORS}/owners?$select=id&$top=1"
        ))
        .await;
    assert_eq!(
        r.body["value"],
        json!([{ "@odata.type": "#microsoft.graph.user", "id": ALICE }])
    );
    let r = h
        .get(&format!("/v1.0/groups/{HELPDESK}/members?$top=1"))
        .await;
    assert!(
        r.body.get("@odata.nextLink").is_none(),
        "one member, one page"
    );
    let missing = h
        .get("/v1.0/groups/b1000000-0000-4000-8000-0000000000ff/members")
        .await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn requests_are_checked_against_the_group_policy_and_the_group() {
    let h = harness().await;
    let failed =
        |r: &Reply| assert_graph_error(r, 400, "RoleAssignmentRequestPolicyValidationFailed");
    let mut permanent = request("adminAssign", CAROL, HELPDESK, "member", None);
    permanent["scheduleInfo"] =
        json!({ "startDateTime": NOW, "expiration": { "type": "noExpiration" } });
    for set in [ASSIGN, ELIGIBLE] {
        let r = h.post(set, &permanent).await;
        assert_eq!(
            failed(&r),
            r#"The following policy rules failed: ["ExpirationRule"]"#
        );
    }
    let mut silent = request("adminAssign", CAROL, HELPDESK, "member", Some("P30D"));
    silent["justification"] = Value::Null;
    let r = h.post(ASSIGN, &silent).await;
    assert_eq!(
        failed(&r),
        r#"The following policy rules failed: ["JustificationRule"]"#
    );
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P181D")),
        )
        .await;
    assert!(failed(&r).contains("ExpirationRule"));
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P366D")),
        )
        .await;
    assert!(failed(&r).contains("ExpirationRule"));
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P1Y")),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("Edm.Duration"));
    // An eligibility needs no justification by default.
    let r = h.post(ELIGIBLE, &silent).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // A ticket, once the policy asks for one; PascalCase input is taken.
    let (member_policy, _, _) = policy_ids(&h, HELPDESK).await;
    let rule = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_Admin_Assignment", "enabledRules": ["Justification", "Ticketing"] });
    let r = h
        .call(
            "PATCH",
            &format!("{POLICIES}/{member_policy}/rules/Enablement_Admin_Assignment"),
            Some(&rule),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ticketless = request("AdminAssign", BOB, HELPDESK, "Member", Some("P30D"));
    let r = h.post(ASSIGN, &ticketless).await;
    assert_eq!(
        failed(&r),
        r#"The following policy rules failed: ["TicketingRule"]"#
    );
    ticketless["ticketInfo"] = json!({ "ticketNumber": "INC42", "ticketSystem": "ServiceNow" });
    let r = h.post(ASSIGN, &ticketless).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["action"].as_str(), r.body["accessId"].as_str()),
        (Some("adminAssign"), Some("member"))
    );

    // Groups PIM does not take, and requests naming nothing real.
    for (group, code) in [(DYNAMIC, 400), (ON_PREMISES, 400)] {
        let r = h
            .post(
                ASSIGN,
                &request("adminAssign", CAROL, group, "member", Some("P30D")),
            )
            .await;
        assert!(assert_graph_error(&r, code, "BadRequest").contains("does not support"));
    }
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                CAROL,
                "b1000000-0000-4000-8000-0000000000ff",
                "member",
                Some("P30D"),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "ResourceNotFound");
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                "a1000000-0000-4000-8000-0000000000ff",
                HELPDESK,
                "member",
                Some("P30D"),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "SubjectNotFound");
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", CAROL, HELPDESK, "reader", Some("P30D")),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("accessId"));
    let mut no_group = request("adminAssign", CAROL, HELPDESK, "member", Some("P30D"));
    no_group.as_object_mut().unwrap().remove("groupId");
    let r = h.post(ASSIGN, &no_group).await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("groupId"));
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", HELPDESK, HELPDESK, "member", Some("P30D")),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("itself"));
    // Groups nest in a role-assignable group only as eligible members.
    let nested = request(
        "adminAssign",
        APPROVERS,
        ROLE_ASSIGNABLE,
        "member",
        Some("P30D"),
    );
    let r = h.post(ASSIGN, &nested).await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("role-assignable"));
    let r = h.post(ELIGIBLE, &nested).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", SP, HELPDESK, "member", Some("P30D")),
        )
        .await;
    assert_graph_error(&r, 400, "BadRequest");

    // Cancel: a request still to start, not one that took effect.
    let mut later = request("adminAssign", DAVE, PROJECT_X, "owner", Some("P30D"));
    later["scheduleInfo"]["startDateTime"] = json!("2026-12-05T00:00:00Z");
    let r = h.post(ASSIGN, &later).await;
    assert_eq!(r.body["status"], "Granted", "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let c = h.call("POST", &format!("{ASSIGN}/{id}/cancel"), None).await;
    assert_eq!(c.status, 204, "{}", c.body);
    assert_eq!(
        h.get(&format!("{ASSIGN}/{id}")).await.body["status"],
        "Canceled"
    );
    let done = h
        .post(
            ASSIGN,
            &request("adminAssign", DAVE, PROJECT_X, "member", Some("P30D")),
        )
        .await;
    let id = done.body["id"].as_str().unwrap();
    let c = h.call("POST", &format!("{ASSIGN}/{id}/cancel"), None).await;
    assert_graph_error(&c, 400, "RequestCannotBeCancelled");
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_graph_error(&c, 404, "RoleAssignmentRequestNotFound");
}

#[tokio::test]
async fn self_service_activates_deactivates_and_asks_for_extensions() {
    let h = &harness().await;
    let bob = h.emu.mint_token(BOB, false);
    let post = |token: &str, set: &str, body: Value| {
        let (token, set) = (token.to_string(), set.to_string());
        async move { h.call_as(Some(&token), "POST", &set, Some(&body)).await }
    };
    // Bob holds an eligible membership of Operators; its activation needs
    // approval, so an owner activation (no approval) shows the plain path.
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, OPERATORS, "owner", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let failed =
        |r: &Reply| assert_graph_error(r, 400, "RoleAssignmentRequestPolicyValidationFailed");
    let r = post(
        &bob,
        ASSIGN,
        request("selfActivate", BOB, OPERATORS, "owner", Some("PT9H")),
    )
    .await;
    assert!(failed(&r).contains("ExpirationRule"), "at most PT8H");
    let mut silent = request("selfActivate", BOB, OPERATORS, "owner", Some("PT2H"));
    silent["justification"] = Value::Null;
    let r = post(&bob, ASSIGN, silent).await;
    assert!(failed(&r).contains("JustificationRule"));
    let r = post(
        &bob,
        ASSIGN,
        request("selfActivate", BOB, HELPDESK, "owner", Some("PT2H")),
    )
    .await;
    assert!(failed(&r).contains("EligibilityRule"));
    let r = post(
        &bob,
        ASSIGN,
        request("selfActivate", ERIN, OPERATORS, "member", Some("PT2H")),
    )
    .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = post(
        &bob,
        ELIGIBLE,
        request("selfActivate", BOB, OPERATORS, "owner", Some("PT2H")),
    )
    .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("assignmentScheduleRequests"));

    let r = post(
        &bob,
        ASSIGN,
        request("selfActivate", BOB, OPERATORS, "owner", Some("PT2H")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "Provisioned");
    assert!(r.body["approvalId"].is_null());
    assert_eq!(members(h, OPERATORS, "owners").await, [ALICE, BOB]);
    let mine = h
        .call_as(
            Some(&bob),
            "GET",
            &format!("{P}/assignmentSchedules/filterByCurrentUser(on='principal')"),
            None,
        )
        .await;
    assert_eq!(
        mine.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#Collection(privilegedAccessGroupAssignmentSchedule)"
    );
    let row = &mine.body["value"][0];
    assert_eq!(
        row["@odata.type"],
        "#microsoft.graph.privilegedAccessGroupAssignmentSchedule"
    );
    assert_eq!(
        (row["assignmentType"].as_str(), row["accessId"].as_str()),
        (Some("activated"), Some("owner"))
    );
    let expanded = h
        .get(&format!(
            "{P}/assignmentScheduleInstances?$filter=principalId eq '{BOB}'&$expand=activatedUsing,group($select=id,displayName),principal($select=id)"
        ))
        .await;
    let inst = &expanded.body["value"][0];
    assert_eq!(
        inst["group"],
        json!({ "@odata.type": "#microsoft.graph.group", "id": OPERATORS, "displayName": "Tier 1 Operators" })
    );
    assert_eq!(inst["principal"]["id"], BOB);
    assert_eq!(inst["activatedUsing"]["accessId"], "owner");

    let off = request("selfDeactivate", BOB, OPERATORS, "owner", None);
    let r = post(&bob, ASSIGN, off.clone()).await;
    assert_graph_error(&r, 400, "ActiveDurationTooShort");
    h.emu.clock().advance(TimeDelta::minutes(10));
    let r = post(&bob, ASSIGN, off).await;
    assert_eq!(r.body["status"], "Revoked", "{}", r.body);
    assert_eq!(members(h, OPERATORS, "owners").await, [ALICE]);

    // Extensions wait for an administrator.
    let r = post(
        &bob,
        ELIGIBLE,
        request("selfExtend", BOB, OPERATORS, "member", Some("P60D")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "PendingAdminDecision");
}

#[tokio::test]
async fn first_write_onboards_a_group_and_changes_both_policy_ids_once() {
    let h = harness().await;
    let (member, owner, assignments) = policy_ids(&h, HELPDESK).await;
    assert!(
        member.starts_with(&format!("Group_{HELPDESK}_"))
            && owner.starts_with(&format!("Group_{HELPDESK}_"))
    );
    assert_ne!(member, owner);
    let mut want = vec![format!("{member}_member"), format!("{owner}_owner")];
    want.sort();
    let mut got = assignments.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(h.get(&format!("{POLICIES}/{member}")).await.status, 200);
    // Reads and refused requests leave the group as it is.
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P999D")),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(policy_ids(&h, HELPDESK).await.0, member);

    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (member2, owner2, _) = policy_ids(&h, HELPDESK).await;
    assert!(
        member2 != member && owner2 != owner,
        "both ids change at onboarding"
    );
    let old = h.get(&format!("{POLICIES}/{member}")).await;
    assert_graph_error(&old, 404, "ResourceNotFound");
    let old = h
        .get(&format!("{POLICY_ASSIGNMENTS}/{member}_member"))
        .await;
    assert_graph_error(&old, 404, "ResourceNotFound");
    assert_eq!(
        h.get(&format!("{POLICY_ASSIGNMENTS}/{member2}_member"))
            .await
            .status,
        200
    );
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", CAROL, HELPDESK, "owner", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(policy_ids(&h, HELPDESK).await.0, member2, "only once");

    // A rule update onboards too: it succeeds under the id it was sent to,
    // and answers with the policy's id now.
    let (pm, po, _) = policy_ids(&h, PROJECT_X).await;
    let rule = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment", "isExpirationRequired": true, "maximumDuration": "PT1H45M",
        "target": { "caller": "EndUser", "operations": ["all"], "level": "Assignment" } });
    let r = h
        .call(
            "PATCH",
            &format!("{POLICIES}/{po}/rules/Expiration_EndUser_Assignment"),
            Some(&rule),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["maximumDuration"], "PT1H45M");
    assert_eq!(r.body["target"]["operations"], json!(["All"]));
    let (pm2, po2, _) = policy_ids(&h, PROJECT_X).await;
    assert!(pm2 != pm && po2 != po);
    assert!(r.body["@odata.context"].as_str().unwrap().contains(&po2));
    // A group the tenant file onboarded keeps its ids.
    let (om, oo, _) = policy_ids(&h, OPERATORS).await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", DAVE, OPERATORS, "member", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (om2, oo2, _) = policy_ids(&h, OPERATORS).await;
    assert_eq!((om2, oo2), (om, oo));
}

#[tokio::test]
async fn group_policies_are_served_with_the_group_defaults() {
    let h = harness().await;
    let r = h
        .get(&format!(
            "{POLICIES}?$filter=scopeId eq '{HELPDESK}' and scopeType eq 'Group'&$expand=rules"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for p in list {
        assert_eq!(
            (p["scopeId"].as_str(), p["scopeType"].as_str()),
            (Some(HELPDESK), Some("Group"))
        );
        assert_eq!(
            (p["displayName"].as_str(), p["description"].as_str()),
            (Some("Group"), Some("Group"))
        );
        let rules = p["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 17);
        let rule = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap().clone();
        assert_eq!(
            rule("Expiration_Admin_Assignment")["isExpirationRequired"],
            true
        );
        assert_eq!(
            rule("Expiration_Admin_Assignment")["maximumDuration"],
            "P180D"
        );
        assert_eq!(
            rule("Expiration_Admin_Eligibility")["maximumDuration"],
            "P365D"
        );
        assert_eq!(
            rule("Enablement_EndUser_Assignment")["enabledRules"],
            json!(["Justification"])
        );
        assert_eq!(
            rule("Approval_EndUser_Assignment")["setting"]["isApprovalRequired"],
            false
        );
        assert_eq!(
            rule("Expiration_EndUser_Assignment")["target"]["operations"],
            json!(["All"])
        );
    }
    // One access's settings in one call.
    let r = h
        .get(&format!(
            "{POLICY_ASSIGNMENTS}?$filter=scopeId eq '{OPERATORS}' and scopeType eq 'Group' and roleDefinitionId eq 'member'&$expand=policy($expand=rules)"
        ))
        .await;
    let rows = r.body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", r.body);
    assert_eq!(
        rows[0]["id"],
        format!("{}_member", rows[0]["policyId"].as_str().unwrap())
    );
    let approval = rows[0]["policy"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Approval_EndUser_Assignment")
        .unwrap()
        .clone();
    assert_eq!(
        approval["setting"]["isApprovalRequired"], true,
        "the tenant file's change"
    );
    // Bulk PATCH answers the policy without its rules; the rules change.
    let (member, _, _) = policy_ids(&h, HELPDESK).await;
    let patch = json!({ "rules": [{ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification", "MultiFactorAuthentication"] }] });
    let r = h
        .call("PATCH", &format!("{POLICIES}/{member}"), Some(&patch))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("rules").is_none());
    assert_eq!(r.body["scopeType"], "Group");
    let (member, _, _) = policy_ids(&h, HELPDESK).await;
    assert_eq!(
        r.body["id"],
        member.as_str(),
        "answered under the onboarded id"
    );
    let rule = h
        .get(&format!(
            "{POLICIES}/{member}/rules/Enablement_EndUser_Assignment"
        ))
        .await;
    assert_eq!(
        rule.body["enabledRules"],
        json!(["Justification", "MultiFactorAuthentication"])
    );
    // Which now binds an activation made without MFA.
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", CAROL, HELPDESK, "member", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201);
    let carol = h.emu.mint_token(CAROL, false);
    let act = request("selfActivate", CAROL, HELPDESK, "member", Some("PT1H"));
    let r = h.call_as(Some(&carol), "POST", ASSIGN, Some(&act)).await;
    assert!(
        assert_graph_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed")
            .contains("MfaRule")
    );
    let carol_mfa = h.emu.mint_token(CAROL, true);
    let r = h
        .call_as(Some(&carol_mfa), "POST", ASSIGN, Some(&act))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The scope filter is required; directory-role policies stay apart.
    let r = h.get(POLICIES).await;
    assert_graph_error(&r, 400, "UnknownError");
    let r = h
        .get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'")
        .await;
    assert!(
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["scopeType"] == "DirectoryRole")
    );
    let r = h
        .get(&format!("{POLICIES}?$filter=scopeId eq 'b1000000-0000-4000-8000-0000000000ff' and scopeType eq 'Group'"))
        .await;
    assert_eq!(r.body["value"], json!([]));
}

#[tokio::test]
async fn approvals_decide_group_activations() {
    let h = &harness().await;
    let bob = h.emu.mint_token(BOB, false);
    let alice = h.emu.mint_token(ALICE, false);
    let carol = h.emu.mint_token(CAROL, false);
    let dave = h.emu.mint_token(DAVE, false);
    let app = h.emu.mint_token(SP, false);
    let activate = |who: &str| request("selfActivate", who, OPERATORS, "member", Some("PT4H"));

    let r = h
        .call_as(Some(&bob), "POST", ASSIGN, Some(&activate(BOB)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "PendingApproval");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["approvalId"],
        id.as_str(),
        "a group approval is named by its request"
    );
    assert!(
        !members(h, OPERATORS, "members")
            .await
            .contains(&BOB.to_string())
    );
    let again = h
        .call_as(Some(&bob), "POST", ASSIGN, Some(&activate(BOB)))
        .await;
    assert_graph_error(&again, 400, "PendingRoleAssignmentRequest");

    // What waits: the requestor's view, and each approver's.
    let pending = h
        .call_as(Some(&bob), "GET", &format!("{ASSIGN}/filterByCurrentUser(on='principal')?$filter=status eq 'PendingApproval' and groupId eq '{OPERATORS}'"), None)
        .await;
    assert_eq!(ids(&pending, "id"), [id.as_str()]);
    assert_eq!(
        pending.body["value"][0]["@odata.type"],
        "#microsoft.graph.privilegedAccessGroupAssignmentScheduleRequest"
    );
    for (token, waits) in [
        (&alice, true),
        (&carol, true),
        (&dave, false),
        (&bob, false),
    ] {
        let r = h
            .call_as(
                Some(token),
                "GET",
                &format!("{ASSIGN}/filterByCurrentUser(on='approver')"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(ids(&r, "id").contains(&id), waits, "{}", r.body);
    }
    let approval = |token: &str| {
        let (token, url) = (token.to_string(), format!("{P}/assignmentApprovals/{id}"));
        async move { h.call_as(Some(&token), "GET", &url, None).await }
    };
    let r = approval(&alice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let stages = r.body["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 1);
    let stage = &stages[0];
    assert_eq!(
        (
            stage["status"].as_str(),
            stage["reviewResult"].as_str(),
            stage["assignedToMe"].as_bool()
        ),
        (Some("InProgress"), Some("NotReviewed"), Some(true))
    );
    assert!(stage["reviewedBy"].is_null() && stage["reviewedDateTime"].is_null());
    let stage_id = stage["id"].as_str().unwrap().to_string();
    assert_eq!(
        approval(&bob).await.body["stages"][0]["assignedToMe"],
        false
    );
    let r = h
        .call_as(
            Some(&alice),
            "GET",
            &format!("{P}/assignmentApprovals/{id}/stages"),
            None,
        )
        .await;
    assert_eq!(ids(&r, "id"), [stage_id.as_str()]);
    let stage_url = format!("{P}/assignmentApprovals/{id}/stages/{stage_id}");
    let r = h.call_as(Some(&carol), "GET", &stage_url, None).await;
    assert_eq!(
        r.body["assignedToMe"], true,
        "a member of an approver group"
    );

    // Refusals: the requestor, someone else, an application, nothing to find.
    let approve = json!({ "reviewResult": "Approve", "justification": "on call" });
    let r = h
        .call_as(Some(&bob), "PATCH", &stage_url, Some(&approve))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = h
        .call_as(Some(&dave), "PATCH", &stage_url, Some(&approve))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    for (method, body) in [("GET", None), ("PATCH", Some(&approve))] {
        let r = h.call_as(Some(&app), method, &stage_url, body).await;
        assert_graph_error(&r, 403, "UnknownError");
    }
    let unknown = format!("{P}/assignmentApprovals/d1000000-0000-4000-8000-0000000000ff");
    assert_graph_error(
        &h.call_as(Some(&alice), "GET", &unknown, None).await,
        404,
        "ResourceNotFound",
    );
    let r = h
        .call_as(
            Some(&alice),
            "PATCH",
            &format!("{unknown}/stages/x"),
            Some(&approve),
        )
        .await;
    assert_graph_error(&r, 404, "ResourceNotFound");
    let r = h
        .call_as(
            Some(&alice),
            "PATCH",
            &format!("{P}/assignmentApprovals/{id}/stages/other"),
            Some(&approve),
        )
        .await;
    assert_graph_error(&r, 404, "ResourceNotFound");
    let r = h
        .call_as(
            Some(&alice),
            "PATCH",
            &stage_url,
            Some(&json!({ "reviewResult": "Approve" })),
        )
        .await;
    assert!(
        assert_graph_error(&r, 400, "BadRequest").contains("justification"),
        "the stage asks approvers why"
    );
    let r = h
        .call_as(
            Some(&alice),
            "PATCH",
            &stage_url,
            Some(&json!({ "reviewResult": "Maybe" })),
        )
        .await;
    assert_graph_error(&r, 400, "BadRequest");

    // Approve: 204, the activation takes effect; the stage says who decided.
    let r = h
        .call_as(Some(&alice), "PATCH", &stage_url, Some(&approve))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null());
    let req = h.get(&format!("{ASSIGN}/{id}")).await;
    assert_eq!(req.body["status"], "Provisioned", "{}", req.body);
    let schedule = h
        .get(&format!(
            "{P}/assignmentSchedules/{}",
            req.body["targetScheduleId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        schedule.body["assignmentType"], "activated",
        "{}",
        schedule.body
    );
    assert!(
        members(h, OPERATORS, "members")
            .await
            .contains(&BOB.to_string())
    );
    let stage = h.call_as(Some(&carol), "GET", &stage_url, None).await.body;
    assert_eq!(
        (stage["status"].as_str(), stage["reviewResult"].as_str()),
        (Some("Completed"), Some("Approve"))
    );
    assert_eq!(
        stage["reviewedBy"],
        json!({ "id": ALICE, "displayName": "Alice" })
    );
    assert_eq!(stage["justification"], "on call");
    assert_eq!(stage["reviewedDateTime"], NOW);
    let r = h
        .call_as(Some(&carol), "PATCH", &stage_url, Some(&approve))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Deny: the request ends Denied, nothing is granted.
    let r = h
        .call_as(
            Some(&h.emu.mint_token(ERIN, false)),
            "POST",
            ASSIGN,
            Some(&activate(ERIN)),
        )
        .await;
    let erin_id = r.body["id"].as_str().unwrap().to_string();
    let url = format!("{P}/assignmentApprovals/{erin_id}/stages/{erin_id}");
    let deny = json!({ "reviewResult": "Deny", "justification": "not on the rota" });
    let r = h.call_as(Some(&carol), "PATCH", &url, Some(&deny)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.get(&format!("{ASSIGN}/{erin_id}")).await.body["status"],
        "Denied"
    );
    assert!(
        !members(h, OPERATORS, "members")
            .await
            .contains(&ERIN.to_string())
    );
    let r = h.call_as(Some(&alice), "PATCH", &url, Some(&deny)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = h
        .call_as(
            Some(&alice),
            "GET",
            &format!("{ASSIGN}/filterByCurrentUser(on='approver')"),
            None,
        )
        .await;
    assert_eq!(
        ids(&r, "id"),
        Vec::<String>::new(),
        "nothing waits any more"
    );
}

fn with_permissions(application: &[&str], delegated: &[&str]) -> EmulatorConfig {
    EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        clock: EmulatorClock::fixed(at(NOW)),
        permissions: Permissions {
            application: application.iter().map(|p| p.to_string()).collect(),
            delegated: delegated.iter().map(|p| p.to_string()).collect(),
        },
        ..EmulatorConfig::default()
    }
}

fn scope_not_granted(r: &Reply) -> String {
    let message = assert_graph_error(r, 403, "UnknownError");
    let inner: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(inner["errorCode"], "PermissionScopeNotGranted");
    inner["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn group_calls_ask_for_the_group_permissions() {
    let reader = [
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
        "PrivilegedAssignmentSchedule.Read.AzureADGroup",
        "RoleManagementPolicy.Read.AzureADGroup",
        "GroupMember.Read.All",
    ];
    let h = &Harness::start(with_permissions(&reader, &reader)).await;
    let app = h.emu.mint_token(SP, false);
    let bob = h.emu.mint_token(BOB, false);
    for token in [&app, &bob] {
        let get = |url: String| {
            let token = token.to_string();
            async move { h.call_as(Some(&token), "GET", &url, None).await }
        };
        for set in ["eligibilitySchedules", "assignmentScheduleInstances"] {
            let r = get(format!("{P}/{set}?$filter=groupId eq '{OPERATORS}'")).await;
            assert_eq!(r.status, 200, "{set}: {}", r.body);
        }
        // Requests are read with the ReadWrite permission.
        let r = get(format!("{ELIGIBLE}?$filter=groupId eq '{OPERATORS}'")).await;
        assert!(
            scope_not_granted(&r)
                .ends_with("PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup.")
        );
        let r = get(format!("{ASSIGN}?$filter=groupId eq '{OPERATORS}'")).await;
        assert!(
            scope_not_granted(&r).ends_with("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup.")
        );
        let r = get(format!("{ASSIGN}/filterByCurrentUser(on='principal')")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = h
            .call_as(
                Some(token),
                "POST",
                ELIGIBLE,
                Some(&request(
                    "adminAssign",
                    CAROL,
                    HELPDESK,
                    "member",
                    Some("P30D"),
                )),
            )
            .await;
        scope_not_granted(&r);
        let r = get(format!(
            "{POLICY_ASSIGNMENTS}?$filter=scopeId eq '{OPERATORS}' and scopeType eq 'Group'"
        ))
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let member = r.body["value"][0]["policyId"].as_str().unwrap().to_string();
        let rule = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
            "id": "Expiration_EndUser_Assignment", "isExpirationRequired": true, "maximumDuration": "PT1H" });
        let r = h
            .call_as(
                Some(token),
                "PATCH",
                &format!("{POLICIES}/{member}/rules/Expiration_EndUser_Assignment"),
                Some(&rule),
            )
            .await;
        assert!(scope_not_granted(&r).ends_with("RoleManagementPolicy.ReadWrite.AzureADGroup."));
        // The directory-role policies want their own permission.
        let r = get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'".into()).await;
        scope_not_granted(&r);
        let r = get(format!("/v1.0/groups/{HELPDESK}/members")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = get(format!("/v1.0/groups/{HELPDESK}")).await;
        assert_graph_error(&r, 403, "Authorization_RequestDenied");
    }
    // Directory-role permissions grant nothing on groups.
    let roles = ["RoleManagement.ReadWrite.Directory"];
    let h = Harness::start(with_permissions(&roles, &roles)).await;
    let r = h
        .get(&format!(
            "{P}/eligibilitySchedules?$filter=groupId eq '{OPERATORS}'"
        ))
        .await;
    assert!(scope_not_granted(&r).ends_with("PrivilegedEligibilitySchedule.Read.AzureADGroup."));
    let r = h
        .get(&format!(
            "{POLICIES}?$filter=scopeId eq '{OPERATORS}' and scopeType eq 'Group'"
        ))
        .await;
    scope_not_granted(&r);
}

#[tokio::test]
async fn a_batch_reads_twenty_groups_one_filter_each() {
    let mut t = tenant();
    let groups: Vec<String> = (0..20)
        .map(|i| format!("e1000000-0000-4000-8000-{i:012}"))
        .collect();
    for (i, g) in groups.iter().enumerate() {
        t.groups.push(Group {
            id: g.clone(),
            display_name: format!("Team {i}"),
            ..Group::default()
        });
        for _ in 0..=i % 3 {
            t.group_eligibility_schedules.push(GroupScheduleSeed {
                principal: [BOB, CAROL, DAVE][t.group_eligibility_schedules.len() % 3].into(),
                group: g.clone(),
                access: "member".into(),
                duration: Some("P30D".into()),
                ..GroupScheduleSeed::default()
            });
        }
    }
    let h = Harness::with_seed(t.clone(), NOW).await;
    let requests: Vec<Value> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| json!({ "id": i.to_string(), "method": "GET",
            "url": format!("/identityGovernance/privilegedAccess/group/eligibilitySchedules?$filter=groupId eq '{g}'") }))
        .collect();
    let r = h
        .post("/v1.0/$batch", &json!({ "requests": requests }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let responses = r.body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 20);
    for resp in responses {
        let i: usize = resp["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(resp["status"], 200, "{resp}");
        let rows = resp["body"]["value"].as_array().unwrap();
        let want = t
            .group_eligibility_schedules
            .iter()
            .filter(|s| s.group == groups[i])
            .count();
        assert_eq!(rows.len(), want, "{resp}");
        assert!(rows.iter().all(|s| s["groupId"] == groups[i].as_str()));
    }
    // The filter rule holds inside a batch; writes work there too.
    let batch = json!({ "requests": [
        { "id": "a", "method": "GET", "url": "/identityGovernance/privilegedAccess/group/assignmentSchedules" },
        { "id": "b", "method": "POST", "url": "/identityGovernance/privilegedAccess/group/eligibilityScheduleRequests",
          "headers": { "Content-Type": "application/json" },
          "body": request("adminAssign", CAROL, HELPDESK, "owner", Some("P30D")) },
        { "id": "c", "method": "GET", "dependsOn": ["b"],
          "url": format!("/identityGovernance/privilegedAccess/group/eligibilitySchedules?$filter=groupId eq '{HELPDESK}'") },
    ] });
    let r = h.post("/v1.0/$batch", &batch).await;
    let responses = r.body["responses"].as_array().unwrap();
    let status: Vec<u64> = responses
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(status, [400, 201, 200], "{}", r.body);
    assert_eq!(responses[2]["body"]["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_tenant_file_seeds_groups_and_keeps_what_changed() {
    let h = harness().await;
    // Relative times, names and any-case enums resolved at load.
    let r = h
        .get(&format!(
            "{P}/eligibilitySchedules?$filter=groupId eq '{OPERATORS}'"
        ))
        .await;
    let rows = r.body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", r.body);
    let bob = rows.iter().find(|s| s["principalId"] == BOB).unwrap();
    assert_eq!(bob["scheduleInfo"]["startDateTime"], "2026-11-21T10:00:00Z");
    assert_eq!(
        bob["scheduleInfo"]["expiration"]["endDateTime"],
        "2026-12-31T10:00:00Z"
    );
    assert_eq!(bob["memberType"], "direct");
    assert!(
        bob["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{OPERATORS}_member_"))
    );
    let outside = h
        .get(&format!("{P}/assignmentScheduleInstances?$filter=groupId eq '{OPERATORS}' and accessId eq 'owner'"))
        .await;
    let row = &outside.body["value"][0];
    assert_eq!(
        (row["principalId"].as_str(), row["startDateTime"].as_str()),
        (Some(ALICE), None),
        "made outside PIM: no dates"
    );
    let group = h.get(&format!("/v1.0/groups/{DYNAMIC}")).await;
    assert_eq!(group.body["groupTypes"], json!(["DynamicMembership"]));
    let group = h.get(&format!("/v1.0/groups/{PROJECT_X}")).await;
    assert_eq!(group.body["mailEnabled"], true, "a Microsoft 365 group");
    assert!(group.body["onPremisesSyncEnabled"].is_null());

    // What the emulator writes back loads again, onboarding and all.
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", CAROL, HELPDESK, "owner", Some("P30D")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (member, owner, _) = policy_ids(&h, HELPDESK).await;
    let rule = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_EndUser_Assignment", "isExpirationRequired": true, "maximumDuration": "PT2H" });
    let r = h
        .call(
            "PATCH",
            &format!("{POLICIES}/{owner}/rules/Expiration_EndUser_Assignment"),
            Some(&rule),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let saved = h.emu.snapshot();
    assert!(
        saved
            .groups
            .iter()
            .any(|g| g.id == HELPDESK && g.pim_onboarded)
    );
    assert!(
        saved
            .groups
            .iter()
            .any(|g| g.id == PROJECT_X && !g.pim_onboarded)
    );
    assert_eq!(saved.group_assignment_schedules.len(), 2);
    assert_eq!(saved.group_assignment_requests.len(), 1);
    assert_eq!(saved.group_eligibility_requests.len(), 2);
    let changed: Vec<(&str, &str)> = saved
        .group_policies
        .iter()
        .map(|p| (p.group.as_str(), p.access.as_str()))
        .collect();
    assert_eq!(changed, [(OPERATORS, "member"), (HELPDESK, "owner")]);
    let text = serde_json::to_string(&saved).unwrap();
    let h2 = Harness::with_seed(Tenant::from_json(&text).unwrap(), NOW).await;
    assert_eq!(policy_ids(&h2, HELPDESK).await.0, member);
    assert_eq!(policy_ids(&h2, HELPDESK).await.1, owner);
    let rule = h2
        .get(&format!(
            "{POLICIES}/{owner}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(rule.body["maximumDuration"], "PT2H");
    assert_eq!(members(&h2, HELPDESK, "owners").await, [ALICE, CAROL]);
    let req = h2
        .get(&format!("{ASSIGN}?$filter=groupId eq '{HELPDESK}'"))
        .await;
    assert_eq!(ids(&req, "principalId"), [CAROL]);

    // A seed naming what is not there is refused.
    for (bad, why) in [
        (
            json!({ "tenantId": "t", "users": [{ "id": BOB, "displayName": "Bob", "userPrincipalName": "bob@x" }],
                "groupEligibilitySchedules": [{ "principal": BOB, "group": "Nobody", "access": "member" }] }),
            "unknown group",
        ),
        (
            json!({ "tenantId": "t", "users": [{ "id": BOB, "displayName": "Bob", "userPrincipalName": "bob@x" }],
                "groups": [{ "id": OPERATORS, "displayName": "Twins" }, { "id": HELPDESK, "displayName": "Twins" }],
                "groupAssignmentSchedules": [{ "principal": BOB, "group": "Twins", "access": "member" }] }),
            "2 groups are named",
        ),
        (
            json!({ "tenantId": "t", "groups": [{ "id": OPERATORS, "displayName": "Ops" }],
                "groupPolicies": [{ "group": "Ops", "access": "reader" }] }),
            "not member or owner",
        ),
        (
            json!({ "tenantId": "t", "groups": [{ "id": OPERATORS, "displayName": "Ops" }],
                "groupPolicies": [{ "group": "Ops", "access": "member", "id": "Group_other_1234" }] }),
            "must start with",
        ),
    ] {
        let t = Tenant::from_json(&bad.to_string()).unwrap();
        let config = EmulatorConfig {
            seed: Some(t),
            tls: false,
            ..EmulatorConfig::default()
        };
        let error = pim_emulator::Emulator::start(config)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains(why)),
            "{bad}: {error:?}"
        );
    }
}
