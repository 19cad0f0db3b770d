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
    for dir in [
        "examples/minimal",
        "tests/fixtures/valid/full",
        "tests/fixtures/valid/typed",
    ] {
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

fn load_text(text: &str, o: &LoadOptions) -> Result<Desired, String> {
    config::load_sources(
        Path::new("."),
        vec![(PathBuf::from("vars.pim.hcl"), text.to_string())],
        o,
    )
    .map_err(|e| e.diagnostics().to_string())
}

/// The error messages (first lines) of loading `text`.
fn first_lines(text: &str, o: &LoadOptions) -> Vec<String> {
    let err = load_text(text, o).expect_err("should not load");
    err.split("\n\n")
        .map(|d| d.lines().next().unwrap_or_default().to_string())
        .collect()
}

const TYPED: &str = r#"
variable "upns" {
  type    = set(string)
  default = ["bob", "alice", "bob"]
}

variable "days" {
  type = number
}

variable "forever" {
  type    = bool
  default = false
}

variable "owner" {
  type = object({
    upn  = string
    role = optional(string, "Global Reader")
  })
  default = { upn = "carol", extra = true }
}

variable "roles" {
  type    = map(string)
  default = { dave = "Security Reader" }
}

variable "pair" {
  type    = tuple([string, number])
  default = ["Reports Reader", 7]
}

variable "suffix" {
  type    = string
  default = 365
}

variable "anything" {
  type    = any
  default = { nested = [1, "a"] }
}

eligibility "people" {
  for_each  = var.upns
  principal = "user:${each.value}@contoso.com"
  role      = "Global Reader"
  duration  = "P${var.days}D"
}

eligibility "owner" {
  principal = "user:${var.owner.upn}@contoso.com"
  role      = var.owner.role
  duration  = "P${var.suffix}D"
}

eligibility "mapped" {
  for_each  = var.roles
  principal = "user:${each.key}@contoso.com"
  role      = each.value
  duration  = "P${var.pair[1]}D"
}

assignment "pair" {
  principal = "user:erin@contoso.com"
  role      = var.pair[0]
  permanent = var.forever
}
"#;

#[test]
fn typed_variables_convert_their_values_as_terraform_does() {
    let mut o = opts();
    // A flag's text is converted to the type: "30" to a number, "true" to a bool.
    o.vars.push(("days".into(), "30".into()));
    o.env.push(("PIM_VAR_forever".into(), "true".into()));
    let d = load_text(TYPED, &o).unwrap_or_else(|e| panic!("{e}"));
    let addrs: Vec<String> = d
        .eligibilities
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    assert_eq!(
        addrs,
        [
            "eligibility.people[\"alice\"]",
            "eligibility.people[\"bob\"]",
            "eligibility.owner",
            "eligibility.mapped[\"dave\"]",
        ],
        "a list given for a set(string) is deduplicated, in lexical order"
    );
    let e = &d.eligibilities;
    assert_eq!(
        e[0].item.schedule.expiration,
        Expiration::After(IsoDuration::days(30))
    );
    assert_eq!(
        e[2].item.role,
        RoleRef::Name("Global Reader".into()),
        "an optional attribute takes its default; the extra one is dropped"
    );
    assert_eq!(
        e[2].item.schedule.expiration,
        Expiration::After(IsoDuration::days(365)),
        "a number default of a string variable is the string \"365\""
    );
    assert_eq!(e[3].item.role, RoleRef::Name("Security Reader".into()));
    assert_eq!(
        e[3].item.schedule.expiration,
        Expiration::After(IsoDuration::days(7))
    );
    let a = &d.assignments[0].item;
    assert_eq!(a.role, RoleRef::Name("Reports Reader".into()));
    assert!(
        a.schedule.expiration.is_permanent(),
        "PIM_VAR_forever=true is the bool true"
    );

    // A string variable takes a flag as written: "007" stays "007".
    let mut o = opts();
    o.vars.push(("days".into(), "30".into()));
    o.vars.push(("suffix".into(), "007".into()));
    o.vars.push(("forever".into(), "true".into()));
    let d = load_text(TYPED, &o).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        d.eligibilities[2].item.schedule.expiration,
        Expiration::After(IsoDuration::days(7))
    );
}

