//! `pim check`, online against the embedded emulator and `--offline`
//! without any tenant: what each reports and how it exits.

use std::path::{Path, PathBuf};

use crate::support::cli_common::{self, pim, text};

/// Sign-in that cannot work: no credential in the environment, and Graph
/// and Entra ID on a port nothing listens on.
const NO_TENANT: [(&str, &str); 3] = [
    ("PIM_GRAPH_URL", "https://127.0.0.1:9"),
    ("AZURE_AUTHORITY_HOST", "https://127.0.0.1:9"),
    ("PIM_RETRY_DEADLINE", "1"),
];

fn no_credentials(c: &mut std::process::Command) -> &mut std::process::Command {
    for v in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
        "AZURE_STORAGE_KEY",
        "ARM_ACCESS_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
    ] {
        c.env_remove(v);
    }
    c
}

fn copy_of(fixture: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pim-cli-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixture).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    no_credentials(&mut pim(dir, args, &NO_TENANT))
        .output()
        .unwrap()
}

#[test]
fn offline_needs_no_tenant_and_names_what_it_skipped() {
    let dir = copy_of("tests/fixtures/check/noncompliant", "noncompliant");

    // Without --offline the same command needs the tenant, and fails here.
    let online = run(&dir, &["check", "--auth", "client-secret"]);
    assert_eq!(online.status.code(), Some(1), "{}", text(&online));

    let out = run(&dir, &["check", "--offline", "--auth", "client-secret"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let main = dir.join("main.pim.hcl");
    assert_eq!(
        lines[0],
        format!(
            "warning: {}:4:19: PIM001 user:ops@contoso.com is permanently assigned tier-0 role \"Global Administrator\"; make it eligible, or list it as protected if it is a break-glass account",
            main.display()
        )
    );
    assert!(
        lines[1].contains(" PIM005 user:bob@contoso.com is eligible"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("warning: PIM007 6 principals hold Global Administrator"),
        "{stdout}"
    );
    assert_eq!(
        &lines[3..],
        [
            "",
            "3 findings.",
            "Skipped offline (they read the tenant's policies): PIM002, PIM003, PIM004, PIM006, PIM008.",
            "Run on the declared grants only (holders outside the configuration are not read offline): PIM001, PIM007.",
        ]
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty(),
        "nothing was tried: {}",
        text(&out)
    );

    let strict = run(&dir, &["check", "--offline", "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "findings with --strict");
    assert!(String::from_utf8_lossy(&strict.stdout).starts_with("error: "));

    let json = run(&dir, &["check", "--offline", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["offline"], true);
    let codes = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes("findings"), ["PIM001", "PIM005", "PIM007"]);
    assert_eq!(
        codes("skipped"),
        ["PIM002", "PIM003", "PIM004", "PIM006", "PIM008"]
    );
    assert_eq!(codes("partial"), ["PIM001", "PIM007"]);
    assert_eq!(v["skipped"][0]["reads"], "policies");
    assert_eq!(v["partial"][0]["reads"], "holders");
    assert_eq!(v["findings"][1]["location"]["line"], 11, "{v:#}");
    assert_eq!(v["findings"][1]["location"]["column"], 15, "{v:#}");
    cli_common::assert_schema("check.schema.json", &v);
}

#[test]
fn offline_starts_no_emulator_and_reads_no_state() {
    // The contoso example plans against an embedded emulator seeded from
    // tenant.json: without that file it cannot start, and offline does not
    // try to.
    let dir = cli_common::contoso("check-offline", None);
    std::fs::remove_file(dir.join("tenant.json")).unwrap();
    std::fs::write(dir.join("pim.state.json"), "not a state file").unwrap();

    let online = run(&dir, &["check"]);
    assert_eq!(online.status.code(), Some(1), "{}", text(&online));

    let _ = std::fs::remove_file(dir.join("pim.state.json.lock"));
    let out = run(&dir, &["check", "--offline", "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("No findings in the checks that need only the configuration.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PIM002, PIM003, PIM004, PIM006, PIM008."),
        "{stdout}"
    );
    assert!(!dir.join(".pim-emulator.json").exists());
    assert!(
        !dir.join("pim.state.json.lock").exists(),
        "no lock was taken"
    );
}

#[test]
fn offline_fails_on_an_invalid_configuration() {
    let dir = copy_of("tests/fixtures/invalid/unknown_role", "invalid");
    for format in ["text", "json"] {
        let out = run(&dir, &["check", "--offline", "--format", format]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error: unknown role"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "no report for a configuration that does not load"
        );
    }
    // --offline is a flag of check alone.
    let out = cli_common::pim_args(&["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn findings_are_coloured_on_request_and_written_as_markdown() {
    let dir = copy_of("tests/fixtures/check/noncompliant", "colour");
    let out = run(&dir, &["check", "--offline", "--color", "always"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("\x1b[1;33mwarning\x1b[0m: "),
        "{stdout:?}"
    );
    assert!(stdout.contains("\x1b[1mPIM005\x1b[0m"), "{stdout:?}");
    let strict = run(
        &dir,
        &["check", "--offline", "--strict", "--color", "always"],
    );
    assert!(String::from_utf8_lossy(&strict.stdout).starts_with("\x1b[1;31merror\x1b[0m: "));

    let md = run(&dir, &["check", "--offline", "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md));
    let md = String::from_utf8_lossy(&md.stdout).replace(dir.to_str().unwrap(), "DIR");
    assert!(!md.contains("\x1b["));
    insta::assert_snapshot!("cli_check_offline_markdown", md);
    // A table a CommonMark reader takes for one: a header and a row per finding.
    let rows = md.lines().filter(|l| l.starts_with("| ⚠️ | PIM")).count();
    assert_eq!(rows, 3, "{md}");
}
