//! `pim export` and `pim import` of Azure resource roles, run as a user
//! would against the embedded emulator: the scopes of the source
//! configuration and of `--azure-scope` exported one file each, inherited
//! grants and activations left out, conditions and policies kept, the
//! export planned in step; an Azure grant imported at its address; and
//! drift of a new Azure grant that names the request behind it.

use std::path::{Path, PathBuf};

use crate::support::cli_common::{self, export, read, run as pim, text};
use crate::support::graph_common;
use serde_json::Value;

const PROD: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";
const MG: &str = "/providers/Microsoft.Management/managementGroups/contoso";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

/// The contoso seed with the Azure grants, policy and request of
/// `tests/fixtures/export/azure.json` added: a condition on a grant whose
/// request ARM still has, a custom role, a permanent assignment, an
/// activation, a grant whose request is gone and a policy that differs
/// from the defaults.
fn seed_with_azure() -> Value {
    let mut seed: Value =
        serde_json::from_slice(&std::fs::read("examples/contoso/tenant.json").unwrap()).unwrap();
    let extra: Value =
        serde_json::from_slice(&std::fs::read("tests/fixtures/export/azure.json").unwrap())
            .unwrap();
    for (key, items) in extra.as_object().unwrap() {
        let list = seed["azure"]
            .as_object_mut()
            .unwrap()
            .entry(key.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        list.as_array_mut()
            .unwrap()
            .extend(items.as_array().unwrap().iter().cloned());
    }
    seed
}

/// A copy of the contoso example seeded with [`seed_with_azure`].
fn contoso_with_azure(name: &str) -> PathBuf {
    let dir = cli_common::contoso(name, None);
    std::fs::write(
        dir.join("tenant.json"),
        serde_json::to_vec_pretty(&seed_with_azure()).unwrap(),
    )
    .unwrap();
    dir
}

fn azure_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("azure") && n.ends_with(".pim.hcl"))
        .collect();
    files.sort();
    files
}

/// The labels of a file's grant blocks, in the order written.
fn grant_labels(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("eligibility \"") || l.starts_with("assignment \""))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect()
}

/// One block of `text`, from its opening line to its closing brace.
fn block<'a>(text: &'a str, opening: &str) -> &'a str {
    let start = text
        .find(opening)
        .unwrap_or_else(|| panic!("no {opening:?} in\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n}\n").map_or(rest.len(), |e| e + 2)]
}

