//! OData over Graph collections: paging with skiptokens, `$filter`,
//! `$select` and `$expand`, directory lookups and `$batch`.

use super::{ALICE, BOB, HELPDESK, NOW, SP, harness, permanent, request, tenant};
use crate::emulator_common;
use crate::emulator_common::{Harness, assert_graph_error, at};
use pim_emulator::{EmulatorClock, EmulatorConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn paging_walks_three_pages_with_opaque_skiptokens() {
    let h = Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        page_size: 10,
        clock: EmulatorClock::fixed(at(NOW)),
        ..EmulatorConfig::default()
    })
    .await;
    let mut url = "/v1.0/roleManagement/directory/roleEligibilitySchedules?$count=true".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["@odata.context"],
            "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleEligibilitySchedules"
        );
        assert_eq!(r.body["@odata.count"], 26);
        pages += 1;
        seen.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(h.emu.base_url())
                        && next.contains("$skiptoken=")
                        && next.contains("$count=true")
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 26);
    let top = h
        .get("/v1.0/roleManagement/directory/roleEligibilitySchedules?$top=20")
        .await;
    assert_eq!(top.body["value"].as_array().unwrap().len(), 20);
    let big = h.get("/v1.0/users?$top=5000").await;
    assert_eq!(
        big.body["value"].as_array().unwrap().len(),
        30,
        "$top is capped at 999, more than there are"
    );
    let forged = h.get("/v1.0/users?$skiptoken=abc").await;
    assert_graph_error(&forged, 400, "BadRequest");
}

#[tokio::test]
async fn odata_filters_select_and_expand() {
    let h = harness().await;
    let ids = |r: &emulator_common::Reply| -> Vec<String> {
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = h
        .get("/v1.0/users?$filter=userPrincipalName eq 'ALICE@fabrikam.com'")
        .await;
    assert_eq!(ids(&r), vec![ALICE]);
    let r = h.get(&format!("/v1.0/users?$filter=id in ('{ALICE}', '{BOB}') or startswith(displayName,'User 02')&$select=id,displayName")).await;
    assert_eq!(ids(&r).len(), 2 + 10);
    assert_eq!(r.body["value"][0].as_object().unwrap().len(), 2);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)"
    );
    let r = h.get(&format!("/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId eq '{HELPDESK}' and principalId ne '{BOB}' and appScopeId eq null&$count=true")).await;
    assert_eq!(r.body["@odata.count"], 25);
    let r = h
        .get("/v1.0/roleManagement/directory/roleDefinitions?$filter=isBuiltIn eq false")
        .await;
    assert_eq!(r.body["value"][0]["displayName"], "Fabrikam Auditor");
    let r = h.get("/v1.0/roleManagement/directory/roleDefinitions?$filter=displayName in ('Global Administrator','Global Reader')").await;
    assert_eq!(ids(&r).len(), 2);

    let r = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentSchedules?$filter=principalId eq '{BOB}'&$expand=principal($select=id),roleDefinition,directoryScope")).await;
    let v = &r.body["value"][0];
    assert_eq!(
        v["principal"],
        json!({ "@odata.type": "#microsoft.graph.user", "id": BOB })
    );
    assert_eq!(v["roleDefinition"]["displayName"], "Global Reader");
    assert_eq!(v["directoryScope"]["displayName"], "Paris Office");
    assert_eq!(
        v["directoryScopeId"],
        "/administrativeUnits/e0000000-0000-4000-8000-000000000001"
    );

    for (url, code) in [
        (
            "/v1.0/users?$filter=favouriteColour eq 'blue'",
            "BadRequest",
        ),
        ("/v1.0/users?$filter=userPrincipalName eq", "BadRequest"),
        (
            "/v1.0/users?$filter=userPrincipalName eq alice",
            "BadRequest",
        ),
        (
            "/v1.0/users?$filter=contains(displayName,'a')",
            "BadRequest",
        ),
        (
            "/v1.0/users?$filter=displayName gt 'a'",
            "Request_UnsupportedQuery",
        ),
        ("/v1.0/users?$orderby=displayName", "BadRequest"),
        ("/v1.0/users?$search=\"alice\"", "BadRequest"),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$expand=manager",
            "BadRequest",
        ),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=justification eq 'x'",
            "BadRequest",
        ),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/x?$filter=id eq 'x'",
            "BadRequest",
        ),
        ("/v1.0/roleManagement/directory/roleWhatever", "BadRequest"),
    ] {
        let r = h.get(url).await;
        assert_graph_error(&r, 400, code);
    }
}