#[test]
fn a_value_not_of_its_type_is_an_error_at_the_value() {
    // (type, default, column of the error on the default's line, message)
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "string",
            "[\"a\"]",
            13,
            "the default does not fit variable \"v\" of type string: expected string, got a list of 1 element",
        ),
        (
            "number",
            "\"three\"",
            13,
            "the default does not fit variable \"v\" of type number: expected number, got string \"three\"",
        ),
        (
            "bool",
            "\"yes\"",
            13,
            "the default does not fit variable \"v\" of type bool: expected bool, got string \"yes\"",
        ),
        (
            "bool",
            "1",
            13,
            "the default does not fit variable \"v\" of type bool: expected bool, got number 1",
        ),
        (
            "list(string)",
            "\"a\"",
            13,
            "the default does not fit variable \"v\" of type list(string): expected list(string), got string \"a\"",
        ),
        (
            "list(number)",
            "[1, \"two\"]",
            17,
            "the default does not fit variable \"v\" of type list(number): v[1]: expected number, got string \"two\"",
        ),
        (
            "set(string)",
            "{ a = 1 }",
            13,
            "the default does not fit variable \"v\" of type set(string): expected set(string), got an object with 1 attribute",
        ),
        (
            "map(number)",
            "{ a = 1, b = \"x\" }",
            26,
            "the default does not fit variable \"v\" of type map(number): v.b: expected number, got string \"x\"",
        ),
        (
            "map(string)",
            "[\"a\"]",
            13,
            "the default does not fit variable \"v\" of type map(string): expected map(string), got a list of 1 element",
        ),
        (
            "object({ name = string, size = number })",
            "{ name = \"a\" }",
            13,
            "the default does not fit variable \"v\" of type object({name = string, size = number}): attribute \"size\" is required",
        ),
        (
            "object({ name = string })",
            "\"a\"",
            13,
            "the default does not fit variable \"v\" of type object({name = string}): expected object({name = string}), got string \"a\"",
        ),
        (
            "tuple([string, number])",
            "[\"a\", 1, 2]",
            13,
            "the default does not fit variable \"v\" of type tuple([string, number]): expected 2 elements, got 3",
        ),
        (
            "tuple([string, number])",
            "[\"a\", \"b\"]",
            19,
            "the default does not fit variable \"v\" of type tuple([string, number]): v[1]: expected number, got string \"b\"",
        ),
        (
            "list(object({ upn = string, roles = set(string) }))",
            "[{ upn = \"a\", roles = [] }, { upn = \"b\", roles = [[\"x\"]] }]",
            63,
            "the default does not fit variable \"v\" of type list(object({upn = string, roles = set(string)})): v[1].roles[0]: expected string, got a list of 1 element",
        ),
        (
            "map(object({ n = number }))",
            "{ \"a b\" = { n = true } }",
            29,
            "the default does not fit variable \"v\" of type map(object({n = number})): v[\"a b\"].n: expected number, got bool true",
        ),
    ];
    for (ty, default, col, want) in cases {
        let text = format!("variable \"v\" {{\n  type    = {ty}\n  default = {default}\n}}\n");
        assert_eq!(
            first_lines(&text, &opts()),
            [format!("vars.pim.hcl:3:{col}: error: {want}")],
            "{ty} = {default}"
        );
    }
}

