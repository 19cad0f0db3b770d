//! The configuration loader end to end: valid configurations load into the
//! expected `Desired`, and every bad-input fixture is reported with its
//! file, line and column (snapshots of what the user reads), never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use pim::config::{self, Desired, LoadOptions, StateSettings};
use pim::model::{AssignmentKind, Expiration, IsoDuration, PrincipalRef, RoleRef, Scope};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

fn opts() -> LoadOptions {
    LoadOptions::at(now())
}

fn load_ok(dir: &str, opts: &LoadOptions) -> Desired {
    match config::load(Path::new(dir), opts) {
        Ok(d) => d,
        Err(e) => panic!("{dir} should load:\n{}", e.diagnostics()),
    }
}

#[test]
fn minimal_example_is_valid() {
    let d = load_ok("examples/minimal", &opts());
    assert_eq!(
        d.summary(),
        "1 eligibility, 0 assignments, 0 policies, 0 role blocks"
    );
    let e = &d.eligibilities[0];
    assert_eq!(e.address.to_string(), "eligibility.alice_user_admin");
    assert_eq!(e.item.role, RoleRef::Name("User Administrator".into()));
    assert_eq!(
        e.item.schedule.expiration,
        Expiration::After(IsoDuration::days(180))
    );
    assert_eq!(
        e.origin.block.to_string(),
        "examples/minimal/main.pim.hcl:6:1"
    );
    assert_eq!(
        e.origin.attribute("role").to_string(),
        "examples/minimal/main.pim.hcl:8:19"
    );
    assert!(matches!(&d.state, StateSettings::Local { path } if path.ends_with("pim.state.json")));
}

#[test]
fn full_language_evaluates() {
    let mut o = opts();
    o.var_files
        .push(PathBuf::from("tests/fixtures/valid/full/vars.hcl"));
    o.env.push(("PIM_VAR_domain".into(), "example.org".into()));
    o.vars.push(("domain".into(), "contoso.com".into()));
    let d = load_ok("tests/fixtures/valid/full", &o);
    assert_eq!(
        d.summary(),
        "5 eligibilities, 2 assignments, 1 policy, 2 role blocks"
    );

    let addrs: Vec<String> = d
        .eligibilities
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    assert_eq!(
        addrs,
        [
            "eligibility.alice_ga",
            "eligibility.helpdesk[\"user:bob@contoso.com\"]",
            "eligibility.helpdesk[\"user:carol@contoso.com\"]",
            "eligibility.owners[\"erin\"]",
            "eligibility.owners[\"dave\"]",
        ]
    );
    let ga = &d.eligibilities[0].item;
    // --var wins over PIM_VAR_ and the variable's (missing) default.
    assert_eq!(ga.principal, PrincipalRef::User("alice@contoso.com".into()));
    assert_eq!(ga.role, RoleRef::Name("Global Administrator".into()));
    assert_eq!(
        ga.schedule.expiration,
        Expiration::After("P180D".parse().unwrap())
    );
    assert_eq!(
        ga.schedule.start,
        Some(Utc.with_ymd_and_hms(2026, 12, 15, 0, 0, 0).unwrap())
    );
    assert_eq!(
        ga.ticket
            .as_ref()
            .map(|t| (t.system.as_deref(), t.number.as_str())),
        Some((Some("ServiceNow"), "CHG0012345"))
    );
    let hd = &d.eligibilities[1].item;
    assert_eq!(
        hd.role,
        RoleRef::Name("Helpdesk Administrator".into()),
        "names resolve without regard to case"
    );
    assert_eq!(hd.scope, Scope::AdministrativeUnit("Paris Office".into()));
    assert_eq!(
        d.eligibilities[4].item.role,
        RoleRef::Name("Security Administrator".into())
    );

    let bg = &d.assignments[0].item;
    assert_eq!(bg.kind, AssignmentKind::Active);
    assert_eq!(
        bg.role,
        RoleRef::Name("Global Administrator".into()),
        "a template id resolves to the built-in role"
    );
    assert!(bg.schedule.expiration.is_permanent());
    assert_eq!(
        d.assignments[1].item.role,
        RoleRef::Name("Contoso Deployment Operator".into())
    );

    let p = &d.policies[0];
    assert_eq!(p.address.to_string(), "policy[\"Global Administrator\"]");
    let a = &p.item.rules.activation;
    assert_eq!(a.max_duration, Some(IsoDuration::hours(4)));
    assert_eq!(a.require_ticket, Some(false));
    let approval = a.approval.as_ref().unwrap();
    assert!(approval.required);
    assert_eq!(
        approval.approvers,
        vec![PrincipalRef::Group("PIM Approvers".into())]
    );
    assert_eq!(p.item.rules.eligibility.allow_permanent, Some(false));
    assert_eq!(
        p.item.rules.active_assignment.max_duration, None,
        "unset settings stay unmanaged"
    );
    assert_eq!(p.item.rules.notifications.len(), 1);

    let roles: Vec<String> = d.roles.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(
        roles,
        [
            "role[\"Global Administrator\"]",
            "role[\"Contoso Deployment Operator\"]"
        ]
    );
    assert!(d.roles[0].item.exclusive);
    assert!(d.roles[1].item.custom);
    assert_eq!(
        d.state,
        StateSettings::AzureRm {
            account: "contosopimstate".into(),
            container: "pim".into(),
            blob: "prod.json".into(),
            endpoint: Some("https://contosopimstate.blob.core.usgovcloudapi.net".into()),
        }
    );
    assert_eq!(d.tenant.renew_within, Some(IsoDuration::days(14)));
    assert_eq!(
        d.tenant.tier0_roles,
        Some(vec![
            RoleRef::Name("Global Administrator".into()),
            RoleRef::Name("Contoso Deployment Operator".into())
        ])
    );
}

