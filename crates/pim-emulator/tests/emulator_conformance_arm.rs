//! Replays the ARM PIM request/response pairs (`tests/fixtures/arm/examples`,
//! from the 2020-10-01 spec examples and the REST docs) against the emulator
//! seeded with the ids they use (`tests/fixtures/arm/conformance-tenant.json`)
//! and compares shapes as the Graph replays do. The examples contradict each
//! other (arm-pim.md §12): each one runs on its own emulator, on the seed
//! changed as the table below says; a key that cannot match is skipped only
//! where an example is defective, with the reason. The emulator honours
//! every fixture; the approval examples' stage id is replaced by the
//! emulator's (an approval's one stage has the approval's id).

mod emulator_common;

use emulator_common::conformance::{compare, load_fixtures};
use emulator_common::{Harness, at};
use pim_emulator::{EmulatorClock, EmulatorConfig, Tenant};
use serde_json::{Value, json};

const NOW: &str = "2020-09-09T21:40:00Z";
const PRINCIPAL: &str = "a3bb8764-cb92-4276-9d2a-ca1e895e55ea";
const ELIGIBILITY: &str = "b1477448-2cc6-4ceb-93b4-54a202a89413";
const ACTIVATION: &str = "c9e264ff-3133-4776-a81a-ebc7c33c8ec6";
const CONTRIBUTOR_ELIGIBILITY: &str = "0e7c1d2a-5b3f-4c8e-9a1d-6f2b4c8e0a13";
const ASSIGN_REQUEST: &str = "64caffb6-55c0-4deb-a585-68e948ea1ad6";
const ACTIVATE_REQUEST: &str = "fea7a502-9a96-4806-a26f-eee560e52045";

fn arm_fixture_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/arm")
        .join(rel)
}

/// The stage id of the approval examples; the emulator names an
/// approval's one stage by the approval's id.
const DOCS_STAGE: &str = "4135f961-be78-4005-8101-c72a5af307a2";
const APPROVAL: &str = "488a6d0e-0a63-4946-86e3-1f5bbc934661";
const PENDING_REQUEST: &str = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b";

/// Keys of an example that are not compared, and the defect that makes them so.
fn defects(name: &str) -> &'static [&'static str] {
    match name {
        // `type` names a collection that does not exist
        // (`Microsoft.Authorization/RoleEligibilityRequests`).
        "list_roleEligibilityScheduleRequests_assignedTo"
        | "get_roleEligibilityScheduleRequest" => &["type"],
        // `exceptionMembers` is not in the 2020-10-01 schema; the emulator
        // neither keeps nor returns it.
        "update_roleManagementPolicy" | "update_roleManagementPolicy_partial" => {
            &["exceptionMembers"]
        }
        // An approval typed as its stages
        // (`Microsoft.Authorization/roleAssignmentApprovals/stages`).
        "get_roleAssignmentApproval" | "list_roleAssignmentApprovals" => &["type"],
        // A stage typed with the older spec revision's `…/steps` segment;
        // the other examples and the docs say `stages`.
        "get_roleAssignmentApprovalStage" => &["type"],
        // An instance in force shown as `Accepted` while its schedule and
        // request say `Provisioned`; the emulator says `Provisioned`.
        "get_roleAssignmentScheduleInstance"
        | "list_roleAssignmentScheduleInstances_assignedTo" => &["status"],
        _ => &[],
    }
}

