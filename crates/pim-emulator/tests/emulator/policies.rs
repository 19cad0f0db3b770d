//! Policies and rules: the scope filter on policy reads and the
//! semantics of rule PATCH.

use super::{BOB, ELIGIBLE, HELPDESK, NOW, SECURITY_ADMIN, for_duration, harness, request};
use crate::emulator_common;
use crate::emulator_common::assert_graph_error;
use serde_json::json;

#[tokio::test]
async fn policy_reads_need_the_scope_filter() {
    let h = harness().await;
    let missing = h.get("/v1.0/policies/roleManagementPolicies").await;
    let m = assert_graph_error(&missing, 400, "UnknownError");
    assert_eq!(
        m,
        r#"{"errorCode":"MissingProvider","message":"The provider is missing.","instanceAnnotations":[]}"#
    );
    let group = h.get("/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'Group'").await;
    assert_graph_error(&group, 400, "UnknownError");

    let q = format!(
        "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{SECURITY_ADMIN}'&$expand=policy($expand=rules)"
    );
    let r = h.get(&q).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicyAssignments(policy(rules()))"
    );
    let a = &r.body["value"][0];
    let policy_id = a["policyId"].as_str().unwrap().to_string();
    assert!(policy_id.starts_with("DirectoryRole_f1f1f1f1-0000-4000-8000-000000000001_"));
    assert_eq!(a["id"], format!("{policy_id}_{SECURITY_ADMIN}"));
    let rules = a["policy"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 17);
    let exp = rules
        .iter()
        .find(|r| r["id"] == "Expiration_Admin_Assignment")
        .unwrap();
    assert_eq!(exp["maximumDuration"], "P30D");
    assert_eq!(exp["isExpirationRequired"], true);

    let dir = h.get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'Directory'&$top=1").await;
    assert!(
        dir.body["value"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("Directory_")
    );
    assert_eq!(dir.body["value"][0]["scopeType"], "Directory");
    let sel = h.get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'&$expand=rules($select=id)&$top=1").await;
    assert_eq!(
        sel.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies(rules(id))"
    );
    assert!(sel.body["value"][0]["rules@odata.context"].is_string());
    assert_eq!(
        sel.body["value"][0]["rules"][0].as_object().unwrap().len(),
        2,
        "@odata.type + id"
    );
}

#[tokio::test]
async fn rule_patch_semantics() {
    let h = harness().await;
    let q = format!(
        "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{HELPDESK}'"
    );
    let pid = h.get(&q).await.body["value"][0]["policyId"]
        .as_str()
        .unwrap()
        .to_string();
    let rule_url =
        format!("/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_Admin_Eligibility");
    let patch = json!({
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_Admin_Eligibility", "isExpirationRequired": true, "maximumDuration": "P30D",
        "target": { "@odata.type": "microsoft.graph.unifiedRoleManagementPolicyRuleTarget", "caller": "Admin",
                    "operations": ["All"], "level": "Eligibility", "inheritableSettings": [], "enforcedSettings": [] } });
    let r = h.call("PATCH", &rule_url, Some(&patch)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = h.get(&rule_url).await;
    assert_eq!(got.body["maximumDuration"], "P30D");
    assert_eq!(got.body["target"]["operations"], json!(["all"]));
    assert!(got.body["target"].get("@odata.type").is_none());
    assert_eq!(
        got.body["@odata.context"],
        format!(
            "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies('{pid}')/rules/$entity"
        )
    );
    // The new rule is enforced.
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, HELPDESK, Some(for_duration("P60D"))),
        )
        .await;
    assert_graph_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed");

    let mut wrong = patch.clone();
    wrong["@odata.type"] = json!("#microsoft.graph.unifiedRoleManagementPolicyEnablementRule");
    let r = h.call("PATCH", &rule_url, Some(&wrong)).await;
    assert_eq!(assert_graph_error(&r, 500, ""), "An error has occurred.");
    let r = h
        .call(
            "PATCH",
            &format!(
                "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_Admin_Everything"
            ),
            Some(&patch),
        )
        .await;
    assert_eq!(
        assert_graph_error(&r, 400, "BadRequest"),
        "The policy rule id Expiration_Admin_Everything is invalid."
    );
    let mut bad = patch.clone();
    bad["maximumDuration"] = json!("forever");
    assert_graph_error(
        &h.call("PATCH", &rule_url, Some(&bad)).await,
        400,
        "BadRequest",
    );

    let bulk = json!({ "rules": [{ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification", "Ticketing"],
        "target": { "caller": "EndUser", "operations": ["All"], "level": "Assignment", "inheritableSettings": [], "enforcedSettings": [] } }] });
    let r = h
        .call(
            "PATCH",
            &format!("/v1.0/policies/roleManagementPolicies/{pid}"),
            Some(&bulk),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["lastModifiedDateTime"], NOW);
    assert_eq!(
        r.body["lastModifiedBy"]["displayName"],
        emulator_common::CALLER
    );
    assert!(r.body.get("rules").is_none());
    let rules = h
        .get(&format!(
            "/v1.0/policies/roleManagementPolicies/{pid}/rules"
        ))
        .await;
    assert_eq!(
        rules.body["@odata.context"],
        format!(
            "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies('{pid}')/rules"
        )
    );
    let en = rules.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Enablement_EndUser_Assignment")
        .unwrap()
        .clone();
    assert_eq!(en["enabledRules"], json!(["Justification", "Ticketing"]));
}
