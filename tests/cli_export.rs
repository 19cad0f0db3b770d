//! `pim export` of the contoso tenant: the files it writes (snapshots, at a
//! fixed time, against an in-process emulator), and, run as a user would,
//! that `pim plan` of a fresh export has no changes and no PIM001, with or
//! without `--durations` and `--all-policy-settings`.

use crate::support::cli_common::{export, read, run as pim};
use crate::support::{cli_common, graph_common};

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cli_common::text;
use pim::export::{ExportOptions, Requests};
use pim::model::find_builtin_role;
use serde_json::json;

fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pim.hcl"))
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

/// What every fresh export must be: formatted, with no machine path, its
/// grant blocks sorted by name, and `pim plan` of it in step with no PIM001.
fn assert_a_clean_export(out: &Path, what: &str) {
    for f in config_files(out) {
        let text = std::fs::read_to_string(&f).unwrap();
        let labels = grant_labels(&text);
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted, "{what}: {} is sorted by name", f.display());
        assert!(!text.contains("\"\""), "{what}: no empty string in {text}");
    }
    let tenant = read(out, "tenant.pim.hcl");
    assert!(
        tenant
            .lines()
            .any(|l| l.trim_start().starts_with("emulator ") && l.ends_with("= \"tenant.json\"")),
        "{what}: the seed by its file name: {tenant}"
    );
    assert!(
        out.join("tenant.json").exists(),
        "{what}: the seed is copied"
    );
    let plan = pim(out, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{what}: {}", text(&plan));
    assert!(
        text(&plan).contains("No changes."),
        "{what}: {}",
        text(&plan)
    );
    assert!(!text(&plan).contains("PIM001"), "{what}: {}", text(&plan));
    let fmt = pim(out, &["fmt", "--check"]);
    assert_eq!(fmt.status.code(), Some(0), "{what}: {}", text(&fmt));
}