#[tokio::test]
async fn directory_lookups() {
    let h = harness().await;
    assert_eq!(
        h.get(&format!("/v1.0/users/{ALICE}")).await.body["userPrincipalName"],
        "alice@fabrikam.com"
    );
    assert_eq!(
        h.get("/v1.0/users('bob@fabrikam.com')").await.body["id"],
        BOB
    );
    assert_graph_error(
        &h.get("/v1.0/users/nobody@fabrikam.com").await,
        404,
        "Request_ResourceNotFound",
    );
    let g = h
        .get("/v1.0/groups?$filter=displayName eq 'Tier0 Admins'")
        .await;
    assert_eq!(g.body["value"][0]["isAssignableToRole"], true);
    assert_eq!(
        h.get("/v1.0/groups/b0000000-0000-4000-8000-000000000002")
            .await
            .body["isAssignableToRole"],
        false
    );
    let sp = h
        .get("/v1.0/servicePrincipals(appId='d0000000-0000-4000-8000-000000000001')")
        .await;
    assert_eq!(sp.body["id"], SP);
    assert_eq!(
        h.get("/v1.0/servicePrincipals?$filter=displayName eq 'pim-ci'")
            .await
            .body["value"][0]["appId"],
        "d0000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        h.get(&format!("/v1.0/servicePrincipals/{SP}")).await.body["displayName"],
        "pim-ci"
    );
    let au = h
        .get("/v1.0/directory/administrativeUnits?$filter=displayName eq 'Paris Office'")
        .await;
    assert_eq!(
        au.body["value"][0]["id"],
        "e0000000-0000-4000-8000-000000000001"
    );
    let by_ids = h.post("/v1.0/directoryObjects/getByIds", &json!({
        "ids": [ALICE, SP, "b0000000-0000-4000-8000-000000000001", "99999999-0000-4000-8000-000000000000"] })).await;
    assert_eq!(
        by_ids.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#directoryObjects"
    );
    let types: Vec<&str> = by_ids.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.user",
            "#microsoft.graph.servicePrincipal",
            "#microsoft.graph.group"
        ]
    );
    let users_only = h
        .post(
            "/v1.0/directoryObjects/getByIds",
            &json!({ "ids": [ALICE, SP], "types": ["User"] }),
        )
        .await;
    assert_eq!(users_only.body["value"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------- $batch

#[tokio::test]
async fn batch_runs_requests_with_dependencies() {
    let h = harness().await;
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/users/alice@fabrikam.com" },
        { "id": "2", "method": "POST", "url": "/roleManagement/directory/roleAssignmentScheduleRequests",
          "headers": { "Content-Type": "application/json" },
          "body": request("adminAssign", ALICE, "00000000-0000-0000-0000-000000000000", Some(permanent())) },
        { "id": "3", "method": "GET", "url": "/users", "dependsOn": ["2"] },
        { "id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["1"] },
    ]});
    let r = h.post("/v1.0/$batch", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_id = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["id"], ALICE);
    assert_eq!(by_id("2")["status"], 404);
    assert_eq!(by_id("2")["body"]["error"]["code"], "RoleNotFound");
    assert_eq!(by_id("3")["status"], 424);
    assert_eq!(by_id("4")["status"], 200);
    assert_eq!(by_id("4")["headers"]["Content-Type"], "application/json");

    let many: Vec<Value> = (0..21)
        .map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/users" }))
        .collect();
    assert_graph_error(
        &h.post("/v1.0/$batch", &json!({ "requests": many })).await,
        400,
        "BadRequest",
    );
    let dup = json!({ "requests": [{ "id": "a", "method": "GET", "url": "/users" }, { "id": "A", "method": "GET", "url": "/users" }] });
    assert_graph_error(&h.post("/v1.0/$batch", &dup).await, 400, "BadRequest");
    let no_ct = json!({ "requests": [{ "id": "a", "method": "POST", "url": "/directoryObjects/getByIds", "body": { "ids": [] } }] });
    assert_graph_error(&h.post("/v1.0/$batch", &no_ct).await, 400, "BadRequest");
}

#[tokio::test]
async fn a_batch_answers_streamed_pages_and_get_by_ids_as_they_are_answered_alone() {
    let h = harness().await;
    let page = "/roleManagement/directory/roleEligibilitySchedules?$top=3";
    let ids = json!({ "ids": [ALICE, SP, "00000000-0000-0000-0000-00000000dead"] });
    let batch = json!({ "requests": [
        { "id": "page", "method": "GET", "url": page },
        { "id": "names", "method": "POST", "url": "/directoryObjects/getByIds",
          "headers": { "Content-Type": "application/json" }, "body": ids },
    ]});
    let r = h.post("/v1.0/$batch", &batch).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body_of = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["body"]
            .clone()
    };
    let alone = h.get(&format!("/v1.0{page}")).await;
    assert_eq!(alone.body["value"].as_array().unwrap().len(), 3);
    assert!(alone.body["@odata.nextLink"].is_string());
    assert_eq!(body_of("page"), alone.body);
    let alone = h.post("/v1.0/directoryObjects/getByIds", &ids).await;
    assert_eq!(alone.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        alone.body["value"][0]["@odata.type"],
        "#microsoft.graph.user"
    );
    assert_eq!(
        alone.body["value"][1]["@odata.type"],
        "#microsoft.graph.servicePrincipal"
    );
    assert_eq!(body_of("names"), alone.body);
}
