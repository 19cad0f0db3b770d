//! The ARM side of the emulator over HTTP: ARM tokens, api-version and
//! scope errors, schedule requests of every type against the (scope, role)
//! policy, inheritance down the scope tree, self-service, policies and
//! their assignments, role definitions, paging, rate limits and faults,
//! persistence. Seed: `tests/fixtures/arm/test-tenant.json`; time fixed.

mod emulator_common;

use chrono::TimeDelta;
use emulator_common::{Harness, Reply};
use pim_emulator::{ArmLimits, EmulatorClock, EmulatorConfig, Faults, Tenant};
use serde_json::{Value, json};

const NOW: &str = "2026-12-01T10:00:00Z";
const S1: &str = "/subscriptions/11111111-1111-4111-8111-111111111111";
const S2: &str = "/subscriptions/22222222-2222-4222-8222-222222222222";
const MG: &str = "/providers/Microsoft.Management/managementGroups/contoso";
const ALICE: &str = "a0000000-0000-4000-8000-00000000000a";
const BOB: &str = "a0000000-0000-4000-8000-00000000000b";
const CAROL: &str = "a0000000-0000-4000-8000-00000000000c";
const DAVE: &str = "a0000000-0000-4000-8000-00000000000d";
const ADMIN: &str = "c0000000-0000-4000-8000-00000000000a";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const V: &str = "api-version=2020-10-01";

fn rg_app() -> String {
    format!("{S1}/resourceGroups/rg-app")
}

fn seed() -> Tenant {
    Tenant::from_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/arm/test-tenant.json"),
    )
    .unwrap()
}

fn auth(scope: &str, rest: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/{rest}")
}

fn role_id(scope: &str, role: &str) -> String {
    let sub = scope.split('/').take(3).collect::<Vec<_>>().join("/");
    format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}")
}