/// The seed an example needs: the examples create grants that the other
/// examples list as existing, and cancel requests they show as done.
fn seed_for(name: &str, base: &Tenant) -> Tenant {
    let mut t = base.clone();
    let azure = t.azure.as_mut().unwrap();
    let drop_schedule = |list: &mut Vec<pim_emulator::AzureScheduleSeed>, id: &str| {
        list.retain(|s| s.id.as_deref() != Some(id));
    };
    let drop_request = |list: &mut Vec<Value>, id: &str| list.retain(|r| r["name"] != id);
    match name {
        "create_roleEligibilityScheduleRequest_adminAssign"
        | "validate_roleEligibilityScheduleRequest" => {
            drop_schedule(&mut azure.eligibility_schedules, ELIGIBILITY);
            drop_request(&mut azure.eligibility_requests, ASSIGN_REQUEST);
        }
        "create_roleAssignmentScheduleRequest_selfActivate"
        | "validate_roleAssignmentScheduleRequest" => {
            drop_schedule(&mut azure.assignment_schedules, ACTIVATION);
            drop_request(&mut azure.assignment_requests, ACTIVATE_REQUEST);
        }
        // Only a pending request can be canceled; the examples cancel the
        // requests the get examples show as provisioned.
        "cancel_roleEligibilityScheduleRequest" => {
            azure.eligibility_requests[0]["properties"]["status"] = json!("PendingAdminDecision");
        }
        "cancel_roleAssignmentScheduleRequest" => {
            azure.assignment_requests[0]["properties"]["status"] = json!("PendingApproval");
        }
        // A permanent eligibility of a role the principal is not yet eligible for.
        "error_create_roleEligibilityScheduleRequest_ExpirationRule" => {
            drop_schedule(&mut azure.eligibility_schedules, CONTRIBUTOR_ELIGIBILITY);
        }
        _ => {}
    }
    t
}