#[test]
fn an_export_of_the_seed_plans_no_changes() {
    let dir = cli_common::contoso("export-seed", None);
    let out = dir.join("exported");
    let run = export(&dir, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("Exported 24 grants"), "{}", text(&run));
    assert_a_clean_export(&out, "the seed");

    let ga = read(&out, "global_administrator.pim.hcl");
    assert!(ga.contains("assignment \"breakglass1_ga\" {"), "{ga}");
    assert!(
        ga.contains("protected = [\"sp:Legacy Sync\", \"user:breakglass1@contoso.com\"]"),
        "{ga}"
    );
    assert!(ga.contains("policy \"Global Administrator\" {"), "{ga}");
    let ua = read(&out, "user_administrator.pim.hcl");
    assert!(
        ua.contains("eligibility \"ivan_ua_paris_office\" {"),
        "{ua}"
    );
    // No request of the seed is left (their ids name none): every end is
    // a date, at midnight.
    for f in config_files(&out) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if line.trim_start().starts_with("expires") {
                assert!(line.ends_with("T00:00:00Z\""), "{line}");
            }
        }
    }

    // Refuses to overwrite, and an unknown --role writes nothing.
    let again = export(&dir, &out, &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let typo = dir.join("typo");
    let run = export(&dir, &typo, &["--role", "Global Admnistrator"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains(
            "unknown role \"Global Admnistrator\" in --role; did you mean \"Global Administrator\""
        ),
        "{}",
        text(&run)
    );
    assert!(!typo.exists(), "nothing written");

    let only = dir.join("only-ga");
    let run = export(&dir, &only, &["--role", "global administrator"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let mut files: Vec<String> = std::fs::read_dir(&only)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ".pim-emulator.json",
            "global_administrator.pim.hcl",
            "pim.state.json",
            "tenant.json",
            "tenant.pim.hcl"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_export_after_apply_keeps_durations_justifications_and_tickets() {
    let dir = cli_common::contoso("export-applied", None);
    let run = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let out = dir.join("exported");
    let run = export(&dir, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_a_clean_export(&out, "after apply");
    let ga = read(&out, "global_administrator.pim.hcl");
    let bob = &ga[ga.find("eligibility \"bob_ga\"").expect("bob_ga")..];
    let bob = &bob[..bob.find("\n}\n").unwrap()];
    assert!(
        bob.contains("duration      = \"P180D\""),
        "made with P180D: {bob}"
    );
    assert!(
        bob.contains("justification = \"Cloud platform lead, change ServiceNow:CHG0042001\""),
        "{bob}"
    );
    assert!(
        bob.contains("ticket        = \"ServiceNow:CHG0042001\""),
        "{bob}"
    );

    let rolling = dir.join("rolling");
    let run = export(&dir, &rolling, &["--durations"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_a_clean_export(&rolling, "--durations");
    for f in config_files(&rolling) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("expires"), "every end rolls: {text}");
    }

    let all = dir.join("all-settings");
    let run = export(&dir, &all, &["--all-policy-settings"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_a_clean_export(&all, "--all-policy-settings");
    let _ = std::fs::remove_dir_all(&dir);
}

const NOW: &str = "2026-12-01T10:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A request of the seed, as Graph lists it: made `days_ago`, asking for
/// `expiration`.
#[allow(clippy::too_many_arguments)]
fn request(
    seed: &pim::emulator::Tenant,
    id: &str,
    upn_or_sp: &str,
    role: &str,
    scope: &str,
    days_ago: i64,
    expiration: serde_json::Value,
    justification: &str,
    ticket: Option<(&str, &str)>,
) -> serde_json::Value {
    let principal = seed
        .users
        .iter()
        .find(|u| u.user_principal_name == upn_or_sp)
        .map(|u| u.id.clone())
        .or_else(|| {
            seed.service_principals
                .iter()
                .find(|s| s.display_name == upn_or_sp)
                .map(|s| s.id.clone())
        })
        .unwrap();
    let created = at(NOW) - chrono::Duration::days(days_ago);
    json!({
        "id": id,
        "status": "Provisioned",
        "createdDateTime": created.to_rfc3339(),
        "completedDateTime": created.to_rfc3339(),
        "action": "adminAssign",
        "principalId": principal,
        "roleDefinitionId": find_builtin_role(role).unwrap().id,
        "directoryScopeId": scope,
        "appScopeId": null,
        "isValidationOnly": false,
        "targetScheduleId": id,
        "justification": justification,
        "createdBy": { "user": { "id": principal } },
        "scheduleInfo": { "startDateTime": created.to_rfc3339(), "expiration": expiration },
        "ticketInfo": ticket.map(|(system, number)| json!({ "ticketSystem": system, "ticketNumber": number })),
    })
}

/// The contoso seed with the requests behind three of its grants: two that
/// asked for a rolling duration, one for a date; the others' requests are
/// gone, as Graph's are after 45 days.
fn contoso_with_requests() -> pim::emulator::Tenant {
    // Without applications: the emulator takes any client and secret.
    let mut seed = pim::emulator::Tenant::from_file("examples/contoso/tenant.json").unwrap();
    let paris = seed
        .administrative_units
        .iter()
        .find(|a| a.display_name == "Paris Office")
        .map(|a| format!("/administrativeUnits/{}", a.id))
        .unwrap();
    let eligible = vec![
        request(
            &seed,
            "5c180109-0c04-52ac-8aa5-d22f0cea031a",
            "ivan@contoso.com",
            "User Administrator",
            &paris,
            30,
            json!({ "type": "afterDuration", "duration": "P90D" }),
            "Paris office user administration (ivan)",
            Some(("ServiceNow", "INC0042")),
        ),
        request(
            &seed,
            "859f5867-ffb0-5559-8247-034529131777",
            "carol@contoso.com",
            "Security Administrator",
            "/",
            40,
            json!({ "type": "afterDateTime", "endDateTime": "2027-06-30T00:00:00Z" }),
            "Security \"engineering\"\nsecond line",
            None,
        ),
    ];
    let active = vec![request(
        &seed,
        "a30c526e-0b7a-51b1-83a4-5b48e947d665",
        "pim-automation",
        "User Administrator",
        "/",
        10,
        json!({ "type": "afterDuration", "duration": "P180D" }),
        "Joiner/mover/leaver automation",
        None,
    )];
    seed.eligibility_requests = eligible;
    seed.assignment_requests = active;
    seed
}

#[test]
fn exported_files_of_the_contoso_tenant() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = rt.block_on(async {
        let emu = pim::emulator::Emulator::start(pim::emulator::EmulatorConfig {
            seed: Some(contoso_with_requests()),
            clock: pim::emulator::EmulatorClock::fixed(at(NOW)),
            ..pim::emulator::EmulatorConfig::default()
        })
        .await
        .unwrap();
        let graph =
            pim::graph::HttpGraph::new(graph_common::settings(&emu, graph_common::SECRET)).unwrap();
        let current = pim::export::read(&graph, at(NOW), &pim::export::AzureInterest::default())
            .await
            .unwrap();
        let before = graph.stats().requests();
        let requests: Requests = pim::export::read_requests(&graph, &current).await.unwrap();
        // The directory's requests, and those of the one group with grants.
        assert_eq!(
            graph.stats().requests() - before,
            4,
            "one listing per kind and governed group, not one lookup per grant ({} grants)",
            current.grants.len()
        );
        assert_eq!(requests.len(), 3);
        let tenant = pim::config::TenantSettings {
            id: Some("contoso.onmicrosoft.com".into()),
            emulator: Some(PathBuf::from("/somewhere/else/tenant.json")),
            ..pim::config::TenantSettings::default()
        };
        let opts = ExportOptions {
            tenant_block: pim::export::tenant_block(&tenant),
            now: at(NOW),
            ..ExportOptions::default()
        };
        let out = pim::export::export(
            &current,
            &requests,
            &Default::default(),
            &pim::graph::default_rule_set(),
            &opts,
        )
        .unwrap();
        let rolling = pim::export::export(
            &current,
            &requests,
            &Default::default(),
            &pim::graph::default_rule_set(),
            &ExportOptions {
                durations: true,
                ..opts.clone()
            },
        )
        .unwrap();
        emu.stop().await;
        (out, rolling)
    });
    let (out, rolling) = files;
    let mut all = String::new();
    for (name, text) in &out.files {
        all.push_str(&format!("=== {name}\n{text}\n"));
    }
    all.push_str("=== pim.state.json (address: declared, end)\n");
    for r in &out.state.resources {
        all.push_str(&format!(
            "{}: {}, {}\n",
            r.address, r.attributes["duration"], r.attributes["end"]
        ));
    }
    insta::assert_snapshot!(all);

    // With --durations every time-bound grant rolls: its length in days.
    let ends: Vec<String> = rolling
        .state
        .resources
        .iter()
        .map(|r| format!("{}: {}", r.address, r.attributes["duration"]))
        .collect();
    insta::assert_snapshot!(
        "exported_files_of_the_contoso_tenant_with_durations",
        ends.join("\n")
    );
}