#[test]
fn the_state_endpoint_is_a_url_and_only_for_azurerm() {
    let load = |state: &str| {
        config::load_sources(
            Path::new("."),
            vec![(
                PathBuf::from("main.pim.hcl"),
                format!("state {{\n{state}\n}}\n"),
            )],
            &opts(),
        )
    };
    let err = load("backend = \"azurerm\"\naccount = \"acct\"\ncontainer = \"pim\"\nendpoint = \"acct.blob.core.chinacloudapi.cn\"")
        .unwrap_err()
        .diagnostics()
        .to_string();
    assert!(err.contains("main.pim.hcl:5:12"), "{err}");
    assert!(err.contains("\"endpoint\" must be a URL"), "{err}");
    let err = load("backend = \"local\"\nendpoint = \"http://127.0.0.1:10000/devstoreaccount1\"")
        .unwrap_err()
        .diagnostics()
        .to_string();
    assert!(
        err.contains("\"endpoint\" does not apply to the local backend"),
        "{err}"
    );
}

#[test]
fn variables_without_value_and_undeclared_overrides_are_errors() {
    let mut o = opts();
    o.vars.push(("domian".into(), "contoso.com".into()));
    let e = config::load(Path::new("tests/fixtures/valid/full"), &o).unwrap_err();
    let text = e.diagnostics().to_string();
    assert!(
        text.contains("--var domian sets variable \"domian\", which is not declared"),
        "{text}"
    );
    assert!(text.contains("did you mean \"domain\"?"), "{text}");
    assert!(
        text.contains(
            "tests/fixtures/valid/full/main.pim.hcl:24:10: error: variable \"domain\" has no value"
        ),
        "{text}"
    );
}

