//! The seed format and persistence: a data file surviving a restart and
//! reset, relative times, the JSON schema and the contoso example.

use super::{BOB, ELIGIBLE, GA, NOW, for_duration, request, tenant};
use crate::emulator_common::{Harness, at};
use pim_emulator::{EmulatorClock, EmulatorConfig, Tenant};
use serde_json::{Value, json};

#[tokio::test]
async fn a_persisted_tenant_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("pim-emu-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("tenant.json");
    let config = || EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        clock: EmulatorClock::fixed(at(NOW)),
        data_file: Some(data.clone()),
        ..EmulatorConfig::default()
    };
    let h = Harness::start(config()).await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, GA, Some(for_duration("P10D"))),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let pid = h.get(&format!("/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{GA}'")).await.body["value"][0]["policyId"].as_str().unwrap().to_string();
    let patch = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule", "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": true, "maximumDuration": "PT2H" });
    assert_eq!(
        h.call(
            "PATCH",
            &format!(
                "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
            ),
            Some(&patch)
        )
        .await
        .status,
        204
    );
    h.emu.stop().await;
    assert!(
        !std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );

    let h2 = Harness::start(config()).await;
    assert_eq!(
        h2.get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await
        .status,
        200
    );
    assert_eq!(
        h2.get(&format!("{ELIGIBLE}/{id}")).await.body["action"],
        "adminAssign"
    );
    let rule = h2
        .get(&format!(
            "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(rule.body["maximumDuration"], "PT2H");
    // Reset goes back to the seed, and so does the file.
    let r = h2.call_as(None, "POST", "/_emulator/reset", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        h2.get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await
        .status,
        404
    );
    let saved = Tenant::from_file(&data).unwrap();
    assert!(
        saved
            .eligibility_schedules
            .iter()
            .all(|s| s.id.as_deref() != Some(id.as_str()))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relative_times_in_seeds_resolve_against_the_clock() {
    let t = tenant();
    let alice = t
        .eligibility_schedules
        .iter()
        .find(|s| s.principal == "user:alice@fabrikam.com")
        .unwrap();
    assert_eq!(alice.end.as_deref(), Some("+P5D"));
    let bad = r#"{"tenantId":"x","users":[],"unknownThing":1}"#;
    assert!(Tenant::from_json(bad).is_err(), "unknown keys are rejected");
}

#[test]
fn seeds_match_the_json_schema() {
    // The seed format is pim's documented schema; the seeds are pim's and ours.
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/tenant.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for file in [
        "examples/contoso/tenant.json",
        "crates/pim-emulator/tests/fixtures/graph/test-tenant.json",
        "crates/pim-emulator/tests/fixtures/graph/conformance-tenant.json",
        "crates/pim-emulator/tests/fixtures/groups/test-tenant.json",
        "crates/pim-emulator/tests/fixtures/groups/conformance-tenant.json",
        "crates/pim-emulator/tests/fixtures/arm/test-tenant.json",
        "crates/pim-emulator/tests/fixtures/arm/conformance-tenant.json",
        "tests/fixtures/selfservice/tenant.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
        Tenant::from_json(&serde_json::to_string(&doc).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let bad = json!({ "tenantId": "x", "users": [{ "id": "1" }] });
    assert!(!validator.is_valid(&bad));
}

#[tokio::test]
async fn the_contoso_seed_loads() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let seed = Tenant::from_file(root.join("examples/contoso/tenant.json")).unwrap();
    let h = Harness::with_seed(seed, NOW).await;
    let r = h
        .get("/v1.0/users?$filter=userPrincipalName eq 'breakglass1@contoso.com'")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let users = h.get("/v1.0/users?$count=true&$top=1").await;
    assert!(users.body["@odata.count"].as_u64().unwrap() >= 200);
}

#[test]
fn the_contoso_config_is_valid_hcl_naming_seeded_principals() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("examples/contoso");
    let seed = Tenant::from_file(root.join("tenant.json")).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".pim.hcl") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Every principal the config names exists in the seed.
        for part in text.split('"').skip(1).step_by(2) {
            if let Some(upn) = part.strip_prefix("user:") {
                assert!(
                    seed.users.iter().any(|u| u.user_principal_name == upn),
                    "{upn} missing from tenant.json"
                );
            } else if let Some(name) = part.strip_prefix("group:") {
                assert!(
                    seed.groups
                        .iter()
                        .any(|g| g.display_name == name && g.is_assignable_to_role),
                    "{name}"
                );
            } else if let Some(name) = part.strip_prefix("sp:") {
                assert!(
                    seed.service_principals
                        .iter()
                        .any(|s| s.display_name == name),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(files, 4);
}