#[tokio::test]
async fn replays_every_arm_example() {
    let base = Tenant::from_file(arm_fixture_path("conformance-tenant.json")).unwrap();
    let fixtures = load_fixtures(&arm_fixture_path("examples"));
    assert_eq!(fixtures.len(), 36);
    let mut failures = Vec::new();
    for f in &fixtures {
        // One page holds every role's policy: the list examples show one
        // page, whatever role's policy they picked.
        let h = Harness::start(EmulatorConfig {
            seed: Some(seed_for(&f.name, &base)),
            tls: false,
            clock: EmulatorClock::fixed(at(NOW)),
            page_size: 1000,
            ..EmulatorConfig::default()
        })
        .await;
        let token = h.emu.mint_arm_token(PRINCIPAL, true);
        let url = f
            .url
            .replace("https://management.azure.com", h.emu.base_url())
            .replace(DOCS_STAGE, APPROVAL);
        let r = h
            .call_as(Some(&token), &f.method, &url, f.body.as_ref())
            .await;
        if r.status != f.status {
            failures.push(format!(
                "{}: status {} != {} ({})",
                f.name, r.status, f.status, r.body
            ));
            continue;
        }
        assert!(
            r.headers.contains_key("x-ms-request-id"),
            "{}: x-ms-request-id",
            f.name
        );
        let whose = if f.url.contains("/subscriptions/") {
            "subscription"
        } else {
            "tenant"
        };
        let op = match f.method.as_str() {
            "GET" => "reads",
            "DELETE" => "deletes",
            _ => "writes",
        };
        let limit = format!("x-ms-ratelimit-remaining-{whose}-{op}");
        assert!(
            r.headers.contains_key(limit.as_str()),
            "{}: {limit}",
            f.name
        );
        let mut errors = Vec::new();
        match &f.response {
            Some(expected) => compare(expected, &r.body, "$", "", defects(&f.name), &mut errors),
            None => assert!(
                r.body.is_null() || f.name.contains("adminRemove"),
                "{}: a body",
                f.name
            ),
        }
        for e in errors {
            failures.push(format!("{}: {e}", f.name));
        }
        // What a write did must show in the next read.
        let local = f.url.replace("https://management.azure.com", "");
        let read = |path: &str| {
            let path = path.to_string();
            let (h, token) = (&h, token.clone());
            async move { h.call_as(Some(&token), "GET", &path, None).await }
        };
        match f.name.as_str() {
            "cancel_roleEligibilityScheduleRequest" | "cancel_roleAssignmentScheduleRequest" => {
                let got = read(&local.replace("/cancel", "")).await;
                assert_eq!(got.body["properties"]["status"], "Canceled", "{}", got.body);
            }
            "create_roleEligibilityScheduleRequest_adminRemove" => {
                assert_eq!(r.body["properties"]["status"], "Revoked", "{}", r.body);
                let sub = "/subscriptions/dfa2a084-766f-4003-8ae1-c4aeb893a99f/providers/Microsoft.Authorization";
                let got = read(&format!("{sub}/roleEligibilitySchedules/{CONTRIBUTOR_ELIGIBILITY}?api-version=2020-10-01")).await;
                assert_eq!(got.status, 404, "{}", got.body);
            }
            "create_roleAssignmentScheduleRequest_selfActivate" => {
                let target = r.body["properties"]["targetRoleAssignmentScheduleId"]
                    .as_str()
                    .unwrap();
                let sub = "/subscriptions/dfa2a084-766f-4003-8ae1-c4aeb893a99f/providers/Microsoft.Authorization";
                let got = read(&format!(
                    "{sub}/roleAssignmentSchedules/{target}?api-version=2020-10-01"
                ))
                .await;
                assert_eq!(
                    got.body["properties"]["assignmentType"], "Activated",
                    "{}",
                    got.body
                );
                assert_eq!(
                    got.body["properties"]["linkedRoleEligibilityScheduleId"],
                    ELIGIBILITY
                );
            }
            "validate_roleEligibilityScheduleRequest"
            | "validate_roleAssignmentScheduleRequest" => {
                let name = local.split('/').rev().nth(1).unwrap().to_string();
                let kind = if f.name.contains("Eligibility") {
                    "roleEligibilityScheduleRequests"
                } else {
                    "roleAssignmentScheduleRequests"
                };
                let got = read(&format!("/subscriptions/dfa2a084-766f-4003-8ae1-c4aeb893a99f/providers/Microsoft.Authorization/{kind}/{name}?api-version=2020-10-01")).await;
                assert_eq!(got.status, 404, "validate stores nothing: {}", got.body);
            }
            "update_roleManagementPolicy_partial" => {
                let got = read(&local).await;
                let rules = got.body["properties"]["rules"].as_array().unwrap();
                assert_eq!(rules.len(), 17);
                let sent = &f.body.as_ref().unwrap()["properties"]["rules"][0];
                let id = sent["id"].as_str().unwrap();
                let now = rules.iter().find(|r| r["id"] == id).unwrap();
                assert_eq!(now["maximumDuration"], sent["maximumDuration"], "{id}");
            }
            "update_roleAssignmentApprovalStage_approve"
            | "update_roleAssignmentApprovalStage_scoped" => {
                let sub = "/subscriptions/69356bc4-b3be-441a-b12f-503b745e0dea/providers/Microsoft.Authorization";
                let got = read(&format!(
                    "{sub}/roleAssignmentScheduleRequests/{PENDING_REQUEST}?{}",
                    "api-version=2020-10-01"
                ))
                .await;
                assert_eq!(
                    got.body["properties"]["status"], "Provisioned",
                    "{}",
                    got.body
                );
                let active = read(&format!(
                    "{sub}/roleAssignmentScheduleInstances?api-version=2020-10-01&$filter=atScope()"
                ))
                .await;
                assert_eq!(
                    active.body["value"].as_array().unwrap().len(),
                    1,
                    "{}",
                    active.body
                );
                let stage = read(&local.replace(DOCS_STAGE, APPROVAL)).await;
                assert_eq!(
                    stage.body["properties"]["reviewedBy"]["principalId"],
                    PRINCIPAL
                );
            }
            "delete_roleManagementPolicyAssignment" => {
                let got = read(&local).await;
                assert_eq!(got.status, 404, "{}", got.body);
            }
            _ => {}
        }
        h.emu.clock().set(at(NOW));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