fn n(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

struct Arm {
    h: Harness,
    admin: String,
}

impl Arm {
    async fn start() -> Arm {
        Arm::with(EmulatorConfig::default()).await
    }

    async fn with(config: EmulatorConfig) -> Arm {
        let h = Harness::start(EmulatorConfig {
            seed: Some(seed()),
            tls: false,
            clock: EmulatorClock::fixed(emulator_common::at(NOW)),
            ..config
        })
        .await;
        let admin = h.emu.mint_arm_token(ADMIN, true);
        Arm { h, admin }
    }

    async fn call(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.h.call_as(Some(token), method, path, body).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(&self.admin.clone(), "GET", path, None).await
    }

    /// PUT a schedule request (`set` eligibility or assignment) as `token`.
    async fn request(
        &self,
        token: &str,
        set: &str,
        scope: &str,
        name: &str,
        props: Value,
    ) -> Reply {
        let path = auth(scope, &format!("role{set}ScheduleRequests/{name}?{V}"));
        self.call(token, "PUT", &path, Some(&json!({ "properties": props })))
            .await
    }

    async fn admin(&self, set: &str, scope: &str, name: &str, props: Value) -> Reply {
        let t = self.admin.clone();
        self.request(&t, set, scope, name, props).await
    }

    async fn list(&self, token: &str, path: &str) -> Vec<Value> {
        let r = self.call(token, "GET", path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body["value"].as_array().unwrap().clone()
    }
}

fn assign(principal: &str, role: &str, scope: &str, duration: &str) -> Value {
    json!({
        "principalId": principal,
        "roleDefinitionId": role_id(scope, role),
        "requestType": "AdminAssign",
        "justification": "because",
        "scheduleInfo": { "startDateTime": NOW, "expiration": { "type": "AfterDuration", "duration": duration } },
    })
}

fn cloud_error(r: &Reply, status: u16, code: &str) -> String {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert_eq!(r.body["error"]["code"], code, "body: {}", r.body);
    assert!(
        r.body["error"].get("innerError").is_none(),
        "ARM has no innerError"
    );
    r.body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn arm_routes_take_arm_tokens_and_graph_routes_graph_tokens() {
    let a = Arm::start().await;
    let path = auth(S1, &format!("roleEligibilitySchedules?{V}"));
    let graph = a.h.emu.mint_token(ADMIN, true);
    let r = a.call(&graph, "GET", &path, None).await;
    let m = cloud_error(&r, 401, "InvalidAuthenticationTokenAudience");
    assert!(m.contains("https://management.azure.com"), "{m}");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let r = a.h.call_as(None, "GET", &path, None).await;
    cloud_error(&r, 401, "AuthenticationFailed");
    let r = a.call("not-a-token", "GET", &path, None).await;
    cloud_error(&r, 401, "InvalidAuthenticationToken");
    // The ARM token on Graph: Graph's own 401.
    let r = a
        .call(
            &a.admin,
            "GET",
            "/v1.0/roleManagement/directory/roleEligibilitySchedules",
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "InvalidAuthenticationToken");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    assert_eq!(a.h.emu.arm_url(), a.h.emu.base_url());
    // The token endpoint mints ARM tokens for ARM's scope, Graph's otherwise.
    let url = a.h.emu.token_url();
    let mut tokens = Vec::new();
    for scope in [
        "https://management.azure.com/.default",
        "https://graph.microsoft.com/.default",
    ] {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "d0000000-0000-4000-8000-00000000000a"),
            ("client_secret", "s"),
            ("scope", scope),
        ];
        let resp = a.h.http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        tokens.push(v["access_token"].as_str().unwrap().to_string());
    }
    assert_eq!(a.call(&tokens[0], "GET", &path, None).await.status, 200);
    assert_eq!(a.call(&tokens[1], "GET", &path, None).await.status, 401);
    let graph_path = "/v1.0/roleManagement/directory/roleEligibilitySchedules";
    assert_eq!(
        a.call(&tokens[1], "GET", graph_path, None).await.status,
        200
    );
    assert_eq!(
        a.call(&tokens[0], "GET", graph_path, None).await.status,
        401
    );
}

#[tokio::test]
async fn versions_collections_and_scopes_are_checked_as_arm_does() {
    let a = Arm::start().await;
    let r = a.get(&auth(S1, "roleEligibilitySchedules")).await;
    cloud_error(&r, 400, "MissingApiVersionParameter");
    let r = a
        .get(&auth(S1, "roleEligibilitySchedules?api-version=2019-01-01"))
        .await;
    let m = cloud_error(&r, 400, "NoRegisteredProviderFound");
    assert!(m.contains("2020-10-01"), "{m}");
    let r = a
        .get(&auth(S1, "roleEligibilitySchedules?api-version=latest"))
        .await;
    cloud_error(&r, 400, "InvalidApiVersionParameter");
    let r = a.get(&auth(S1, &format!("roleThings?{V}"))).await;
    cloud_error(&r, 400, "InvalidResourceType");
    let r = a
        .get(&auth(
            "/subscriptions/99999999-9999-4999-8999-999999999999",
            &format!("roleEligibilitySchedules?{V}"),
        ))
        .await;
    cloud_error(&r, 404, "SubscriptionNotFound");
    let r = a
        .get(&auth(
            &format!("{S1}/resourceGroups/rg-nope"),
            &format!("roleEligibilitySchedules?{V}"),
        ))
        .await;
    let m = cloud_error(&r, 404, "ResourceGroupNotFound");
    assert!(m.contains("rg-nope"));
    let r = a
        .get(&auth(
            &format!("{}/providers/Microsoft.KeyVault/vaults/kv-other", rg_app()),
            &format!("roleEligibilitySchedules?{V}"),
        ))
        .await;
    cloud_error(&r, 404, "ResourceNotFound");
    let kv = format!("{}/providers/Microsoft.KeyVault/vaults/kv-app", rg_app());
    assert_eq!(
        a.get(&auth(&kv, &format!("roleEligibilitySchedules?{V}")))
            .await
            .status,
        200
    );
    // The spec examples' alias of a subscription scope, and any case.
    let alias = format!(
        "/providers/Microsoft.Subscription{}",
        S1.to_uppercase().replace("SUBSCRIPTIONS", "subscriptions")
    );
    assert_eq!(
        a.get(&auth(&alias, &format!("roleEligibilitySchedules?{V}")))
            .await
            .status,
        200
    );
    let r = a
        .call(
            &a.admin.clone(),
            "DELETE",
            &auth(S1, &format!("roleEligibilitySchedules/x?{V}")),
            None,
        )
        .await;
    cloud_error(&r, 405, "MethodNotAllowed");
}

#[tokio::test]
async fn grants_are_inherited_down_the_scope_tree() {
    let a = Arm::start().await;
    let at = |scope: &str| {
        auth(
            scope,
            &format!("roleEligibilitySchedules?{V}&$filter=atScope()"),
        )
    };
    let rg = a.list(&a.admin.clone(), &at(&rg_app())).await;
    let find = |list: &[Value], who: &str, role: &str| -> Option<String> {
        list.iter()
            .find(|s| {
                s["properties"]["principalId"] == who
                    && s["properties"]["roleDefinitionId"]
                        .as_str()
                        .unwrap()
                        .ends_with(role)
            })
            .map(|s| s["properties"]["memberType"].as_str().unwrap().to_string())
    };
    // The management group's Owner eligibility two levels up, the
    // subscription's Reader one level up, the group's at the resource group.
    assert_eq!(find(&rg, ALICE, OWNER).as_deref(), Some("Inherited"));
    assert_eq!(find(&rg, ALICE, READER).as_deref(), Some("Inherited"));
    assert_eq!(
        find(&rg, "b0000000-0000-4000-8000-00000000000a", CONTRIBUTOR).as_deref(),
        Some("Direct")
    );
    assert_eq!(rg.len(), 3, "{rg:?}");
    let owner = rg
        .iter()
        .find(|s| {
            s["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap()
                .ends_with(OWNER)
        })
        .unwrap();
    assert_eq!(owner["properties"]["scope"], MG);
    assert_eq!(
        owner["properties"]["expandedProperties"]["scope"]["type"],
        "managementgroup"
    );
    // Dev is not under the Contoso group.
    let dev = a.list(&a.admin.clone(), &at(S2)).await;
    assert_eq!(find(&dev, ALICE, OWNER), None);
    assert_eq!(find(&dev, BOB, READER).as_deref(), Some("Direct"));
    // Without atScope(): below too, as Direct.
    let all = a
        .list(
            &a.admin.clone(),
            &auth(S1, &format!("roleEligibilitySchedules?{V}")),
        )
        .await;
    assert_eq!(
        find(&all, "b0000000-0000-4000-8000-00000000000a", CONTRIBUTOR).as_deref(),
        Some("Direct")
    );
    // assignedTo(): a member sees the group's grant as Group.
    let carol = a
        .list(
            &a.admin.clone(),
            &auth(
                &rg_app(),
                &format!("roleEligibilityScheduleInstances?{V}&$filter=assignedTo('{CAROL}')"),
            ),
        )
        .await;
    assert_eq!(carol.len(), 1);
    assert_eq!(carol[0]["properties"]["memberType"], "Group");
    let filtered = a
        .list(
            &a.admin.clone(),
            &auth(
                &rg_app(),
                &format!(
                    "roleEligibilitySchedules?{V}&$filter=atScope()+and+roleDefinitionId+eq+'{}'",
                    role_id(S1, READER)
                ),
            ),
        )
        .await;
    assert_eq!(filtered.len(), 1);
    let r = a
        .get(&auth(
            S1,
            &format!("roleEligibilitySchedules?{V}&$filter=displayName eq 'x'"),
        ))
        .await;
    cloud_error(&r, 400, "InvalidFilter");
}

#[tokio::test]
async fn admin_requests_follow_the_policy_and_are_idempotent_by_name() {
    let a = Arm::start().await;
    let body = assign(DAVE, CONTRIBUTOR, S1, "P90D");
    let r = a.admin("Eligibility", S1, &n(1), body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let p = &r.body["properties"];
    assert_eq!(p["status"], "Provisioned");
    assert_eq!(p["requestType"], "AdminAssign");
    assert_eq!(p["scope"], S1);
    assert_eq!(r.body["name"], n(1));
    assert_eq!(
        r.body["type"],
        "Microsoft.Authorization/RoleEligibilityScheduleRequests"
    );
    assert_eq!(p["expandedProperties"]["principal"]["displayName"], "Dave");
    let schedule = p["targetRoleEligibilityScheduleId"]
        .as_str()
        .unwrap()
        .to_string();
    let got = a
        .get(&auth(
            S1,
            &format!("roleEligibilitySchedules/{schedule}?{V}"),
        ))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(
        got.body["properties"]["endDateTime"],
        "2027-03-01T10:00:00Z"
    );
    assert_eq!(
        got.body["properties"]["roleEligibilityScheduleRequestId"],
        auth(S1, &format!("RoleEligibilityScheduleRequests/{}", n(1)))
    );
    // The same PUT again: the same answer, nothing new.
    let again = a.admin("Eligibility", S1, &n(1), body.clone()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, r.body);
    // Read where it was made (or below), not from another subscription.
    let here = a
        .get(&auth(
            &rg_app(),
            &format!("roleEligibilityScheduleRequests/{}?{V}", n(1)),
        ))
        .await;
    assert_eq!(here.status, 200, "{}", here.body);
    let there = a
        .get(&auth(
            S2,
            &format!("roleEligibilityScheduleRequests/{}?{V}", n(1)),
        ))
        .await;
    assert_eq!(there.status, 404, "{}", there.body);
    let mut other = body.clone();
    other["scheduleInfo"]["expiration"]["duration"] = json!("P30D");
    cloud_error(
        &a.admin("Eligibility", S1, &n(1), other).await,
        409,
        "Conflict",
    );
    // Another name for the same grant.
    let m = cloud_error(
        &a.admin("Eligibility", S1, &n(2), body.clone()).await,
        400,
        "RoleAssignmentExists",
    );
    assert_eq!(m, "The Role assignment already exists.");
    // Over the default maximum (P365D), and permanent: ExpirationRule.
    let r = a
        .admin("Eligibility", S1, &n(3), assign(DAVE, READER, S1, "P400D"))
        .await;
    assert_eq!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed"),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    let mut forever = assign(DAVE, READER, S1, "P1D");
    forever["scheduleInfo"]["expiration"] = json!({ "type": "NoExpiration" });
    forever.as_object_mut().unwrap().remove("justification");
    // An active assignment also wants a justification by default.
    let r = a.admin("Assignment", S1, &n(4), forever.clone()).await;
    let m = cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed");
    assert!(
        m.contains("ExpirationRule") && m.contains("JustificationRule"),
        "{m}"
    );
    // Unknown role, unknown principal, a name that is no GUID.
    cloud_error(
        &a.admin(
            "Eligibility",
            S1,
            &n(5),
            assign(DAVE, "99999999-9999-4999-8999-999999999999", S1, "P1D"),
        )
        .await,
        400,
        "RoleDefinitionDoesNotExist",
    );
    cloud_error(
        &a.admin(
            "Eligibility",
            S1,
            &n(6),
            assign("99999999-9999-4999-8999-999999999999", READER, S1, "P1D"),
        )
        .await,
        400,
        "SubjectNotFound",
    );
    assert_eq!(
        a.admin(
            "Eligibility",
            S1,
            "not-a-guid",
            assign(DAVE, READER, S1, "P1D")
        )
        .await
        .status,
        400
    );
    // PascalCase property names are read too (the REST sample sends them).
    let pascal = json!({ "Properties": { "PrincipalId": DAVE, "RoleDefinitionId": role_id(S1, CONTRIBUTOR), "RequestType": "AdminRemove" } });
    let path = auth(S1, &format!("roleEligibilityScheduleRequests/{}?{V}", n(7)));
    // Removing a grant younger than 5 minutes fails, later it works.
    cloud_error(
        &a.call(&a.admin.clone(), "PUT", &path, Some(&pascal)).await,
        400,
        "ActiveDurationTooShort",
    );
    a.h.emu.clock().advance(TimeDelta::minutes(10));
    let path = auth(S1, &format!("roleEligibilityScheduleRequests/{}?{V}", n(8)));
    let r = a.call(&a.admin.clone(), "PUT", &path, Some(&pascal)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["status"], "Revoked");
    assert_eq!(
        a.get(&auth(
            S1,
            &format!("roleEligibilitySchedules/{schedule}?{V}")
        ))
        .await
        .status,
        404
    );
    let path = auth(S1, &format!("roleEligibilityScheduleRequests/{}?{V}", n(9)));
    let r = a.call(&a.admin.clone(), "PUT", &path, Some(&pascal)).await;
    cloud_error(&r, 400, "RoleAssignmentDoesNotExist");
    // An inherited grant cannot be removed at the child scope.
    let remove = json!({ "principalId": ALICE, "roleDefinitionId": role_id(S1, OWNER), "requestType": "AdminRemove" });
    cloud_error(
        &a.admin("Eligibility", S1, &n(10), remove).await,
        400,
        "RoleAssignmentDoesNotExist",
    );
    // AdminUpdate changes the schedule in place.
    let mut update = assign(BOB, READER, S2, "P30D");
    update["requestType"] = json!("AdminUpdate");
    let r = a.admin("Eligibility", S2, &n(11), update).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let target = r.body["properties"]["targetRoleEligibilityScheduleId"]
        .as_str()
        .unwrap();
    let got = a
        .get(&auth(S2, &format!("roleEligibilitySchedules/{target}?{V}")))
        .await;
    assert_eq!(
        got.body["properties"]["endDateTime"],
        "2026-12-31T10:00:00Z"
    );
    // validate answers like a PUT and keeps nothing.
    let path = auth(
        S1,
        &format!("roleEligibilityScheduleRequests/{}/validate?{V}", n(12)),
    );
    let r = a
        .call(
            &a.admin.clone(),
            "POST",
            &path,
            Some(&json!({ "properties": assign(DAVE, READER, S1, "P10D") })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        a.get(&auth(
            S1,
            &format!("roleEligibilityScheduleRequests/{}?{V}", n(12))
        ))
        .await
        .status,
        404
    );
    // Requests list with asRequestor() and principalId.
    let mine = a
        .list(
            &a.admin.clone(),
            &auth(
                S1,
                &format!("roleEligibilityScheduleRequests?{V}&$filter=asRequestor()"),
            ),
        )
        .await;
    assert!(mine.len() >= 2 && mine.iter().all(|r| r["properties"]["requestorId"] == ADMIN));
}

#[tokio::test]
async fn self_activation_needs_an_eligibility_here_or_above() {
    let a = Arm::start().await;
    let alice = a.h.emu.mint_arm_token(ALICE, true);
    let carol = a.h.emu.mint_arm_token(CAROL, true);
    let carol_no_mfa = a.h.emu.mint_arm_token(CAROL, false);
    let activate = |who: &str, role: &str, scope: &str, hours: &str| {
        json!({
            "principalId": who,
            "roleDefinitionId": role_id(scope, role),
            "requestType": "SelfActivate",
            "justification": "incident 42",
            "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": hours } },
        })
    };
    // Reader eligibility at the subscription, activated at a resource group below.
    let r = a
        .request(
            &alice,
            "Assignment",
            &rg_app(),
            &n(1),
            activate(ALICE, READER, &rg_app(), "PT4H"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["status"], "Provisioned");
    let linked = r.body["properties"]["linkedRoleEligibilityScheduleId"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = a.list(&alice, &format!("/providers/Microsoft.Authorization/roleAssignmentScheduleInstances?{V}&$filter=asTarget()")).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let i = &mine[0]["properties"];
    assert_eq!(i["assignmentType"], "Activated");
    assert_eq!(i["linkedRoleEligibilityScheduleId"], linked.as_str());
    assert_eq!(i["scope"], rg_app());
    assert_eq!(i["endDateTime"], "2026-12-01T14:00:00Z");
    // Longer than the default PT8H; for someone else; with no eligibility.
    let r = a
        .request(
            &alice,
            "Assignment",
            S1,
            &n(2),
            activate(ALICE, READER, S1, "PT9H"),
        )
        .await;
    assert!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed")
            .contains("ExpirationRule")
    );
    cloud_error(
        &a.request(
            &alice,
            "Assignment",
            S1,
            &n(3),
            activate(BOB, READER, S1, "PT1H"),
        )
        .await,
        403,
        "AuthorizationFailed",
    );
    let r = a
        .request(
            &alice,
            "Assignment",
            S2,
            &n(4),
            activate(ALICE, READER, S2, "PT1H"),
        )
        .await;
    assert_eq!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed"),
        r#"The following policy rules failed: ["EligibilityRule"]"#
    );
    // The same activation again while it runs.
    cloud_error(
        &a.request(
            &alice,
            "Assignment",
            &rg_app(),
            &n(5),
            activate(ALICE, READER, &rg_app(), "PT1H"),
        )
        .await,
        400,
        "RoleAssignmentExists",
    );
    // A member of an eligible group, under that scope's own rules (PT2H, MFA).
    let r = a
        .request(
            &carol_no_mfa,
            "Assignment",
            &rg_app(),
            &n(6),
            activate(CAROL, CONTRIBUTOR, &rg_app(), "PT1H"),
        )
        .await;
    assert!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed").contains("MfaRule")
    );
    let r = a
        .request(
            &carol,
            "Assignment",
            &rg_app(),
            &n(7),
            activate(CAROL, CONTRIBUTOR, &rg_app(), "PT3H"),
        )
        .await;
    assert!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed")
            .contains("ExpirationRule")
    );
    let r = a
        .request(
            &carol,
            "Assignment",
            &rg_app(),
            &n(8),
            activate(CAROL, CONTRIBUTOR, &rg_app(), "PT2H"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Deactivation: not within 5 minutes, then yes.
    let deactivate = json!({ "principalId": ALICE, "roleDefinitionId": role_id(S1, READER), "requestType": "SelfDeactivate" });
    cloud_error(
        &a.request(&alice, "Assignment", &rg_app(), &n(9), deactivate.clone())
            .await,
        400,
        "ActiveDurationTooShort",
    );
    a.h.emu.clock().advance(TimeDelta::minutes(6));
    let r = a
        .request(&alice, "Assignment", &rg_app(), &n(10), deactivate.clone())
        .await;
    assert_eq!(r.body["properties"]["status"], "Revoked", "{}", r.body);
    assert!(a.list(&alice, &format!("/providers/Microsoft.Authorization/roleAssignmentScheduleInstances?{V}&$filter=asTarget()")).await.is_empty());
    // SelfActivate is not an eligibility request type.
    let r = a
        .request(
            &alice,
            "Eligibility",
            S1,
            &n(11),
            activate(ALICE, READER, S1, "PT1H"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn an_approval_leaves_the_activation_pending_until_canceled() {
    let a = Arm::start().await;
    let alice = a.h.emu.mint_arm_token(ALICE, true);
    let bob = a.h.emu.mint_arm_token(BOB, true);
    let body = json!({
        "principalId": ALICE, "roleDefinitionId": role_id(S1, OWNER), "requestType": "SelfActivate",
        "justification": "change 7", "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT1H" } },
    });
    let r = a.request(&alice, "Assignment", S1, &n(1), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["status"], "PendingApproval");
    assert!(
        r.body["properties"]["approvalId"]
            .as_str()
            .unwrap()
            .starts_with("/providers/Microsoft.Authorization/roleAssignmentApprovals/")
    );
    assert!(
        a.list(
            &alice,
            &auth(
                S1,
                &format!("roleAssignmentScheduleInstances?{V}&$filter=asTarget()")
            )
        )
        .await
        .is_empty()
    );
    // Bob approves Owner at S1: he finds it with asApprover(); Alice does not.
    assert_eq!(
        a.list(
            &bob,
            &auth(
                S1,
                &format!("roleAssignmentScheduleRequests?{V}&$filter=asApprover()")
            )
        )
        .await
        .len(),
        1
    );
    assert!(
        a.list(
            &alice,
            &auth(
                S1,
                &format!("roleAssignmentScheduleRequests?{V}&$filter=asApprover()")
            )
        )
        .await
        .is_empty()
    );
    let cancel = auth(
        S1,
        &format!("roleAssignmentScheduleRequests/{}/cancel?{V}", n(1)),
    );
    let r = a.call(&alice, "POST", &cancel, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.is_null());
    let got = a
        .get(&auth(
            S1,
            &format!("roleAssignmentScheduleRequests/{}?{V}", n(1)),
        ))
        .await;
    assert_eq!(got.body["properties"]["status"], "Canceled");
    assert_eq!(a.call(&alice, "POST", &cancel, None).await.status, 400);

    // Approvers have 24 hours.
    let body = json!({
        "principalId": ALICE, "roleDefinitionId": role_id(S1, OWNER), "requestType": "SelfActivate",
        "justification": "change 9", "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT1H" } },
    });
    assert_eq!(
        a.request(&alice, "Assignment", S1, &n(2), body)
            .await
            .status,
        201
    );
    a.h.emu.clock().advance(TimeDelta::hours(23));
    let got = a
        .get(&auth(
            S1,
            &format!("roleAssignmentScheduleRequests/{}?{V}", n(2)),
        ))
        .await;
    assert_eq!(got.body["properties"]["status"], "PendingApproval");
    a.h.emu.clock().advance(TimeDelta::hours(1));
    let got = a
        .get(&auth(
            S1,
            &format!("roleAssignmentScheduleRequests/{}?{V}", n(2)),
        ))
        .await;
    assert_eq!(got.body["properties"]["status"], "TimedOut");
    assert!(
        a.list(
            &bob,
            &auth(
                S1,
                &format!("roleAssignmentScheduleRequests?{V}&$filter=asApprover()")
            )
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn policies_are_patched_whole_and_checked_rule_by_rule() {
    let a = Arm::start().await;
    let by_role = auth(
        S1,
        &format!(
            "roleManagementPolicyAssignments?{V}&$filter=roleDefinitionId eq '{}'",
            role_id(S1, CONTRIBUTOR)
        ),
    );
    let pa = a.list(&a.admin.clone(), &by_role).await;
    assert_eq!(pa.len(), 1);
    let policy_id = pa[0]["properties"]["policyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pa[0]["name"],
        format!("{}_{CONTRIBUTOR}", policy_id.rsplit('/').next().unwrap())
    );
    let policy_path = format!("{policy_id}?{V}");
    let p = a.get(&policy_path).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["properties"]["rules"].as_array().unwrap().len(), 17);
    assert_eq!(p.body["properties"]["scope"], S1);
    let patch = |rules: Value| json!({ "properties": { "rules": rules } });
    let target = json!({ "caller": "Admin", "operations": ["All"], "level": "Eligibility", "targetObjects": null, "inheritableSettings": null, "enforcedSettings": null });
    let expiration = json!({ "id": "Expiration_Admin_Eligibility", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "P30D", "target": target });
    let r = a
        .call(
            &a.admin.clone(),
            "PATCH",
            &policy_path,
            Some(&patch(json!([expiration]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rules = r.body["properties"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 17);
    assert_eq!(
        rules
            .iter()
            .find(|r| r["id"] == "Expiration_Admin_Eligibility")
            .unwrap()["maximumDuration"],
        "P30D"
    );
    assert_eq!(
        r.body["properties"]["effectiveRules"],
        r.body["properties"]["rules"]
    );
    assert!(r.body["properties"]["lastModifiedDateTime"].is_string());
    // The new maximum applies to requests at that scope, not below it.
    let over = a
        .admin(
            "Eligibility",
            S1,
            &n(1),
            assign(DAVE, CONTRIBUTOR, S1, "P60D"),
        )
        .await;
    assert!(
        cloud_error(&over, 400, "RoleAssignmentRequestPolicyValidationFailed")
            .contains("ExpirationRule")
    );
    let rg_data = format!("{S1}/resourceGroups/rg-data");
    assert_eq!(
        a.admin(
            "Eligibility",
            &rg_data,
            &n(2),
            assign(DAVE, CONTRIBUTOR, &rg_data, "P60D")
        )
        .await
        .status,
        201
    );
    // Refused: a wrong ruleType, an activation over 24 hours, approval without approvers.
    let wrong_type = json!([{ "id": "Expiration_Admin_Eligibility", "ruleType": "RoleManagementPolicyEnablementRule", "enabledRules": [] }]);
    cloud_error(
        &a.call(
            &a.admin.clone(),
            "PATCH",
            &policy_path,
            Some(&patch(wrong_type)),
        )
        .await,
        400,
        "InvalidRoleManagementPolicyRule",
    );
    let long = json!([{ "id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT48H" }]);
    cloud_error(
        &a.call(&a.admin.clone(), "PATCH", &policy_path, Some(&patch(long)))
            .await,
        400,
        "InvalidRoleManagementPolicyRule",
    );
    let approval = json!([{ "id": "Approval_EndUser_Assignment", "ruleType": "RoleManagementPolicyApprovalRule", "setting": { "isApprovalRequired": true, "approvalMode": "SingleStage", "approvalStages": [{ "primaryApprovers": [] }] } }]);
    cloud_error(
        &a.call(
            &a.admin.clone(),
            "PATCH",
            &policy_path,
            Some(&patch(approval)),
        )
        .await,
        400,
        "InvalidRoleManagementPolicyRule",
    );
    let unknown = json!([{ "id": "Nope_Rule", "ruleType": "RoleManagementPolicyExpirationRule" }]);
    cloud_error(
        &a.call(
            &a.admin.clone(),
            "PATCH",
            &policy_path,
            Some(&patch(unknown)),
        )
        .await,
        400,
        "InvalidRoleManagementPolicyRule",
    );
    // The policy list filters by role; unfiltered it has one per role, paged.
    let one = a
        .list(
            &a.admin.clone(),
            &auth(
                S1,
                &format!(
                    "roleManagementPolicies?{V}&$filter=roleDefinitionId eq '{}'",
                    role_id(S1, CONTRIBUTOR)
                ),
            ),
        )
        .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], policy_id.as_str());
    // Deleting the policy assignment hides it; a second delete is a 204.
    let pa_path = auth(
        S1,
        &format!(
            "roleManagementPolicyAssignments/{}?{V}",
            pa[0]["name"].as_str().unwrap()
        ),
    );
    assert_eq!(
        a.call(&a.admin.clone(), "DELETE", &pa_path, None)
            .await
            .status,
        200
    );
    assert_eq!(a.get(&pa_path).await.status, 404);
    assert_eq!(
        a.call(&a.admin.clone(), "DELETE", &pa_path, None)
            .await
            .status,
        204
    );
    let body = json!({ "properties": { "scope": S1, "roleDefinitionId": role_id(S1, CONTRIBUTOR), "policyId": policy_id } });
    let r = a.call(&a.admin.clone(), "PUT", &pa_path, Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(a.get(&pa_path).await.status, 200);
}

#[tokio::test]
async fn lists_page_with_next_link_and_role_definitions_resolve_names() {
    let a = Arm::with(EmulatorConfig {
        page_size: 100,
        ..EmulatorConfig::default()
    })
    .await;
    let mut url = auth(S1, "roleDefinitions?api-version=2022-04-01");
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let r = a.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        for d in r.body["value"].as_array().unwrap() {
            names.push(d["properties"]["roleName"].as_str().unwrap().to_string());
        }
        match r.body["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 6);
    assert_eq!(
        names.len(),
        508,
        "507 built-in roles and the custom one at S1"
    );
    assert!(names.contains(&"Contoso Operator".to_string()));
    let owner = a
        .list(
            &a.admin.clone(),
            &auth(
                S1,
                "roleDefinitions?api-version=2022-04-01&$filter=roleName eq 'Owner'",
            ),
        )
        .await;
    assert_eq!(owner.len(), 1);
    assert_eq!(owner[0]["name"], OWNER);
    assert_eq!(owner[0]["id"], role_id(S1, OWNER));
    // The custom role is assignable only at and under S1.
    let custom = |scope: &str| {
        auth(
            scope,
            "roleDefinitions?api-version=2022-04-01&$filter=type eq 'CustomRole'",
        )
    };
    assert_eq!(a.list(&a.admin.clone(), &custom(&rg_app())).await.len(), 1);
    assert!(a.list(&a.admin.clone(), &custom(S2)).await.is_empty());
    let r = a
        .admin(
            "Eligibility",
            S2,
            &n(1),
            assign(DAVE, "e0000000-0000-4000-8000-00000000000a", S2, "P1D"),
        )
        .await;
    cloud_error(&r, 400, "RoleDefinitionDoesNotExist");
    // Eligible child resources: where Alice (eligible at the group and S1) may go.
    let alice = a.h.emu.mint_arm_token(ALICE, true);
    let kids = a
        .list(
            &alice,
            &auth(
                S1,
                &format!("eligibleChildResources?{V}&$filter=resourceType+eq+'resourcegroup'"),
            ),
        )
        .await;
    let kid_names: Vec<&str> = kids.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(kid_names, ["rg-app", "rg-data"]);
    let dave = a.h.emu.mint_arm_token(DAVE, true);
    assert!(
        a.list(&dave, &auth(S1, &format!("eligibleChildResources?{V}")))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn rate_limits_answer_with_arm_headers_and_429() {
    // No refill: the third write is refused however slow the machine.
    let faults = Faults {
        arm_limits: ArmLimits {
            writes: 2,
            writes_per_second: 0,
            ..ArmLimits::default()
        },
        ..Faults::default()
    };
    let a = Arm::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await;
    let r = a
        .get(&auth(S1, &format!("roleEligibilitySchedules?{V}")))
        .await;
    assert_eq!(
        r.headers["x-ms-ratelimit-remaining-subscription-reads"],
        "249"
    );
    let r = a
        .admin("Eligibility", S1, &n(1), assign(DAVE, READER, S1, "P1D"))
        .await;
    assert_eq!(
        r.headers["x-ms-ratelimit-remaining-subscription-writes"], "1",
        "{}",
        r.body
    );
    a.admin(
        "Eligibility",
        S1,
        &n(2),
        assign(DAVE, CONTRIBUTOR, S1, "P1D"),
    )
    .await;
    let r = a
        .admin("Eligibility", S1, &n(3), assign(DAVE, OWNER, S1, "P1D"))
        .await;
    let m = cloud_error(&r, 429, "SubscriptionRequestsThrottled");
    assert!(m.contains("'write'"), "{m}");
    assert_eq!(r.headers["retry-after"], "3600");
    assert_eq!(
        r.headers["x-ms-ratelimit-remaining-subscription-writes"],
        "0"
    );
    // Reads and other subscriptions are not held back.
    assert_eq!(
        a.get(&auth(S1, &format!("roleEligibilitySchedules?{V}")))
            .await
            .status,
        200
    );
    assert_eq!(
        a.admin("Eligibility", S2, &n(4), assign(DAVE, READER, S2, "P1D"))
            .await
            .status,
        201
    );

    // The emulator's per-client throttle applies to ARM too, in ARM's shape.
    let faults = Faults {
        throttle_per_second: Some(1),
        ..Faults::default()
    };
    let a = Arm::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await;
    let path = auth(S1, &format!("roleEligibilitySchedules?{V}"));
    assert_eq!(a.get(&path).await.status, 200);
    let r = a.get(&path).await;
    cloud_error(&r, 429, "SubscriptionRequestsThrottled");
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn azure_state_survives_a_snapshot() {
    let a = Arm::start().await;
    let r = a
        .admin("Eligibility", S2, &n(1), assign(DAVE, READER, S2, "P10D"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let snap = a.h.emu.snapshot();
    let azure = snap.azure.clone().unwrap();
    assert_eq!(azure.subscriptions.len(), 2);
    assert_eq!(azure.management_groups.len(), 2);
    assert_eq!(azure.eligibility_schedules.len(), 5);
    assert_eq!(azure.eligibility_requests.len(), 1);
    let b = Harness::with_seed(snap, NOW).await;
    let token = b.emu.mint_arm_token(ADMIN, true);
    let path = auth(S2, &format!("roleEligibilityScheduleRequests/{}?{V}", n(1)));
    let got = b.call_as(Some(&token), "GET", &path, None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["properties"], r.body["properties"]);
    // The same PUT replayed on the reloaded tenant is still the same request.
    let again = b
        .call_as(
            Some(&token),
            "PUT",
            &path,
            Some(&json!({ "properties": assign(DAVE, READER, S2, "P10D") })),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    // A tenant without `azure` has no ARM scopes and writes none back.
    let plain = Harness::with_seed(Tenant::empty(), NOW).await;
    assert!(plain.emu.snapshot().azure.is_none());
    let t = plain.emu.mint_arm_token(ADMIN, true);
    let r = plain
        .call_as(
            Some(&t),
            "GET",
            &auth(S1, &format!("roleEligibilitySchedules?{V}")),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_rotated_policy_is_found_again_through_its_assignment() {
    let a = Arm::with(EmulatorConfig {
        arm_policy_names: pim_emulator::ArmPolicyNames::Rotated,
        ..EmulatorConfig::default()
    })
    .await;
    let by_role = auth(
        S2,
        &format!(
            "roleManagementPolicyAssignments?{V}&$filter=roleDefinitionId eq '{}'",
            role_id(S2, READER)
        ),
    );
    let before = a.list(&a.admin.clone(), &by_role).await[0]["properties"]["policyId"]
        .as_str()
        .unwrap()
        .to_string();
    let rule = json!({ "id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT1H" });
    let r = a
        .call(
            &a.admin.clone(),
            "PATCH",
            &format!("{before}?{V}"),
            Some(&json!({ "properties": { "rules": [rule] } })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(after, before);
    assert_eq!(a.get(&format!("{before}?{V}")).await.status, 404);
    assert_eq!(
        a.list(&a.admin.clone(), &by_role).await[0]["properties"]["policyId"],
        after.as_str()
    );
    // The new rule holds under the new name.
    let bob = a.h.emu.mint_arm_token(BOB, true);
    let activate = json!({ "principalId": BOB, "roleDefinitionId": role_id(S2, READER), "requestType": "SelfActivate", "justification": "j",
        "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT2H" } } });
    let r = a.request(&bob, "Assignment", S2, &n(1), activate).await;
    assert!(
        cloud_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed")
            .contains("ExpirationRule")
    );
}

#[tokio::test]
async fn faults_reach_the_arm_routes() {
    // A principal created while the emulator runs is unknown to PIM for a while.
    let faults = Faults {
        new_object_delay_ms: 30_000,
        ..Faults::default()
    };
    let a = Arm::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await;
    let erin = "a0000000-0000-4000-8000-00000000000e";
    a.h.emu
        .add_user(pim_emulator::User {
            id: erin.into(),
            display_name: "Erin".into(),
            user_principal_name: "erin@contoso.com".into(),
            account_enabled: true,
            ..Default::default()
        })
        .unwrap();
    cloud_error(
        &a.admin("Eligibility", S1, &n(1), assign(erin, READER, S1, "P1D"))
            .await,
        400,
        "SubjectNotFound",
    );
    a.h.emu.clock().advance(TimeDelta::seconds(31));
    assert_eq!(
        a.admin("Eligibility", S1, &n(2), assign(erin, READER, S1, "P1D"))
            .await
            .status,
        201
    );

    // Dropped connections, before or after the write.
    let faults = Faults {
        reset_rate: 1.0,
        ..Faults::default()
    };
    let a = Arm::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await;
    let path = auth(S1, &format!("roleEligibilitySchedules?{V}"));
    assert!(
        a.h.try_call_as(Some(&a.admin), "GET", &path, None)
            .await
            .is_err()
    );

    // Server errors come in ARM's envelope.
    let faults = Faults {
        error_rate: 1.0,
        rng_seed: 7,
        ..Faults::default()
    };
    let a = Arm::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .await;
    let r = a
        .get(&auth(S1, &format!("roleEligibilitySchedules?{V}")))
        .await;
    assert!(r.status == 503 || r.status == 504, "{}", r.status);
    assert!(
        r.body["error"]["code"].is_string() && r.body["error"].get("innerError").is_none(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_approver_provisions_or_denies_an_activation() {
    let a = Arm::start().await;
    let alice = a.h.emu.mint_arm_token(ALICE, true);
    let bob = a.h.emu.mint_arm_token(BOB, true);
    let preview = "api-version=2021-01-01-preview";
    let ask = |name: String| {
        let body = json!({
            "principalId": ALICE, "roleDefinitionId": role_id(S1, OWNER), "requestType": "SelfActivate",
            "justification": "change 8", "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT1H" } },
        });
        let (a, alice) = (&a, alice.clone());
        async move { a.request(&alice, "Assignment", S1, &name, body).await }
    };
    let r = ask(n(1)).await;
    let approval = r.body["properties"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    let guid = approval.rsplit('/').next().unwrap().to_string();
    // Bob finds it as approver, across scopes; Alice as its target.
    let mine = a.list(&bob, &format!("/providers/Microsoft.Authorization/roleAssignmentApprovals?{preview}&$filter=asApprover()")).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], approval.as_str());
    assert_eq!(
        mine[0]["properties"]["stages"][0]["properties"]["assignedToMe"],
        true
    );
    assert_eq!(
        mine[0]["properties"]["stages"][0]["properties"]["status"],
        "InProgress"
    );
    assert!(a.list(&alice, &format!("/providers/Microsoft.Authorization/roleAssignmentApprovals?{preview}&$filter=asApprover()")).await.is_empty());
    assert_eq!(a.list(&alice, &format!("/providers/Microsoft.Authorization/roleAssignmentApprovals?{preview}&$filter=asTarget()")).await.len(), 1);
    // The approvals API has its own api-version.
    let r = a.call(&bob, "GET", &format!("{approval}?{V}"), None).await;
    cloud_error(&r, 400, "NoRegisteredProviderFound");
    let stage = format!("{approval}/stages/{guid}?{preview}");
    let decision = json!({ "properties": { "reviewResult": "Approve", "justification": "ok" } });
    cloud_error(
        &a.call(&alice, "PATCH", &stage, Some(&decision)).await,
        403,
        "AuthorizationFailed",
    );
    let r = a.call(&bob, "PATCH", &stage, Some(&decision)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["status"], "Completed");
    assert_eq!(r.body["properties"]["reviewResult"], "Approve");
    assert_eq!(r.body["properties"]["reviewedBy"]["principalId"], BOB);
    let req = a
        .get(&auth(
            S1,
            &format!("roleAssignmentScheduleRequests/{}?{V}", n(1)),
        ))
        .await;
    assert_eq!(req.body["properties"]["status"], "Provisioned");
    let active = a
        .list(
            &alice,
            &auth(
                S1,
                &format!("roleAssignmentScheduleInstances?{V}&$filter=asTarget()"),
            ),
        )
        .await;
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0]["properties"]["endDateTime"],
        "2026-12-01T11:00:00Z"
    );
    // Decided once only.
    assert_eq!(
        a.call(&bob, "PATCH", &stage, Some(&decision)).await.status,
        400
    );

    // A denial, with the body as the Entra how-to writes it (no `properties`).
    a.h.emu.clock().advance(TimeDelta::hours(2));
    let r = ask(n(2)).await;
    let approval = r.body["properties"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    let guid = approval.rsplit('/').next().unwrap().to_string();
    let stage = format!("{S1}{approval}/stages/{guid}?{preview}");
    let r = a
        .call(
            &bob,
            "PUT",
            &stage,
            Some(&json!({ "reviewResult": "Deny", "justification": "no" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let req = a
        .get(&auth(
            S1,
            &format!("roleAssignmentScheduleRequests/{}?{V}", n(2)),
        ))
        .await;
    assert_eq!(req.body["properties"]["status"], "Denied");
    assert!(
        a.list(
            &alice,
            &auth(
                S1,
                &format!("roleAssignmentScheduleInstances?{V}&$filter=asTarget()")
            )
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn active_grants_show_as_classic_role_assignments() {
    let a = Arm::start().await;
    let v = "api-version=2022-04-01";
    let at_s2 = a
        .list(
            &a.admin.clone(),
            &auth(S2, &format!("roleAssignments?{v}&$filter=atScope()")),
        )
        .await;
    assert_eq!(at_s2.len(), 1, "{at_s2:?}");
    assert_eq!(at_s2[0]["properties"]["principalId"], BOB);
    assert_eq!(
        at_s2[0]["properties"]["roleDefinitionId"],
        role_id(S2, CONTRIBUTOR)
    );
    let instances = a
        .list(
            &a.admin.clone(),
            &auth(
                S2,
                &format!("roleAssignmentScheduleInstances?{V}&$filter=atScope()"),
            ),
        )
        .await;
    assert_eq!(
        instances[0]["properties"]["originRoleAssignmentId"],
        at_s2[0]["id"]
    );
    let got = a
        .get(&format!("{}?{v}", at_s2[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    // An activation adds one; nothing is at S1 before.
    assert!(
        a.list(
            &a.admin.clone(),
            &auth(S1, &format!("roleAssignments?{v}&$filter=atScope()"))
        )
        .await
        .is_empty()
    );
    let alice = a.h.emu.mint_arm_token(ALICE, true);
    let body = json!({ "principalId": ALICE, "roleDefinitionId": role_id(S1, READER), "requestType": "SelfActivate", "justification": "j",
        "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT1H" } } });
    assert_eq!(
        a.request(&alice, "Assignment", S1, &n(1), body)
            .await
            .status,
        201
    );
    let at_s1 = a
        .list(
            &a.admin.clone(),
            &auth(
                S1,
                &format!("roleAssignments?{v}&$filter=principalId eq '{ALICE}'"),
            ),
        )
        .await;
    assert_eq!(at_s1.len(), 1);
    // It ends with the activation.
    a.h.emu.clock().advance(TimeDelta::hours(2));
    assert!(
        a.list(
            &a.admin.clone(),
            &auth(S1, &format!("roleAssignments?{v}&$filter=atScope()"))
        )
        .await
        .is_empty()
    );
    let r = a
        .call(
            &a.admin.clone(),
            "PUT",
            &auth(S1, &format!("roleAssignments/{}?{v}", n(2))),
            Some(&json!({})),
        )
        .await;
    cloud_error(&r, 405, "MethodNotAllowed");
}

#[tokio::test]
async fn with_rbac_only_owners_and_access_administrators_write() {
    let mut seed = seed();
    let azure = seed.azure.as_mut().unwrap();
    // The app owns the Contoso group's tree; Carol administers access to rg-app.
    for (principal, role, scope) in [
        (ADMIN, "Owner", MG.to_string()),
        (CAROL, "User Access Administrator", rg_app()),
    ] {
        azure
            .assignment_schedules
            .push(pim_emulator::AzureScheduleSeed {
                principal: principal.into(),
                role: role.into(),
                scope,
                ..Default::default()
            });
    }
    let h = Harness::start(EmulatorConfig {
        seed: Some(seed),
        tls: false,
        clock: EmulatorClock::fixed(emulator_common::at(NOW)),
        arm_authorization: pim_emulator::ArmAuthorization::Rbac,
        ..EmulatorConfig::default()
    })
    .await;
    let admin = h.emu.mint_arm_token(ADMIN, true);
    let a = Arm { h, admin };
    assert_eq!(
        a.admin("Eligibility", S1, &n(1), assign(DAVE, READER, S1, "P1D"))
            .await
            .status,
        201
    );
    // Dev is not under the group the app owns.
    let r = a
        .admin("Eligibility", S2, &n(2), assign(DAVE, READER, S2, "P1D"))
        .await;
    let m = cloud_error(&r, 403, "AuthorizationFailed");
    assert!(
        m.contains("Microsoft.Authorization/roleAssignments/write") && m.contains(S2),
        "{m}"
    );
    let carol = a.h.emu.mint_arm_token(CAROL, true);
    assert_eq!(
        a.request(
            &carol,
            "Eligibility",
            &rg_app(),
            &n(3),
            assign(DAVE, READER, &rg_app(), "P1D")
        )
        .await
        .status,
        201
    );
    cloud_error(
        &a.request(
            &carol,
            "Eligibility",
            S1,
            &n(4),
            assign(DAVE, OWNER, S1, "P1D"),
        )
        .await,
        403,
        "AuthorizationFailed",
    );
    // Policies likewise; self-service needs only the eligibility.
    let by_role = auth(
        S2,
        &format!(
            "roleManagementPolicies?{V}&$filter=roleDefinitionId eq '{}'",
            role_id(S2, READER)
        ),
    );
    let policy = a.list(&carol, &by_role).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rule = json!({ "id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT1H" });
    let r = a
        .call(
            &carol,
            "PATCH",
            &format!("{policy}?{V}"),
            Some(&json!({ "properties": { "rules": [rule] } })),
        )
        .await;
    cloud_error(&r, 403, "AuthorizationFailed");
    let bob = a.h.emu.mint_arm_token(BOB, true);
    let activate = json!({ "principalId": BOB, "roleDefinitionId": role_id(S2, READER), "requestType": "SelfActivate", "justification": "j",
        "scheduleInfo": { "expiration": { "type": "AfterDuration", "duration": "PT1H" } } });
    assert_eq!(
        a.request(&bob, "Assignment", S2, &n(5), activate)
            .await
            .status,
        201
    );
}