fn assert_in_step(dir: &Path, what: &str) {
    let plan = pim(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{what}: {}", text(&plan));
    assert!(
        text(&plan).contains("No changes."),
        "{what}: {}",
        text(&plan)
    );
    assert!(!text(&plan).contains("PIM001"), "{what}: {}", text(&plan));
    let fmt = pim(dir, &["fmt", "--check"]);
    assert_eq!(fmt.status.code(), Some(0), "{what}: {}", text(&fmt));
}

/// The state's Azure resources, as (address, schedule id).
fn azure_resources(dir: &Path) -> Vec<(String, String)> {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("pim.state.json")).unwrap()).unwrap();
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["surface"] == "azure_role")
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["schedule_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_scopes_governed_and_named_are_exported_and_plan_no_changes() {
    let dir = contoso_with_azure("export-azure");
    let out = dir.join("exported");
    // The management group named in ARM's spelling, the example's scopes
    // from its configuration.
    let run = export(&dir, &out, &["--azure-scope", MG]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(
        azure_files(&out),
        [
            "azure_contoso_production.pim.hcl",
            "azure_contoso_production_rg_data.pim.hcl",
            "azure_contoso_production_rg_payments.pim.hcl",
            "azure_mg_contoso.pim.hcl"
        ]
    );

    let prod = read(&out, "azure_contoso_production.pim.hcl");
    assert!(
        prod.starts_with(&format!(
            "# Azure roles at {PROD} (subscription \"Contoso Production\")\n"
        )),
        "{prod}"
    );
    // Dave's Owner is made at the management group and only seen from the
    // subscription; Bob's activation comes and goes with his eligibility.
    assert_eq!(
        grant_labels(&prod),
        [
            "bob_owner_contoso_production",
            "frank_6b3a0e52_contoso_production",
            "grace_reader_contoso_production",
            "mallory_owner_contoso_production"
        ],
        "{prod}"
    );
    assert!(!prod.contains("dave@"), "{prod}");
    let bob = block(&prod, "eligibility \"bob_owner_contoso_production\"");
    assert!(
        bob.starts_with(&format!(
            "eligibility \"bob_owner_contoso_production\" {{\n  principal  = \"user:bob@contoso.com\"\n  azure_role = \"Owner\"\n  scope      = \"{PROD}\"\n  expires    = \""
        )),
        "no request of the seed is left: a date; {bob}"
    );
    assert!(
        block(&prod, "assignment \"grace_reader_contoso_production\"")
            .contains("permanent  = true"),
        "{prod}"
    );
    let frank = block(&prod, "eligibility \"frank_6b3a0e52_contoso_production\"");
    assert!(
        frank.contains("azure_role = \"6b3a0e52-9f1d-4c2e-8a7b-1d2c3e4f5a6b\""),
        "a custom role by its GUID: {frank}"
    );
    assert!(
        frank.contains("  expires    = \"") && !frank.contains("justification"),
        "the request that made it is gone: {frank}"
    );
    assert!(
        !prod.contains("policy \""),
        "Owner's policy there is the default: {prod}"
    );

    // pim's own User Access Administrator there, which lets it write.
    let mg = read(&out, "azure_mg_contoso.pim.hcl");
    assert_eq!(
        grant_labels(&mg),
        ["dave_owner_contoso", "pim_uaa_contoso"],
        "{mg}"
    );
    assert!(mg.contains(&format!("scope      = \"{MG}\"")), "{mg}");
    // Held permanently and tier 0 there: protected at its scope, as a
    // directory role's break-glass holder is.
    assert!(
        mg.contains(&format!(
            "role \"azure:User Access Administrator\" {{\n  scope     = \"{MG}\"\n  protected = [\"sp:pim\"]\n}}\n"
        )),
        "{mg}"
    );

    // Its request is still there: its duration and justification kept,
    // and the condition as ARM has it.
    let data = read(&out, "azure_contoso_production_rg_data.pim.hcl");
    assert!(
        data.contains("  duration      = \"P90D\"\n  justification = \"Audit log reviews\"\n"),
        "{data}"
    );
    assert!(
        data.contains("  condition     = \"((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'audit-logs'))\"\n"),
        "{data}"
    );
    let payments = read(&out, "azure_contoso_production_rg_payments.pim.hcl");
    assert_eq!(grant_labels(&payments), ["erin_reader_rg_payments"]);
    assert!(
        payments.contains(&format!(
            "policy \"azure:Reader\" {{\n  scope = \"{PROD}/resourceGroups/rg-payments\"\n  activation {{\n    max_duration = \"PT1H\"\n  }}\n}}\n"
        )),
        "only the setting that differs: {payments}"
    );

    let resources = azure_resources(&out);
    assert_eq!(resources.len(), 8, "{resources:?}");
    assert!(
        resources
            .iter()
            .any(|(a, _)| a == "eligibility.dave_owner_contoso"),
        "{resources:?}"
    );
    assert_in_step(&out, "the Azure export");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn azure_scopes_are_exported_only_when_named() {
    let dir = contoso_with_azure("export-azure-named");
    // A source with the tenant block alone governs no Azure scope.
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::copy(dir.join("tenant.json"), source.join("tenant.json")).unwrap();
    std::fs::write(
        source.join("tenant.pim.hcl"),
        "tenant {\n  emulator = \"tenant.json\"\n}\n",
    )
    .unwrap();

    let none = dir.join("none");
    let run = export(&source, &none, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(azure_files(&none).is_empty(), "{:?}", azure_files(&none));
    assert!(azure_resources(&none).is_empty());

    let rg = dir.join("rg");
    let scope = format!("{PROD}/RESOURCEGROUPS/rg-data/");
    let run = export(&source, &rg, &["--azure-scope", &scope]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(
        azure_files(&rg),
        ["azure_contoso_production_rg_data.pim.hcl"]
    );
    assert_eq!(
        azure_resources(&rg)
            .into_iter()
            .map(|(a, _)| a)
            .collect::<Vec<_>>(),
        ["eligibility.carol_sbdr_rg_data"]
    );
    assert_in_step(&rg, "one resource group");
    // The same, its subscription named by display name.
    let by_name = dir.join("by-name");
    let run = export(
        &source,
        &by_name,
        &[
            "--azure-scope",
            "subscription:Contoso Production/resourceGroups/rg-data",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(
        read(&by_name, "azure_contoso_production_rg_data.pim.hcl"),
        read(&rg, "azure_contoso_production_rg_data.pim.hcl")
    );

    // --role names Azure roles too.
    let owners = dir.join("owners");
    let run = export(
        &source,
        &owners,
        &["--azure-scope", PROD, "--role", "owner"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(azure_files(&owners), ["azure_contoso_production.pim.hcl"]);
    assert_eq!(
        grant_labels(&read(&owners, "azure_contoso_production.pim.hcl")),
        [
            "bob_owner_contoso_production",
            "mallory_owner_contoso_production"
        ]
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(owners.join("pim.state.json")).unwrap()).unwrap();
    assert_eq!(
        state["resources"].as_array().unwrap().len(),
        2,
        "no other role's grant: {state}"
    );

    for bad in ["/administrativeUnits/Paris Office", "/"] {
        let refused = dir.join("refused");
        let run = export(&source, &refused, &["--azure-scope", bad]);
        assert_eq!(run.status.code(), Some(1), "{bad}: {}", text(&run));
        assert!(
            text(&run).contains(&format!("--azure-scope {bad:?} is not an ARM scope")),
            "{bad}: {}",
            text(&run)
        );
        assert!(!refused.exists(), "{bad}: nothing written");
    }
    let refused = dir.join("refused");
    let run = export(
        &source,
        &refused,
        &["--azure-scope", "subscription:Contoso Prod"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains("no subscription pim can see is named \"contoso prod\"")
            && text(&run).contains("did you mean \"Contoso Production\"?"),
        "{}",
        text(&run)
    );
    assert!(!refused.exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_applied_condition_and_policy_are_exported_in_step() {
    let dir = cli_common::contoso("export-azure-applied", None);
    let run = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let out = dir.join("exported");
    let run = export(&dir, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let prod = read(&out, "azure_contoso_production.pim.hcl");
    assert_eq!(
        grant_labels(&prod),
        ["bob_owner_contoso_production"],
        "Mallory was removed by the exclusive Owner: {prod}"
    );
    let policy = block(&prod, "policy \"azure:Owner\"");
    for line in [
        &format!("  scope = \"{PROD}\"") as &str,
        "    max_duration          = \"PT2H\"",
        "    require_mfa           = true",
        "      approvers             = [\"group:PIM Approvers\"]",
    ] {
        assert!(policy.contains(line), "missing {line:?} in\n{policy}");
    }
    // Made by pim's requests, whose rolling duration and justification
    // ARM still has.
    let data = read(&out, "azure_contoso_production_rg_data.pim.hcl");
    let carol = block(&data, "eligibility \"carol_sbdr_rg_data\"");
    for line in [
        "  duration      = \"P90D\"",
        "  justification = \"Security investigations, audit logs only\"",
        "  condition     = \"((!(ActionMatches{'Microsoft.Storage/",
    ] {
        assert!(carol.contains(line), "missing {line:?} in\n{carol}");
    }
    let payments = read(&out, "azure_contoso_production_rg_payments.pim.hcl");
    assert!(
        block(&payments, "eligibility \"alice_contributor_rg_payments\"")
            .contains("  duration      = \"P90D\"\n  justification = \"Payments on-call\"\n"),
        "{payments}"
    );
    assert_in_step(&out, "after apply");

    // Every setting of the Azure policies, too.
    let all = dir.join("all-settings");
    let run = export(&dir, &all, &["--all-policy-settings"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let payments = read(&all, "azure_contoso_production_rg_payments.pim.hcl");
    assert!(
        payments.contains("policy \"azure:Contributor\" {"),
        "{payments}"
    );
    assert_in_step(&all, "--all-policy-settings");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_azure_grant_is_imported_at_its_address() {
    let dir = cli_common::contoso("import-azure", None);
    let plan = text(&pim(&dir, &["plan"]));
    assert!(
        plan.contains("= eligibility.bob_owner_production {"),
        "not managed yet: {plan}"
    );
    // The schedule's name, as an export of the same tenant records it.
    let exported = dir.join("exported");
    let run = export(&dir, &exported, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let resources = azure_resources(&exported);
    let schedule = |address: &str| {
        resources
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{address} in {resources:?}"))
    };
    let bob = schedule("eligibility.bob_owner_contoso_production");
    let mallory = schedule("eligibility.mallory_owner_contoso_production");

    // Another principal's Owner is not what the block declares.
    let run = pim(
        &dir,
        &["import", "eligibility.bob_owner_production", &mallory],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains("is not what eligibility.bob_owner_production declares"),
        "{}",
        text(&run)
    );

    // By the full id ARM and the portal show.
    let full = format!("{PROD}/providers/Microsoft.Authorization/roleEligibilitySchedules/{bob}");
    let run = pim(&dir, &["import", "eligibility.bob_owner_production", &full]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        text(&run).contains(&format!(
            "Imported {bob} as eligibility.bob_owner_production."
        )),
        "{}",
        text(&run)
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("pim.state.json")).unwrap()).unwrap();
    let r = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "eligibility.bob_owner_production")
        .expect("recorded");
    assert_eq!(r["surface"], "azure_role");
    assert_eq!(r["schedule_id"], bob.as_str());
    assert_eq!(r["role_id"], OWNER);
    assert_eq!(r["scope_id"], PROD);

    let plan = text(&pim(&dir, &["plan"]));
    assert!(
        !plan.contains("eligibility.bob_owner_production"),
        "managed and in step: {plan}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const NOW: &str = "2026-12-01T10:00:00Z";

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[test]
fn exported_azure_files_of_the_contoso_tenant() {
    use std::sync::atomic::Ordering::Relaxed;

    let seed: pim::emulator::Tenant = serde_json::from_value(seed_with_azure()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (out, listed, policies, requests) = rt.block_on(async {
        let emu = pim::emulator::Emulator::start(pim::emulator::EmulatorConfig {
            seed: Some(seed),
            clock: pim::emulator::EmulatorClock::fixed(at(NOW)),
            ..pim::emulator::EmulatorConfig::default()
        })
        .await
        .unwrap();
        let settings = graph_common::settings(&emu, graph_common::SECRET);
        let graph = pim::graph::HttpGraph::new(settings.clone()).unwrap();
        let arm = std::sync::Arc::new(
            pim::arm::HttpArm::sharing(
                pim::arm::ArmSettings::for_emulator(&settings, &Default::default()).unwrap(),
                &graph,
            )
            .unwrap(),
        );
        let graph = graph.with_arm(arm.clone());
        // The management group and a resource group named; the
        // subscription and the other resource group governed by a source
        // configuration, which names Contributor's policy where nobody
        // holds it, the subscription by its display name and a custom role
        // by the name Azure gives it.
        let dir = Path::new("/config");
        let hcl = "policy \"azure:Contributor\" {\n  scope = \"subscription:Contoso Production/resourceGroups/rg-payments\"\n}\nrole \"azure:Owner\" {\n  scope = \"subscription:contoso production\"\n  exclusive = true\n}\nrole \"azure:Contoso Payments Operator\" {\n  scope = \"subscription:Contoso Production\"\n  exclusive = true\n}\n".to_string();
        let source = pim::config::load_sources(
            dir,
            vec![(dir.join("main.pim.hcl"), hcl)],
            &pim::config::LoadOptions::at(at(NOW)),
        )
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
        let azure = pim::export::azure_interest(
            &source,
            &[MG.to_string(), format!("{PROD}/resourceGroups/rg-data")],
        )
        .unwrap();
        assert_eq!(azure.scopes.len(), 4, "as written: {azure:?}");

        let calls = || arm.stats().requests.load(Relaxed);
        let start = calls();
        let current = pim::export::read(&graph, at(NOW), &azure).await.unwrap();
        let read = calls() - start;
        let start = calls();
        let requests = pim::export::read_requests(&graph, &current).await.unwrap();
        let looked_up = calls() - start;
        let subscriptions = pim::export::read_subscription_names(&graph, &current)
            .await
            .unwrap();
        let out = pim::export::export(
            &current,
            &requests,
            &subscriptions,
            &pim::graph::default_rule_set(),
            &pim::export::ExportOptions {
                now: at(NOW),
                azure,
                ..pim::export::ExportOptions::default()
            },
        )
        .unwrap();
        emu.stop().await;
        let policies = current
            .policies
            .keys()
            .filter(|k| k.surface == pim::model::SurfaceKind::AzureRole)
            .count();
        (out, read, policies, looked_up)
    });
    // The subscription list and the custom role's definition for the names
    // the source uses; both kinds at each of the 4 scopes; then, for each of
    // the 7 roles held directly there and Contributor where the source names
    // it, its policy assignment and the policy.
    assert_eq!(policies, 8, "the Azure policies read");
    assert_eq!(listed, 2 + 8 + 2 * 8, "ARM calls of the read");
    assert_eq!(
        requests, 2,
        "one GET per Azure grant that names its request: Carol's, and Frank's which ARM no longer has"
    );

    let mut all = String::new();
    for (name, text) in out.files.iter().filter(|(n, _)| n.starts_with("azure")) {
        all.push_str(&format!("=== {name}\n{text}\n"));
    }
    all.push_str("=== pim.state.json (address: declared, end)\n");
    for r in out
        .state
        .resources
        .iter()
        .filter(|r| r.surface == pim::model::SurfaceKind::AzureRole)
    {
        all.push_str(&format!(
            "{}: {}, {}\n",
            r.address, r.attributes["duration"], r.attributes["end"]
        ));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn drift_of_a_new_azure_grant_does_not_ask_graph_for_its_request() {
    let dir = contoso_with_azure("drift-azure-request");
    let run = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // Made outside pim after the apply, by a request ARM names: the
    // schedule's request id is ARM's, which Graph cannot look up.
    let path = dir.join(".pim-emulator.json");
    let mut data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let heidi = data["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == "heidi@contoso.com")
        .map(|u| u["id"].clone())
        .unwrap();
    data["azure"]["eligibilitySchedules"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": "11111111-2222-4333-8444-555555555555",
            "principal": heidi,
            "role": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            "scope": PROD,
            "start": "2026-11-23T10:00:00Z",
            "end": "2099-05-22T10:00:00Z",
            "createdUsing": "0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        }));
    std::fs::write(&path, serde_json::to_vec(&data).unwrap()).unwrap();

    let drift = text(&pim(&dir, &["drift"]));
    assert!(
        drift.contains(&format!(
            "+ eligible user:heidi@contoso.com at {PROD} since 2026-11-23"
        )) && drift.contains("[new]"),
        "{drift}"
    );
    assert!(!drift.contains("could not be read"), "{drift}");
    let _ = std::fs::remove_dir_all(&dir);
}
