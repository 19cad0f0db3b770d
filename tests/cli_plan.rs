//! `pim plan` end to end: the bundled example against its embedded
//! emulator, through the real client (TLS, azure_identity, paging), as the
//! README's first command runs it.

use crate::support::cli_common;

use std::process::Command;

use clap::CommandFactory as _;

fn pim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .output()
        .unwrap()
}

#[test]
fn plans_the_contoso_example_against_the_embedded_emulator() {
    let out = pim(&["plan", "-C", "examples/contoso"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "~ policy[\"Global Administrator\"] {",
        "+ eligibility.bob_ga {",
        "= eligibility.alice_ga {",
        "- role[\"Global Administrator\"][\"eligible user:mallory@contoso.com\"] {",
        "# and renewed: it ends within the renewal window",
        "# and its schedule will be updated to match the configuration",
        "Unmanaged grants",
        "~ policy[\"group:Tier0 Admins\"][\"member\"] {",
        "= eligibility.tier0_admins[\"user:alice@contoso.com\"] {",
        "+ assignment.tier0_admins_owner {",
        "- role[\"group:Tier0 Admins\"][\"member eligible user:mallory@contoso.com\"] {",
        "Plan: 16 to create, 11 to adopt (2 also updated, 2 also renewed), 0 to update, 0 to renew, 4 to remove, 6 policies to update.",
        "+ eligibility.alice_contributor_payments {",
        "= eligibility.bob_owner_production {",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("breakglass1@contoso.com\"][")
            && !stdout.contains("- assignment.breakglass_ga"),
        "the protected account is never removed"
    );

    let out = pim(&[
        "plan",
        "-C",
        "examples/contoso",
        "--detailed-exitcode",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "changes give exit 2 with --detailed-exitcode"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/plan.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(v["summary"]["remove"], 4);
    assert!(
        v["basis"]["snapshot_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let out = pim(&["plan", "-C", "examples/contoso", "--format", "markdown"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.starts_with("### pim plan\n\n**Plan: 16 to create"),
        "{md}"
    );
}

#[test]
fn plan_errors_name_the_config_line_and_exit_1() {
    let dir = std::env::temp_dir().join(format!("pim-cli-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::fs::canonicalize("examples/contoso/tenant.json").unwrap();
    std::fs::write(
        dir.join("main.pim.hcl"),
        format!(
            "tenant {{\n  emulator = \"{}\"\n}}\n\neligibility \"ghost\" {{\n  principal = \"user:ghost@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"P30D\"\n}}\n",
            seed.display()
        ),
    )
    .unwrap();
    let out = pim(&["plan", "-C", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("main.pim.hcl:6:15: error:"), "{stderr}");
    assert!(stderr.contains("ghost@contoso.com"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn drift_and_check_on_the_example() {
    let out = pim(&["drift", "-C", "examples/contoso", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/drift.schema.json").unwrap())
            .unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&v)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let ga = &v["roles"]["Global Administrator"]["findings"];
    assert_eq!(ga.as_array().unwrap().len(), 2, "{v:#}");
    assert!(
        ga.as_array()
            .unwrap()
            .iter()
            .all(|a| a["will_be_removed"] == true
                && a["new"] == true
                && a["type"] == "holder_added")
    );

    let out = pim(&["check", "-C", "examples/contoso", "--strict"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the example meets the baseline: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No findings: the configuration meets the baseline.\n"
    );
}

/// Every command and subcommand, as typed: `["state", "rm"]`.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

#[test]
fn usage_errors_exit_1_on_every_command() {
    let mut paths = Vec::new();
    command_paths(&pim::cli::Cli::command(), &[], &mut paths);
    let names: Vec<String> = paths.iter().map(|p| p.join(" ")).collect();
    assert_eq!(
        names,
        [
            "validate",
            "fmt",
            "plan",
            "apply",
            "drift",
            "check",
            "state",
            "state list",
            "state show",
            "state rm",
            "state unlock",
            "import",
            "export",
            "show",
            "activate",
            "deactivate",
            "extend",
            "renew",
            "my",
            "my roles",
            "requests",
            "requests cancel",
            "requests show",
            "approvals",
            "approve",
            "deny",
            "emulator",
        ],
        "a command was added: this test covers it by itself, the list only says so"
    );
    // 2 means changes, drift or refused: a mistyped flag must not look like one.
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--no-such-flag");
        let out = cli_common::pim_args(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "pim {}: {stderr}",
            args.join(" ")
        );
        assert!(
            stderr.contains("'--no-such-flag'"),
            "pim {}: {stderr}",
            args.join(" ")
        );
        assert!(out.stdout.is_empty(), "pim {}", args.join(" "));
    }
}

#[test]
fn bad_values_and_unknown_commands_exit_1() {
    for args in [
        &[
            "plan",
            "--auth",
            "workload-identiy",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ][..],
        &["drift", "--auth", "workload-identiy"],
        &["activate", "Global Reader", "--auth", "workload-identiy"],
    ] {
        let out = cli_common::pim_args(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "pim {}: {stderr}",
            args.join(" ")
        );
        assert!(stderr.contains("workload-identiy"), "{stderr}");
        assert!(stderr.contains("--auth"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing for plan.md: {:?}",
            out.stdout
        );
    }
    for (args, named) in [
        (&["plna"][..], "'plna'"),
        (&["state", "lst"], "'lst'"),
        (&["plan", "--format", "yaml"], "'yaml'"),
        (&["plan", "--parallelism", "0"], "--parallelism"),
        (&["import"], "<ADDRESS>"),
        (&[], "Usage:"),
    ] {
        let out = cli_common::pim_args(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "pim {}: {stderr}",
            args.join(" ")
        );
        assert!(stderr.contains(named), "pim {}: {stderr}", args.join(" "));
    }
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    for args in [
        &["--help"][..],
        &["plan", "--help"],
        &["state", "rm", "-h"],
        &["help", "apply"],
    ] {
        let out = cli_common::pim_args(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "pim {}", args.join(" "));
        assert!(stdout.contains("Usage: pim"), "{stdout}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cli_common::pim_args(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("pim {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Runs `pim` with stdout (or stderr) a pipe whose reader is already gone,
/// as `pim plan | head -1` leaves it once head has its line.
fn pim_with_closed(stream: &str, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = Command::new(env!("CARGO_BIN_EXE_pim"));
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .stdin(std::process::Stdio::null());
    match stream {
        "stdout" => c.stdout(writer).stderr(std::process::Stdio::piped()),
        _ => c.stderr(writer).stdout(std::process::Stdio::piped()),
    };
    c.output().unwrap()
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_with_141() {
    for args in [
        &["validate", "-C", "examples/minimal"][..],
        &["plan", "-C", "examples/contoso"],
        &["plan", "-C", "examples/contoso", "--format", "markdown"],
        &["drift", "-C", "examples/contoso"],
    ] {
        let out = pim_with_closed("stdout", args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("error"),
            "{args:?}: quiet, not an error: {stderr}"
        );
    }
}

#[test]
fn a_closed_stderr_never_panics() {
    // Diagnostics go to stderr; with nowhere to write them, the status still says.
    let out = pim_with_closed(
        "stderr",
        &["validate", "-C", "tests/fixtures/invalid/unknown_role"],
    );
    assert_eq!(out.status.code(), Some(1));
    let out = pim_with_closed("stderr", &["validate", "-C", "examples/minimal"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Valid: 1 eligibility, 0 assignments, 0 policies, 0 role blocks.\n"
    );
}

/// A schedule that has ended is no longer held, though Graph lists it for a
/// while: the example with Erin's helpdesk eligibility ended yesterday and a
/// Global Administrator eligibility (an exclusive role) that ended too.
#[test]
fn ended_schedules_are_not_held() {
    let dir = cli_common::contoso("ended", None);
    let path = dir.join("tenant.json");
    let mut seed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let eligible = seed["eligibilitySchedules"].as_array_mut().unwrap();
    let erin = eligible
        .iter_mut()
        .find(|s| s["principal"] == "user:erin@contoso.com")
        .unwrap();
    erin["end"] = "-P1D".into();
    eligible.push(serde_json::json!({
        "principal": "user:beatrice.jensen@contoso.com",
        "role": "Global Administrator",
        "start": "-P10D",
        "end": "-PT1H",
    }));
    std::fs::write(&path, serde_json::to_vec_pretty(&seed).unwrap()).unwrap();
    let run = |args: &[&str]| cli_common::pim(&dir, args, &[]).output().unwrap();

    let plan = run(&["plan", "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", cli_common::text(&plan));
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(!text.contains("beatrice.jensen"), "not a holder: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let action = |address: &str| {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .map(|c| c["action"].as_str().unwrap().to_string())
    };
    assert_eq!(
        action("eligibility.helpdesk[\"user:erin@contoso.com\"]").as_deref(),
        Some("create"),
        "an ended grant is made again, not adopted or renewed"
    );

    let apply = run(&["apply", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", cli_common::text(&apply));
    let again = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", cli_common::text(&again));
    // Drift still lists the example's unmanaged holders; not the ended one.
    let drift = run(&["drift", "--format", "json"]);
    assert_ne!(drift.status.code(), Some(1), "{}", cli_common::text(&drift));
    let report: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    assert!(report["roles"].is_object(), "{report}");
    assert!(!cli_common::text(&drift).contains("beatrice.jensen"));
}

/// `pim` with the colour variables as given and no others.
fn pim_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pim"));
    c.args(args).env_remove("PIM_GRAPH_URL");
    for v in ["NO_COLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "CLICOLOR"] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

const ESC: &str = "\x1b[";

#[test]
fn colour_follows_the_flag_then_the_environment() {
    let plan = ["plan", "-C", "examples/contoso"];
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    // Into a pipe: plain, unless forced.
    assert!(!stdout(&pim_env(&plan, &[])).contains(ESC));
    let forced = stdout(&pim_env(&plan, &[("CLICOLOR_FORCE", "1")]));
    assert!(
        forced.contains("\x1b[32m+\x1b[0m eligibility.bob_ga {"),
        "{forced}"
    );
    assert!(stdout(&pim_env(&plan, &[("FORCE_COLOR", "1")])).contains(ESC));
    // NO_COLOR wins over the forcing variables; the flag over both.
    assert!(
        !stdout(&pim_env(
            &plan,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
        ))
        .contains(ESC)
    );
    let always = [&plan[..], &["--color", "always"]].concat();
    assert!(stdout(&pim_env(&always, &[("NO_COLOR", "1")])).contains(ESC));
    let never = [&plan[..], &["--color=never"]].concat();
    assert!(!stdout(&pim_env(&never, &[("CLICOLOR_FORCE", "1")])).contains(ESC));
    // The flag goes anywhere on the line, as a global flag.
    let before = pim_env(
        &["--color", "always", "plan", "-C", "examples/contoso"],
        &[],
    );
    assert!(stdout(&before).contains(ESC));
    let bad = pim_env(&["plan", "--color", "sometimes"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("[possible values: auto, always, never]")
    );
}

#[test]
fn errors_and_warnings_are_coloured_like_the_plan() {
    let dir = std::env::temp_dir().join(format!("pim-cli-colour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.pim.hcl"),
        "eligibility \"x\" {\n  principal = \"user:a@contoso.com\"\n  role      = \"Global Reader\"\n  duraton   = \"P30D\"\n}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = pim_env(&["validate", "-C", d, "--color", "always"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("\x1b[1;31merror\x1b[0m: "), "{stderr:?}");
    assert!(stderr.contains("\x1b[1;36m= hint:\x1b[0m"), "{stderr:?}");
    // Without colour, the same words and nothing else.
    let plain = pim_env(&["validate", "-C", d], &[]);
    let plain = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.contains(ESC));
    assert!(plain.contains("main.pim.hcl:4:3: error: "), "{plain}");
    // The errors pim itself reports at the end of a run.
    let out = pim_env(
        &["plan", "-C", "/nonexistent/pim", "--color", "always"],
        &[],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("\x1b[1;31merror\x1b[0m: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_apply_reports_its_steps_and_outcome_in_colour_when_asked() {
    let dir = cli_common::contoso("colour-apply", None);
    let d = dir.to_str().unwrap();
    let out = pim_env(
        &["apply", "-C", d, "--auto-approve", "--color", "always"],
        &[],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Apply \x1b[32mcomplete\x1b[0m: "),
        "{stdout:?}"
    );
    assert!(
        stderr.contains(": create \x1b[32mdone\x1b[0m ("),
        "{stderr:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