fn invalid_fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_bad_input_is_reported_with_its_position() {
    let dirs = invalid_fixtures();
    assert!(dirs.len() >= 18);
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let err = match config::load(&dir, &opts()) {
            Ok(_) => panic!("{name} should not load"),
            Err(e) => e,
        };
        let diags = err.diagnostics();
        assert!(diags.has_errors(), "{name}");
        for d in diags.errors() {
            let loc = d
                .location()
                .unwrap_or_else(|| panic!("{name}: no position in {d}"));
            assert!(loc.file.starts_with(&dir), "{name}: {loc}");
            assert!(
                d.to_string().starts_with(&format!("{loc}: error: ")),
                "{name}: {d}"
            );
        }
        insta::assert_snapshot!(name, diags.to_string());
    }
}

#[test]
fn the_cli_exits_1_on_bad_input_and_never_panics() {
    for dir in invalid_fixtures() {
        let out = Command::new(env!("CARGO_BIN_EXE_pim"))
            .args(["validate", "-C"])
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", dir.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(": error: "), "{stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(["validate", "-C", "examples/minimal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Valid: 1 eligibility, 0 assignments, 0 policies, 0 role blocks.\n"
    );
}

#[test]
fn examples_are_formatted() {
    for dir in ["examples/minimal", "tests/fixtures/valid/full"] {
        let changed = config::fmt::format_dir(Path::new(dir), false).unwrap();
        assert!(changed.is_empty(), "pim fmt would change {changed:?}");
    }
}

#[test]
fn fmt_check_exits_3_and_fmt_fixes() {
    let dir = std::env::temp_dir().join(format!("pim-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("main.pim.hcl");
    std::fs::write(&file, "eligibility \"a\" {\nprincipal=\"user:a@contoso.com\"\n  role = \"Global Reader\"\n    duration=\"P1D\"\n}\n").unwrap();
    let pim = || Command::new(env!("CARGO_BIN_EXE_pim"));
    let out = pim()
        .args(["fmt", "--check", "-C"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("main.pim.hcl"));
    let out = pim().args(["fmt", "-C"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "eligibility \"a\" {\n  principal = \"user:a@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"P1D\"\n}\n"
    );
    let out = pim()
        .args(["fmt", "--check", "-C"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_passed_expiry_is_a_warning_not_an_error() {
    // The day an `expires` passes must not break the repository: the grant
    // simply ended. Only the planner, which knows the tenant, refuses to
    // create one.
    let d = load_ok("tests/fixtures/valid/expires_passed", &opts());
    let warnings: Vec<String> = d.warnings.warnings().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    insta::assert_snapshot!(warnings[0]);
    assert_eq!(
        d.eligibilities[0].item.schedule.expiration,
        Expiration::At(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap())
    );
}

#[test]
fn a_justification_longer_than_pim_sends_is_an_error_at_its_line() {
    let long = "x".repeat(pim::model::MAX_JUSTIFICATION_CHARS + 1);
    let files = vec![(
        PathBuf::from("long.pim.hcl"),
        format!(
            "eligibility \"a\" {{\n  principal     = \"user:a@contoso.com\"\n  role          = \"Global Reader\"\n  duration      = \"P30D\"\n  justification = \"{long}\"\n}}\n"
        ),
    )];
    let err = config::load_sources(Path::new("."), files, &opts()).unwrap_err();
    let text = err.diagnostics().to_string();
    assert!(
        text.starts_with(
            "long.pim.hcl:5:19: error: justification is 501 characters long; pim sends at most 500"
        ),
        "{text}"
    );
}

#[test]
fn many_duplicate_grants_are_each_reported_in_linear_time() {
    // Every block declares the same grant: each is a duplicate of the first.
    // The check is linear by construction (one hash lookup per grant, and
    // each position looked up by line); this only shows it completes.
    const N: usize = 20_000;
    let mut text = String::with_capacity(N * 120);
    for i in 0..N {
        text.push_str(&format!(
            "eligibility \"a{i}\" {{\n  principal = \"user:alice@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"P90D\"\n}}\n"
        ));
    }
    let files = vec![(PathBuf::from("dup.pim.hcl"), text)];
    let started = std::time::Instant::now();
    let err = config::load_sources(Path::new("."), files, &opts()).unwrap_err();
    eprintln!("{N} duplicate grants checked in {:?}", started.elapsed());
    let errors: Vec<String> = err
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), N - 1);
    assert!(
        errors[0].starts_with(
            "dup.pim.hcl:7:15: error: user:alice@contoso.com is eligible for \"Global Reader\" at / twice: by eligibility.a0 and eligibility.a1"
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[N - 2].contains(&format!("by eligibility.a0 and eligibility.a{}", N - 1)),
        "{}",
        errors[N - 2]
    );
}

/// An empty directory of its own under the system's temporary directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `pim` with these arguments, killed and failed if it has not finished
/// within a minute: a FIFO that is opened blocks forever.
fn pim_within_a_minute(args: &[&std::ffi::OsStr]) -> std::process::Output {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("pim {args:?} hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const ONE_GRANT: &str = "eligibility \"a\" {\n  principal = \"user:alice@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"P90D\"\n}\n";

#[cfg(unix)]
#[test]
fn entries_that_are_not_regular_files_are_errors_at_their_path() {
    use std::os::unix::fs::symlink;
    let dir = fresh_dir("not-files");
    std::fs::write(dir.join("real.hcl"), ONE_GRANT).unwrap();
    symlink("real.hcl", dir.join("linked.pim.hcl")).unwrap();
    symlink("missing.hcl", dir.join("dangling.pim.hcl")).unwrap();
    symlink("loop.pim.hcl", dir.join("loop.pim.hcl")).unwrap();
    std::fs::create_dir(dir.join("dir.pim.hcl")).unwrap();
    mkfifo(&dir.join("fifo.pim.hcl"));
    symlink("/dev/zero", dir.join("zero.pim.hcl")).unwrap();

    let err = config::load(&dir, &opts()).unwrap_err();
    let text = err
        .diagnostics()
        .to_string()
        .replace(dir.to_str().unwrap(), "<dir>");
    assert!(
        !text.contains("linked.pim.hcl"),
        "a link to a file is read: {text}"
    );
    insta::assert_snapshot!(text);

    // What users ran into: validate said "Valid", or hung on the FIFO.
    let out = pim_within_a_minute(&["validate".as_ref(), "-C".as_ref(), dir.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("fifo.pim.hcl: it is a FIFO, not a regular file"),
        "{stderr}"
    );
    assert!(stderr.contains("5 errors in"), "{stderr}");
    let out = pim_within_a_minute(&[
        "fmt".as_ref(),
        "--check".as_ref(),
        "-C".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "fmt reads the same way");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_to_a_regular_file_is_followed() {
    let dir = fresh_dir("linked");
    std::fs::write(dir.join("shared.hcl"), ONE_GRANT).unwrap();
    std::os::unix::fs::symlink("shared.hcl", dir.join("main.pim.hcl")).unwrap();
    let d = load_ok(dir.to_str().unwrap(), &opts());
    assert_eq!(d.eligibilities.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_var_file_that_is_not_a_regular_file_is_an_error_not_a_hang() {
    let dir = fresh_dir("var-fifo");
    let fifo = dir.join("vars.hcl");
    mkfifo(&fifo);
    let mut o = opts();
    o.var_files.push(fifo.clone());
    let err = config::load(Path::new("examples/minimal"), &o).unwrap_err();
    let text = err.diagnostics().to_string();
    assert!(
        text.starts_with(&format!(
            "error: cannot read var file {}: it is a FIFO, not a regular file\n  = hint: ",
            fifo.display()
        )),
        "{text}"
    );

    let out = pim_within_a_minute(&[
        "validate".as_ref(),
        "-C".as_ref(),
        "examples/minimal".as_ref(),
        "--var-file".as_ref(),
        fifo.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