#[test]
fn typed_and_validated_variables_load_validate_and_keep_their_format() {
    let d = load_ok("tests/fixtures/valid/typed", &opts());
    let addrs: Vec<String> = d
        .eligibilities
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    assert_eq!(
        addrs,
        [
            "eligibility.helpdesk[\"bob@contoso.com\"]",
            "eligibility.helpdesk[\"carol@contoso.com\"]",
            "eligibility.owner",
        ]
    );
    assert_eq!(
        d.eligibilities[2].item.role,
        RoleRef::Name("Security Reader".into())
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(["validate", "-C", "tests/fixtures/valid/typed"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Valid: 3 eligibilities, 0 assignments, 0 policies, 0 role blocks.\n"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(["validate", "-C", "tests/fixtures/valid/typed"])
        .args(["--var", "ticket=INC42"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "main.pim.hcl:23:3: error: invalid value for variable \"ticket\": A change number is CHG and digits.\n"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("INC42"),
        "a sensitive value is never shown: {stderr}"
    );
    // Formatting keeps types, validations and their alignment as they are.
    let text = std::fs::read_to_string("tests/fixtures/valid/typed/main.pim.hcl").unwrap();
    assert_eq!(config::fmt::format_source(&text).unwrap(), text);
    let messy = "variable \"v\" {\ntype=list(object({a=string}))\n    validation {\n  condition = length(var.v)>0\nerror_message=\"x\"\n}\n}\n";
    assert_eq!(
        config::fmt::format_source(messy).unwrap(),
        "variable \"v\" {\n  type = list(object({a=string}))\n  validation {\n    condition     = length(var.v)>0\n    error_message = \"x\"\n  }\n}\n"
    );
}

const TIER: &str = r#"variable "tier" {
  type = number

  validation {
    condition     = contains([0, 1, 2], var.tier)
    error_message = "The tier is 0, 1 or 2."
  }
}
"#;

#[test]
fn a_validation_checks_the_value_that_wins_and_says_where_it_came_from() {
    let with = |name: &str, value: &str| {
        let mut o = opts();
        o.vars.push((name.into(), value.into()));
        o
    };
    assert!(load_text(TIER, &with("tier", "2")).is_ok());
    assert_eq!(
        load_text(TIER, &with("tier", "7")).unwrap_err(),
        "vars.pim.hcl:4:3: error: invalid value for variable \"tier\": The tier is 0, 1 or 2.\n  |\n4 |   validation {\n  |   ^^^^^^^^^^\n  = hint: the value comes from --var tier"
    );
    let dir = fresh_dir("tier-var-file");
    let file = dir.join("prod.hcl");
    std::fs::write(&file, "tier = 5\n").unwrap();
    let mut o = opts();
    o.var_files.push(file.clone());
    let err = load_text(TIER, &o).unwrap_err();
    assert!(
        err.ends_with(&format!(
            "= hint: the value comes from var file {0} ({0}:1:8)",
            file.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const SHAPES: &str = r#"variable "days" {
  type     = number
  nullable = false
  default  = 30
}

variable "owners" {
  type = list(object({ upn = string, tier = number }))
}

variable "token" {
  type      = number
  sensitive = true
  default   = 1
}

variable "label" {
  type     = string
  nullable = false
}
"#;

#[test]
fn flags_environment_and_var_files_not_of_the_type_are_errors_naming_them() {
    let dir = fresh_dir("typed-var-files");
    let hcl = dir.join("owners.hcl");
    std::fs::write(
        &hcl,
        "owners = [\n  { upn = \"a\", tier = 0 },\n  { upn = \"b\", tier = \"high\" },\n]\nlabel = \"x\"\n",
    )
    .unwrap();
    let json = dir.join("more.json");
    std::fs::write(&json, "{\n  \"label\": \"y\",\n  \"days\": \"thirty\"\n}\n").unwrap();
    let mut o = opts();
    o.var_files.push(hcl.clone());
    o.var_files.push(json.clone());
    o.env.push(("PIM_VAR_token".into(), "hunter2".into()));
    let err = load_text(SHAPES, &o).unwrap_err();
    let text = err.replace(dir.to_str().unwrap(), "<dir>");
    insta::assert_snapshot!(text);
    assert!(
        !text.contains("hunter2"),
        "a sensitive value is never shown"
    );

    // --var: no file to point at, so the flag is named, and the declaration.
    let mut o = opts();
    o.vars.push(("owners".into(), "[{ upn = \"a\" }]".into()));
    o.vars.push(("label".into(), "x".into()));
    o.vars.push(("days".into(), "thirty".into()));
    assert_eq!(
        load_text(SHAPES, &o).unwrap_err(),
        "error: --var days does not fit variable \"days\" of type number: expected number, got string \"thirty\"\n  = hint: the variable is declared at vars.pim.hcl:1:10\n\n\
         error: --var owners does not fit variable \"owners\" of type list(object({upn = string, tier = number})): owners[0]: attribute \"tier\" is required\n  = hint: the variable is declared at vars.pim.hcl:7:10"
    );

    // null for a variable that may not be null: its default, else an error.
    let file = dir.join("nulls.hcl");
    std::fs::write(&file, "days = null\nlabel = null\nowners = []\n").unwrap();
    let mut o = opts();
    o.var_files.push(file.clone());
    assert_eq!(
        first_lines(SHAPES, &o),
        [format!(
            "{0}:2:9: error: var file {0} sets variable \"label\" to null, which nullable = false forbids",
            file.display()
        )]
    );
    std::fs::write(&file, "days = null\nlabel = \"x\"\nowners = []\n").unwrap();
    assert!(
        load_text(SHAPES, &o).is_ok(),
        "days = null takes the default"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
