//! Azure resource roles end to end: the example's Azure section planned,
//! applied through the embedded emulator's ARM endpoints and in step
//! afterwards; inherited grants never touched at the child scope; the
//! configuration's errors said at their lines.

use std::path::Path;

use crate::support::cli_common::{contoso, run as pim, text};
use serde_json::Value;

const PROD: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";

const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

fn emulated(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(".pim-emulator.json")).unwrap()).unwrap()
}

/// The emulator's Azure schedules of one kind, as (principal, role, scope)
/// in lower case, with the condition.
fn azure_schedules(dir: &Path, key: &str) -> Vec<(String, String, String, Option<String>)> {
    let data = emulated(dir);
    let principals: Vec<(String, String)> = data["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["userPrincipalName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    data["azure"][key]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| {
                    let p = s["principal"].as_str().unwrap().to_ascii_lowercase();
                    let p = principals
                        .iter()
                        .find(|(id, _)| p.ends_with(id.as_str()))
                        .map_or(p.clone(), |(_, upn)| format!("user:{upn}"));
                    (
                        p,
                        s["role"].as_str().unwrap().to_ascii_lowercase(),
                        s["scope"].as_str().unwrap().to_ascii_lowercase(),
                        s["condition"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn holds(
    list: &[(String, String, String, Option<String>)],
    who: &str,
    role: &str,
    at: &str,
) -> bool {
    list.iter().any(|(p, r, s, _)| {
        p == who && (r == role || r.ends_with(role)) && s == &at.to_ascii_lowercase()
    })
}

#[test]
fn the_examples_azure_roles_are_planned_applied_and_then_in_step() {
    let dir = contoso("azure-apply", None);
    let out = pim(&dir, &["plan"]);
    let plan = text(&out);
    assert_eq!(out.status.code(), Some(0), "{plan}");
    for expected in [
        "= eligibility.bob_owner_production {",
        "+ eligibility.alice_contributor_payments {",
        "      + azure_role    = \"Contributor\"",
        "+ eligibility.carol_blob_reader_data {",
        "      + condition     = \"((!(ActionMatches{",
        &format!("~ policy[\"azure:Owner\"][\"{PROD}\"] {{"),
        "      ~ activation.max_duration            = \"PT8H\" -> \"PT2H\"",
        &format!("- role[\"azure:Owner\"][\"{PROD} eligible user:mallory@contoso.com\"] {{"),
    ] {
        assert!(plan.contains(expected), "missing {expected:?} in\n{plan}");
    }
    // Dave's Owner is granted at the management group and seen from the
    // subscription: inherited, so neither swept by the exclusive Owner at
    // the subscription nor listed as unmanaged there.
    assert!(
        !plan.contains("eligible user:dave@contoso.com\"]"),
        "{plan}"
    );
    assert!(
        !plan
            .lines()
            .any(|l| l.contains("dave@contoso.com") && l.contains("Owner")),
        "{plan}"
    );

    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let eligible = azure_schedules(&dir, "eligibilitySchedules");
    let rg = |name: &str| format!("{PROD}/resourceGroups/{name}");
    assert!(
        holds(
            &eligible,
            "user:alice@contoso.com",
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            &rg("rg-payments")
        ),
        "{eligible:?}"
    );
    assert!(
        holds(&eligible, "user:bob@contoso.com", OWNER, PROD),
        "{eligible:?}"
    );
    assert!(
        !holds(&eligible, "user:mallory@contoso.com", OWNER, PROD),
        "{eligible:?}"
    );
    // The inherited grant stays where it was made.
    assert!(
        holds(
            &eligible,
            "user:dave@contoso.com",
            OWNER,
            "/providers/Microsoft.Management/managementGroups/contoso"
        ),
        "{eligible:?}"
    );
    let carol = eligible
        .iter()
        .find(|(p, ..)| p == "user:carol@contoso.com")
        .expect("carol's grant was made");
    assert!(
        carol
            .3
            .as_deref()
            .is_some_and(|c| c.contains("'audit-logs'")),
        "the condition was sent: {carol:?}"
    );

    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in step after apply:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("No changes."), "{}", text(&out));

    let out = pim(&dir, &["state", "list"]);
    let list = text(&out);
    for address in [
        "eligibility.alice_contributor_payments",
        "eligibility.bob_owner_production",
        &format!("policy[\"azure:Owner\"][\"{PROD}\"]"),
    ] {
        assert!(list.lines().any(|l| l == address), "{address} in\n{list}");
        let out = pim(&dir, &["state", "show", address]);
        let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
        crate::support::cli_common::assert_schema("state.schema.json", &shown);
        assert_eq!(shown["surface"], "azure_role", "{shown:#}");
    }
}

#[test]
fn a_condition_changed_in_configuration_is_an_update() {
    let dir = contoso("azure-condition", None);
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let path = dir.join("azure.pim.hcl");
    let hcl = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, hcl.replace("'audit-logs'", "'audit-logs-2026'")).unwrap();
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    let plan = text(&out);
    assert_eq!(out.status.code(), Some(2), "{plan}");
    assert!(
        plan.contains("~ eligibility.carol_blob_reader_data {"),
        "{plan}"
    );
    assert!(plan.contains("'audit-logs-2026'"), "{plan}");
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let eligible = azure_schedules(&dir, "eligibilitySchedules");
    assert!(
        eligible
            .iter()
            .any(|(p, .., c)| p == "user:carol@contoso.com"
                && c.as_deref()
                    .is_some_and(|c| c.contains("'audit-logs-2026'"))),
        "{eligible:?}"
    );
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A directory holding only `hcl` (and the example's tenant block).
fn config_with(name: &str, hcl: &str) -> std::path::PathBuf {
    let dir = contoso(name, None);
    std::fs::write(dir.join("azure.pim.hcl"), hcl).unwrap();
    dir
}

#[test]
fn azure_role_mistakes_are_said_at_their_lines() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "role",
            "eligibility \"x\" {\n  principal  = \"user:bob@contoso.com\"\n  azure_role = \"Contributer\"\n  scope      = \"/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34\"\n  duration   = \"P30D\"\n}\n",
            &[
                "azure.pim.hcl:3:",
                "unknown Azure role \"Contributer\"",
                "did you mean \"Contributor\"",
            ],
        ),
        (
            "noscope",
            "eligibility \"x\" {\n  principal  = \"user:bob@contoso.com\"\n  azure_role = \"Reader\"\n  duration   = \"P30D\"\n}\n",
            &["an Azure role grant needs a scope", "/subscriptions/<id>"],
        ),
        (
            "badscope",
            "eligibility \"x\" {\n  principal  = \"user:bob@contoso.com\"\n  azure_role = \"Reader\"\n  scope      = \"/subscriptions/x/../y\"\n  duration   = \"P30D\"\n}\n",
            &["azure.pim.hcl:4:", "is not an ARM scope"],
        ),
        (
            "dirscope",
            "eligibility \"x\" {\n  principal = \"user:bob@contoso.com\"\n  role      = \"Global Reader\"\n  scope     = \"/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34\"\n  duration  = \"P30D\"\n}\n",
            &[
                "azure.pim.hcl:4:",
                "is an Azure scope, not a directory scope",
                "azure_role",
            ],
        ),
        (
            "condition",
            "eligibility \"x\" {\n  principal = \"user:bob@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"P30D\"\n  condition = \"true\"\n}\n",
            &[
                "azure.pim.hcl:5:",
                "a directory role grant takes no condition",
            ],
        ),
        (
            "policyscope",
            "policy \"azure:Owner\" {\n  activation {\n    max_duration = \"PT1H\"\n  }\n}\n",
            &["azure.pim.hcl:1:", "an Azure role's block needs a scope"],
        ),
        (
            "dirpolicy",
            "policy \"Global Reader\" {\n  scope = \"/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34\"\n}\n",
            &[
                "azure.pim.hcl:2:",
                "scope is not an attribute of a directory role policy block",
                "azure:<role>",
            ],
        ),
    ];
    for (name, hcl, expected) in cases {
        let dir = config_with(&format!("azure-bad-{name}"), hcl);
        let out = pim(&dir, &["validate"]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {said}");
        for e in *expected {
            assert!(said.contains(e), "{name}: missing {e:?} in\n{said}");
        }
    }
}

#[test]
fn a_custom_azure_role_is_named_as_azure_names_it_and_found_at_its_scope() {
    let dir = contoso("azure-custom", None);
    let path = dir.join("tenant.json");
    let mut seed: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    seed["azure"]["roleDefinitions"] = serde_json::json!([{
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "roleName": "Contoso Payments Operator",
        "assignableScopes": [PROD]
    }]);
    std::fs::write(&path, serde_json::to_vec_pretty(&seed).unwrap()).unwrap();
    let hcl = dir.join("azure.pim.hcl");
    let mut text_of = std::fs::read_to_string(&hcl).unwrap();
    text_of.push_str(&format!(
        "\neligibility \"alice_payments_operator\" {{\n  principal  = \"user:alice@contoso.com\"\n  azure_role = \"contoso payments operator\"\n  scope      = \"{PROD}/resourceGroups/rg-payments\"\n  duration   = \"P30D\"\n}}\n"
    ));
    std::fs::write(&hcl, &text_of).unwrap();
    let out = pim(&dir, &["plan"]);
    let plan = text(&out);
    assert_eq!(out.status.code(), Some(0), "{plan}");
    assert!(
        plan.contains("+ eligibility.alice_payments_operator {")
            && plan.contains("+ azure_role = \"contoso payments operator\""),
        "{plan}"
    );
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let eligible = azure_schedules(&dir, "eligibilitySchedules");
    assert!(
        holds(
            &eligible,
            "user:alice@contoso.com",
            "c0ffee00-0000-4000-8000-000000000001",
            &format!("{PROD}/resourceGroups/rg-payments")
        ),
        "{eligible:?}"
    );
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Not assignable at the management group: said at the line that names it.
    text_of.push_str(
        "\neligibility \"bob_payments_operator\" {\n  principal  = \"user:bob@contoso.com\"\n  azure_role = \"Contoso Payments Operator\"\n  scope      = \"/providers/Microsoft.Management/managementGroups/contoso\"\n  duration   = \"P30D\"\n}\n",
    );
    std::fs::write(&hcl, &text_of).unwrap();
    let line = text_of.lines().count() - 3;
    let out = pim(&dir, &["plan"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("azure.pim.hcl:{line}:"))
            && said.contains("unknown Azure role \"Contoso Payments Operator\": no built-in role and no role assignable at /providers/microsoft.management/managementgroups/contoso has that name"),
        "{said}"
    );
}

#[test]
fn a_subscription_is_named_by_its_display_name() {
    let dir = contoso("azure-subscription-name", None);
    let hcl = dir.join("azure.pim.hcl");
    let text_of = std::fs::read_to_string(&hcl).unwrap().replace(
        "  production = \"/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34\"",
        "  production = \"subscription:Contoso Production\"",
    );
    std::fs::write(&hcl, &text_of).unwrap();
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let eligible = azure_schedules(&dir, "eligibilitySchedules");
    assert!(
        holds(
            &eligible,
            "user:alice@contoso.com",
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            &format!("{PROD}/resourceGroups/rg-payments")
        ),
        "{eligible:?}"
    );
    assert!(
        !holds(&eligible, "user:mallory@contoso.com", OWNER, PROD),
        "{eligible:?}"
    );
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    std::fs::write(
        &hcl,
        text_of.replace(
            "subscription:Contoso Production",
            "subscription:Contoso Prodution",
        ),
    )
    .unwrap();
    let out = pim(&dir, &["plan"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("no subscription pim can see is named \"contoso prodution\"")
            && said.contains("did you mean \"Contoso Production\"?")
            && said.contains("azure.pim.hcl:14:19: error"),
        "{said}"
    );
}

#[test]
fn azure_writes_need_an_azure_role_that_may_make_them() {
    // Without the example's User Access Administrator at the management
    // group, ARM refuses pim's writes, whatever Graph lets it do.
    let dir = contoso("azure-rbac", None);
    let path = dir.join("tenant.json");
    let mut seed: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    seed["azure"]
        .as_object_mut()
        .unwrap()
        .remove("assignmentSchedules");
    std::fs::write(&path, serde_json::to_vec_pretty(&seed).unwrap()).unwrap();
    let out = pim(&dir, &["apply", "--auto-approve"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "failed: policy[\"azure:Owner\"][\"{PROD}\"] (update-rules)"
        )) && said.contains("AuthorizationFailed")
            && said.contains("Microsoft.Authorization/roleManagementPolicies/write"),
        "{said}"
    );
}

#[test]
fn an_azure_owner_is_held_to_the_tier0_baseline_at_its_scope() {
    let dir = contoso("azure-check", None);
    let hcl = dir.join("azure.pim.hcl");
    let src = std::fs::read_to_string(&hcl).unwrap();
    let at = src.find("policy \"azure:Owner\"").unwrap();
    std::fs::write(&hcl, &src[..at]).unwrap();
    let out = pim(&dir, &["check"]);
    let said = text(&out);
    for code in ["PIM002", "PIM003", "PIM004", "PIM006"] {
        assert!(
            said.lines().any(|l| l.contains(code)
                && l.contains(&format!("tier-0 role \"Owner\" at {PROD}"))
                && l.contains("azure.pim.hcl:")),
            "{code} in\n{said}"
        );
    }
    // Reader is not tier 0: nothing is said of the other Azure roles.
    assert!(!said.contains("Contributor"), "{said}");
}

#[test]
fn a_new_owner_of_an_exclusive_azure_role_is_drift_and_an_inherited_one_is_not() {
    let dir = contoso("azure-drift", None);
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = pim(&dir, &["drift"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "quiet after apply: {}",
        text(&out)
    );

    // Outside pim: carol made Owner of production, and erin Owner of the
    // management group above it.
    let path = dir.join(".pim-emulator.json");
    let mut data = emulated(&dir);
    let id_of = |upn: &str| {
        data["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userPrincipalName"] == upn)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (carol, erin) = (id_of("carol@contoso.com"), id_of("erin@contoso.com"));
    let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let end = start + chrono::TimeDelta::days(30);
    let schedules = data["azure"]["eligibilitySchedules"]
        .as_array_mut()
        .unwrap();
    for (who, scope) in [
        (&carol, PROD.to_string()),
        (
            &erin,
            "/providers/Microsoft.Management/managementGroups/contoso".to_string(),
        ),
    ] {
        schedules.push(serde_json::json!({
            "principal": who,
            "role": OWNER,
            "scope": scope,
            "start": start.to_rfc3339(),
            "end": end.to_rfc3339(),
        }));
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();

    let out = pim(&dir, &["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counts"]["new"], 1, "{v:#}");
    let shown = text(&pim(&dir, &["drift"]));
    assert!(
        shown.contains("carol@contoso.com") && shown.contains(PROD),
        "{shown}"
    );
    assert!(!shown.contains("erin@contoso.com at /providers"), "{shown}");

    let out = pim(&dir, &["plan"]);
    let plan = text(&out);
    assert!(
        plan.contains(&format!(
            "- role[\"azure:Owner\"][\"{PROD} eligible user:carol@contoso.com\"] {{"
        )),
        "{plan}"
    );
    assert!(
        !plan.contains("eligible user:erin@contoso.com\"]"),
        "{plan}"
    );
}

#[test]
fn an_azure_grant_is_renewed_before_it_ends_and_made_again_after() {
    let dir = contoso("azure-renew", None);
    // Bob's Owner, 180 days from 178 days ago: two days left.
    let path = dir.join("tenant.json");
    let mut seed: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for s in seed["azure"]["eligibilitySchedules"]
        .as_array_mut()
        .unwrap()
    {
        if s["principal"] == "user:bob@contoso.com" {
            s["start"] = "-P178D".into();
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&seed).unwrap()).unwrap();
    let out = pim(&dir, &["plan"]);
    let plan = text(&out);
    assert!(
        plan.contains(
            "# eligibility.bob_owner_production will be adopted (expires within the renewal window)"
        ),
        "{plan}"
    );
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ends = |dir: &Path| -> Vec<chrono::DateTime<chrono::Utc>> {
        let data = emulated(dir);
        let bob = data["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userPrincipalName"] == "bob@contoso.com")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        data["azure"]["eligibilitySchedules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["principal"] == bob.as_str() && s["role"] == OWNER)
            .filter_map(|s| s["end"].as_str())
            .map(|e| e.parse().unwrap())
            .collect()
    };
    let now = chrono::Utc::now();
    let after = ends(&dir);
    assert!(
        after
            .iter()
            .any(|e| *e > now + chrono::TimeDelta::days(170)),
        "renewed for its 180 days: {after:?}"
    );
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Ended since (ARM lists it no more as held): made again, with the
    // assignment ARM takes for a new grant, not a renewal of what is gone.
    let data_path = dir.join(".pim-emulator.json");
    let mut data = emulated(&dir);
    for s in data["azure"]["eligibilitySchedules"]
        .as_array_mut()
        .unwrap()
    {
        if s["role"] == OWNER
            && s["scope"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(PROD))
        {
            s["start"] = (now - chrono::TimeDelta::days(200)).to_rfc3339().into();
            s["end"] = (now - chrono::TimeDelta::days(20)).to_rfc3339().into();
        }
    }
    std::fs::write(&data_path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    let out = pim(&dir, &["plan"]);
    let plan = text(&out);
    assert!(
        plan.contains("+ eligibility.bob_owner_production {"),
        "{plan}"
    );
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        ends(&dir)
            .iter()
            .any(|e| *e > now + chrono::TimeDelta::days(170)),
        "{:?}",
        ends(&dir)
    );
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
