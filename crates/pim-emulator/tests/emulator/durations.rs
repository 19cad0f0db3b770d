//! Durations as Graph holds them: an Edm.Duration (days, hours, minutes,
//! seconds) stored as a length and answered in canonical form.

use super::{ALICE, ASSIGN, BOB, ELIGIBLE, HELPDESK, for_duration, harness, request, tenant};
use crate::emulator_common::{Harness, assert_graph_error};
use serde_json::{Value, json};

async fn expiration_rule_url(h: &Harness, role: &str, rule: &str) -> String {
    let q = format!(
        "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{role}'"
    );
    let pid = h.get(&q).await.body["value"][0]["policyId"]
        .as_str()
        .unwrap()
        .to_string();
    format!("/v1.0/policies/roleManagementPolicies/{pid}/rules/{rule}")
}

fn expiration_patch(rule: &str, max: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": rule, "isExpirationRequired": false, "maximumDuration": max })
}

#[tokio::test]
async fn years_months_and_weeks_are_refused_in_schedule_requests() {
    let h = harness().await;
    for d in ["P1Y", "P6M", "P2W", "P1Y2M"] {
        let r = h
            .post(
                ELIGIBLE,
                &request("adminAssign", BOB, HELPDESK, Some(for_duration(d))),
            )
            .await;
        let m = assert_graph_error(&r, 400, "BadRequest");
        assert_eq!(
            m,
            format!("Cannot convert the literal '{d}' to the expected type 'Edm.Duration'.")
        );
    }
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, HELPDESK, Some(for_duration("P14D"))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn years_months_and_weeks_are_refused_in_rule_patches() {
    let h = harness().await;
    let rule = "Expiration_Admin_Eligibility";
    let url = expiration_rule_url(&h, HELPDESK, rule).await;
    let before = h.get(&url).await.body["maximumDuration"].clone();
    for d in ["P1Y", "P6M", "P2W"] {
        let r = h
            .call("PATCH", &url, Some(&expiration_patch(rule, d)))
            .await;
        assert_eq!(
            assert_graph_error(&r, 400, "BadRequest"),
            format!("Invalid value for property 'maximumDuration' of rule {rule}.")
        );
    }
    assert_eq!(h.get(&url).await.body["maximumDuration"], before);
    let r = h
        .call("PATCH", &url, Some(&expiration_patch(rule, "P365D")))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

#[tokio::test]
async fn rule_durations_are_answered_in_canonical_form() {
    let h = harness().await;
    let rule = "Expiration_Admin_Assignment";
    let url = expiration_rule_url(&h, HELPDESK, rule).await;
    for (sent, stored) in [
        ("PT24H", "P1D"),
        ("PT90M", "PT1H30M"),
        ("PT36H", "P1DT12H"),
        ("P180D", "P180D"),
    ] {
        let r = h
            .call("PATCH", &url, Some(&expiration_patch(rule, sent)))
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(h.get(&url).await.body["maximumDuration"], stored, "{sent}");
    }
    // The stored length is what requests are checked against.
    let mut required = expiration_patch(rule, "PT48H");
    required["isExpirationRequired"] = json!(true);
    assert_eq!(h.call("PATCH", &url, Some(&required)).await.status, 204);
    let long = h
        .post(
            ASSIGN,
            &request("adminAssign", ALICE, HELPDESK, Some(for_duration("PT49H"))),
        )
        .await;
    assert_graph_error(&long, 400, "RoleAssignmentRequestPolicyValidationFailed");
    let ok = h
        .post(
            ASSIGN,
            &request("adminAssign", ALICE, HELPDESK, Some(for_duration("P2D"))),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn schedule_durations_are_answered_in_canonical_form() {
    let h = harness().await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, HELPDESK, Some(for_duration("PT36H"))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scheduleInfo"]["expiration"]["duration"], "P1DT12H");
    let id = r.body["id"].as_str().unwrap();
    let again = h.get(&format!("{ELIGIBLE}/{id}")).await;
    assert_eq!(
        again.body["scheduleInfo"]["expiration"]["duration"],
        "P1DT12H"
    );
    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["scheduleInfo"]["expiration"]["duration"], "P1DT12H");
}

async fn seed_error(t: pim_emulator::Tenant) -> String {
    let started = pim_emulator::Emulator::start(pim_emulator::EmulatorConfig {
        seed: Some(t),
        tls: false,
        clock: pim_emulator::EmulatorClock::fixed(crate::emulator_common::at(super::NOW)),
        ..pim_emulator::EmulatorConfig::default()
    })
    .await;
    match started {
        Ok(emu) => {
            emu.stop().await;
            panic!("the seed was accepted");
        }
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn seeds_with_years_months_or_weeks_are_refused() {
    let mut t = tenant();
    t.eligibility_schedules[0].end = None;
    t.eligibility_schedules[0].duration = Some("P6M".into());
    let e = seed_error(t).await;
    assert!(e.contains("\"P6M\" counts months"), "{e}");
    assert!(e.contains("write \"P180D\""), "{e}");

    let mut t = tenant();
    t.policies.push(pim_emulator::PolicySeed {
        role: HELPDESK.into(),
        id: None,
        rules: vec![json!({ "id": "Expiration_Admin_Eligibility", "maximumDuration": "P1Y" })],
        last_modified_date_time: None,
        last_modified_by: None,
    });
    let e = seed_error(t).await;
    assert!(e.contains("maximumDuration: \"P1Y\" counts years"), "{e}");
}
