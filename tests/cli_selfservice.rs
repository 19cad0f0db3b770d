//! The self-service commands through the `pim` binary: against the embedded
//! emulator of the contoso example, and against an emulator in this process
//! (reached through PIM_GRAPH_URL), whose clock and approvals the tests drive.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::TimeDelta;
use pim::emulator::{Decision, Emulator, EmulatorConfig, Tenant};
use serde_json::Value;

use crate::support::cli_common;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pim-self-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pim_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pim"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .env_remove("PIM_EMULATOR_USER")
        .env_remove("PIM_EMULATOR_MFA")
        .env_remove("PIM_ARM_URL")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("PIM_CA_CERT");
    c
}

/// An emulator in this process, and how the binary reaches it.
struct Remote {
    emu: Emulator,
    dir: PathBuf,
    ca: PathBuf,
}

fn seed() -> Tenant {
    Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/selfservice/tenant.json"
    ))
    .unwrap()
}

/// The self-service tenant with the requests of the days before (two of
/// Bob's whose ids start alike, one denied; an eligibility an
/// administrator gave Erin).
fn seed_with_past_requests() -> Tenant {
    let mut seed = seed();
    let past: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/selfservice/past_requests.json"
        ))
        .unwrap(),
    )
    .unwrap();
    seed.assignment_requests.extend(
        past["assignmentRequests"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    seed.eligibility_requests.extend(
        past["eligibilityRequests"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    seed
}

async fn remote(name: &str) -> Remote {
    remote_seeded(name, seed()).await
}

async fn remote_seeded(name: &str, seed: Tenant) -> Remote {
    remote_configured(
        name,
        EmulatorConfig {
            seed: Some(seed),
            ..EmulatorConfig::default()
        },
    )
    .await
}

/// The past requests carry fixed dates, and this emulator runs on the
/// wall clock: kept however old they are, so the tests pass on any day.
async fn remote_with_past_requests(name: &str) -> Remote {
    remote_configured(
        name,
        EmulatorConfig {
            seed: Some(seed_with_past_requests()),
            request_retention: TimeDelta::days(365 * 100),
            ..EmulatorConfig::default()
        },
    )
    .await
}

async fn remote_configured(name: &str, config: EmulatorConfig) -> Remote {
    let emu = Emulator::start(config).await.unwrap();
    let dir = scratch(name);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();
    Remote { emu, dir, ca }
}

impl Remote {
    /// Run `pim args…` as `user` (an emulator user, with MFA).
    async fn pim(&self, user: &str, args: &[&str]) -> Output {
        let mut c = pim_cmd(&self.dir, args);
        c.args(["--as", user, "--mfa"])
            .env("PIM_GRAPH_URL", self.emu.graph_url())
            .env("AZURE_AUTHORITY_HOST", self.emu.authority_host())
            .env("AZURE_TENANT_ID", self.emu.tenant_id())
            .env("PIM_CA_CERT", &self.ca);
        // The emulator answers on this runtime's other threads meanwhile.
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    fn schedule_requests_posted(&self) -> u64 {
        self.emu.stats()["byRoute"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("POST ") && k.contains("ScheduleRequests"))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The request of this action waiting for a decision.
    fn waiting(&self) -> Option<String> {
        self.emu
            .snapshot()
            .assignment_requests
            .iter()
            .find(|r| r["status"] == "PendingApproval")
            .and_then(|r| r["id"].as_str().map(str::to_string))
    }
}

/// The request id a command printed (`… Request <id>.`).
fn request_id(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let at = out.find("Request ").expect("a request id") + "Request ".len();
    out[at..]
        .split(['.', ' ', '\n'])
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_seeded_user_activates_against_the_embedded_emulator_and_sees_it_in_my_roles() {
    let dir = scratch("embedded");
    for f in [
        "contoso.pim.hcl",
        "assignments.pim.hcl",
        "policies.pim.hcl",
        "tenant.json",
    ] {
        std::fs::copy(Path::new("examples/contoso").join(f), dir.join(f)).unwrap();
    }
    let run = |args: &[&str]| pim_cmd(&dir, args).output().unwrap();
    let alice = ["--as", "alice@contoso.com"];

    let out = run(&[&["my", "roles"][..], &alice].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Active: none"), "{}", text(&out));

    let out = run(&[
        &[
            "activate",
            "Global Administrator",
            "--duration",
            "PT2H",
            "--justification",
            "INC0042",
        ][..],
        &alice,
        &["--mfa"],
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("Activated Global Administrator at / until "),
        "{}",
        text(&out)
    );

    let out = run(&[&["my", "roles", "--format", "json"][..], &alice].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("my-roles.schema.json", &v);
    assert_eq!(v["principal"]["user_principal_name"], "alice@contoso.com");
    let active = v["active"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{v}");
    assert_eq!(active[0]["role"], "Global Administrator");
    assert_eq!(active[0]["assignment_type"], "activated");
    assert_eq!(active[0]["member_type"], "direct");
    assert!(active[0]["time_left_seconds"].as_i64().unwrap() > 7000);
    assert_eq!(v["eligible"][0]["role"], "Global Administrator");

    let out = run(&[&["requests", "--mine"][..], &alice].concat());
    assert!(
        text(&out).contains(
            "user:alice@contoso.com  active  selfActivate  Global Administrator  /      PT2H  Provisioned"
        ),
        "{}",
        text(&out)
    );

    // Another person sees their own roles only.
    let out = run(&["my", "roles", "--as", "bob@contoso.com", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["active"], serde_json::json!([]), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acting_as_a_user_is_refused_against_microsoft_graph() {
    let dir = scratch("real");
    let out = pim_cmd(&dir, &["my", "roles", "--as", "alice@contoso.com"])
        .env("PIM_GRAPH_URL", "https://graph.microsoft.com")
        .env("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--as signs in as a seeded user of the pim emulator only"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_policy_forbids_is_refused_before_sending() {
    let r = remote("refused").await;
    let out = r
        .pim(
            "alice@contoso.com",
            &[
                "activate",
                "Global Administrator",
                "--duration",
                "PT8H",
                "--justification",
                "x",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not sent: Global Administrator at /: PT8H is longer than the PT4H the role allows (rule Expiration_EndUser_Assignment)"), "{}", text(&out));
    let out = r
        .pim(
            "alice@contoso.com",
            &["activate", "Global Administrator", "--duration", "PT1H"],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("(rule Enablement_EndUser_Assignment)"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("--justification TEXT"),
        "{}",
        text(&out)
    );
    let out = r
        .pim(
            "heidi@contoso.com",
            &["activate", "Global Administrator", "--justification", "x"],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("(rule EligibilityRule)"),
        "{}",
        text(&out)
    );
    assert_eq!(r.schedule_requests_posted(), 0, "nothing was POSTed");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_needing_approval_waits_and_ends_provisioned() {
    let r = remote("approval").await;
    let emu = &r.emu;
    let approver = async {
        for _ in 0..200 {
            if let Some(id) = r.waiting() {
                return emu.decide(&id, Decision::Approve, Some("dave@contoso.com"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no request came to approve");
    };
    let activation = r.pim(
        "bob@contoso.com",
        &[
            "activate",
            "Privileged Role Administrator",
            "--duration",
            "PT1H",
            "--justification",
            "change 7",
            "--wait",
            "--timeout",
            "PT1M",
            "--poll-interval",
            "PT1S",
        ],
    );
    let (out, decided) = tokio::join!(activation, approver);
    assert_eq!(decided.unwrap()["status"], "Provisioned");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(
            "waiting for approval by PIM Approvers (group), Carol White <carol@contoso.com>"
        ),
        "{t}"
    );
    assert!(
        t.contains("Activated Privileged Role Administrator at / until "),
        "{t}"
    );

    let out = r
        .pim(
            "bob@contoso.com",
            &["requests", "--mine", "--format", "json"],
        )
        .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("requests.schema.json", &v);
    assert_eq!(v[0]["status"], "Provisioned", "{v}");
    assert_eq!(v[0]["role"], "Privileged Role Administrator");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_in_the_first_five_minutes_is_refused_before_sending() {
    let mut seed = seed();
    // Alice activated Global Reader six minutes before the emulator started.
    seed.assignment_schedules.push(
        serde_json::from_value(serde_json::json!({
            "principal": "user:alice@contoso.com",
            "role": "Global Reader",
            "start": "-PT6M",
            "duration": "PT1H",
            "assignmentType": "Activated",
            "activatedUsing": "5e1fe000-0000-4000-8000-000000000002",
        }))
        .unwrap(),
    );
    let r = remote_seeded("deactivate", seed).await;
    let alice = "alice@contoso.com";
    let out = r
        .pim(
            alice,
            &[
                "activate",
                "Global Administrator",
                "--duration",
                "PT1H",
                "--justification",
                "x",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let posted = r.schedule_requests_posted();
    let out = r.pim(alice, &["deactivate", "Global Administrator"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.starts_with("error: not sent: Global Administrator at /: it was activated at "),
        "{t}"
    );
    assert!(t.contains(" UTC and can be ended from "), "{t}");
    assert_eq!(r.schedule_requests_posted(), posted, "nothing was POSTed");

    // Graph's clock is the one that counts: two minutes behind, it still
    // refuses an activation pim's clock says is six minutes old.
    r.emu.clock().advance(TimeDelta::minutes(-2));
    let out = r.pim(alice, &["deactivate", "Global Reader"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("400 ActiveDurationTooShort"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("can be ended from"), "{}", text(&out));

    r.emu.clock().advance(TimeDelta::minutes(2));
    let out = r
        .pim(alice, &["deactivate", "Global Reader", "--scope", "/"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("Deactivated Global Reader at /."),
        "{}",
        text(&out)
    );
    let out = r.pim(alice, &["deactivate", "Global Reader"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("it is not active"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_works_while_pending_and_is_refused_once_provisioned() {
    let r = remote("cancel").await;
    let out = r
        .pim(
            "bob@contoso.com",
            &[
                "activate",
                "Privileged Role Administrator",
                "--justification",
                "x",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pending = request_id(&out);
    let out = r
        .pim("bob@contoso.com", &["requests", "cancel", &pending])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("which was PendingApproval"),
        "{}",
        text(&out)
    );
    let out = r
        .pim(
            "bob@contoso.com",
            &["requests", "--mine", "--status", "Canceled"],
        )
        .await;
    assert!(text(&out).contains(&pending), "{}", text(&out));

    let out = r
        .pim(
            "alice@contoso.com",
            &["activate", "Global Administrator", "--justification", "x"],
        )
        .await;
    let done = request_id(&out);
    let out = r
        .pim("alice@contoso.com", &["requests", "cancel", &done])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("400 RequestCannotBeCancelled"),
        "{}",
        text(&out)
    );

    // Extending goes to the administrators.
    let out = r
        .pim(
            "frank@contoso.com",
            &[
                "extend",
                "Security Reader",
                "--duration",
                "P90D",
                "--justification",
                "rota",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "Asked the administrators to extend your eligibility of Security Reader at / for P90D"
        ),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

const BOB_DENIED: &str = "8213d958-0000-4000-8000-000000000001";
const BOB_CANCELED: &str = "8213d958-1111-4000-8000-000000000002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_show_takes_an_id_or_a_unique_start_of_one() {
    let r = remote_with_past_requests("show").await;
    let bob = "bob@contoso.com";
    let out = r.pim(bob, &["requests", "show", "8213d958-0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    insta::assert_snapshot!("cli_requests_show_denied", text(&out));

    let out = r
        .pim(bob, &["requests", "show", BOB_DENIED, "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("requests.schema.json", &v);
    assert_eq!(v["id"], BOB_DENIED);
    assert_eq!(v["kind"], "active");
    assert_eq!(v["principal"], "user:bob@contoso.com");
    assert_eq!(v["ticket"], "ServiceNow:CHG0007");
    assert_eq!(v["created_by"], "user:bob@contoso.com");
    assert_eq!(v["approval"]["state"], "denied");
    assert_eq!(v["approval"]["decided"], "2026-11-30T09:20:00Z");
    assert_eq!(
        v["approval"]["stages"][0]["approvers"],
        serde_json::json!(["PIM Approvers (group)", "Carol White <carol@contoso.com>"])
    );

    for args in [
        &["requests", "show", "8213d958"][..],
        &["requests", "cancel", "8213d958"][..],
    ] {
        let out = r.pim(bob, args).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("8213d958 starts the ids of 2 requests"), "{t}");
        assert!(t.contains(BOB_DENIED) && t.contains(BOB_CANCELED), "{t}");
    }
    let out = r.pim(bob, &["requests", "show", "ffff"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: no request ffff (by id or the start of one)"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_requests_show_principal_and_kind_and_filter_by_them() {
    let r = remote_with_past_requests("filters").await;
    let admin = "alice@contoso.com";
    let out = r
        .pim(
            admin,
            &[
                "requests",
                "--principal",
                "bob@contoso.com",
                "--kind",
                "active",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.starts_with("  ID  "), "{t}");
    assert!(t.contains("PRINCIPAL             KIND    ACTION"), "{t}");
    assert!(
        t.contains("user:bob@contoso.com  active  selfActivate"),
        "{t}"
    );
    assert_eq!(t.lines().count(), 3, "{t}");

    let ids = |o: &Output| -> Vec<String> {
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let out = r
        .pim(
            admin,
            &["requests", "--kind", "eligible", "--format", "json"],
        )
        .await;
    assert_eq!(ids(&out), ["3c9e7d21-0000-4000-8000-000000000003"]);
    let out = r
        .pim(
            admin,
            &[
                "requests",
                "--role",
                "Privileged Role Administrator",
                "--since",
                "2026-11-30",
                "--format",
                "json",
            ],
        )
        .await;
    assert_eq!(ids(&out), [BOB_DENIED]);
    let out = r
        .pim(admin, &["requests", "--since", "yesterday-ish"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("neither a time"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_requests_show_in_my_roles_and_scopes_go_by_name() {
    let r = remote("pending").await;
    let out = r
        .pim(
            "bob@contoso.com",
            &[
                "activate",
                "Privileged Role Administrator",
                "--justification",
                "change 8",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pending = request_id(&out);
    let out = r.pim("bob@contoso.com", &["my", "roles"]).await;
    let t = text(&out);
    assert!(t.contains("\nPending requests:\n"), "{t}");
    assert!(t.contains(&pending), "{t}");
    assert!(
        t.contains(
            "active  selfActivate  Privileged Role Administrator  /      PT8H  PendingApproval"
        ),
        "{t}"
    );
    let out = r
        .pim("bob@contoso.com", &["my", "roles", "--format", "json"])
        .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"][0]["id"], pending.as_str());
    assert_eq!(v["pending"][0]["status"], "PendingApproval");

    // Erin's one eligibility for Helpdesk Administrator is at Paris Office:
    // no --scope needed, and the unit goes by its name.
    let erin = "erin@contoso.com";
    let out = r
        .pim(
            erin,
            &[
                "activate",
                "Helpdesk Administrator",
                "--duration",
                "PT1H",
                "--justification",
                "x",
                "--ticket",
                "ServiceNow:INC1",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(
            "Activated Helpdesk Administrator at /administrativeUnits/Paris Office until "
        ),
        "{}",
        text(&out)
    );
    let out = r
        .pim(
            erin,
            &[
                "deactivate",
                "Helpdesk Administrator",
                "--scope",
                "Paris Office",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not sent: Helpdesk Administrator at /administrativeUnits/Paris Office: it was activated at"),
        "{}",
        text(&out)
    );
    let out = r
        .pim(
            erin,
            &[
                "deactivate",
                "Helpdesk Administrator",
                "--scope",
                "Lyon Office",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no administrative unit \"Lyon Office\""),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn check_warns_when_an_approver_of_a_tier0_role_is_eligible_for_it() {
    let dir = scratch("check-approvers");
    std::fs::copy(
        "tests/fixtures/selfservice/tenant.json",
        dir.join("tenant.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.pim.hcl"),
        r#"tenant {
  id       = "contoso.com"
  emulator = "tenant.json"
}

eligibility "carol_pra" {
  principal = "user:carol@contoso.com"
  role      = "Privileged Role Administrator"
  duration  = "P30D"
}
"#,
    )
    .unwrap();
    let out = pim_cmd(&dir, &["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("PIM008 user:carol@contoso.com is eligible for tier-0 role \"Privileged Role Administrator\" and is one of its approvers (user:carol@contoso.com)"),
        "{t}"
    );
    let out = pim_cmd(&dir, &["check", "--strict"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_group_membership_is_activated_under_approval_and_decided_by_its_approver() {
    let dir = scratch("groups");
    for f in [
        "contoso.pim.hcl",
        "assignments.pim.hcl",
        "policies.pim.hcl",
        "tenant.json",
    ] {
        std::fs::copy(Path::new("examples/contoso").join(f), dir.join(f)).unwrap();
    }
    let run = |args: &[&str]| pim_cmd(&dir, args).output().unwrap();
    // The example's policies, approval on the tier-0 group's membership among them.
    let out = run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let alice = ["--as", "alice@contoso.com", "--mfa"];
    let victor = ["--as", "victor@contoso.com"];
    let activate = |extra: &[&str]| {
        run(&[
            &[
                "activate",
                "--group",
                "Tier0 Admins",
                "--duration",
                "PT1H",
                "--justification",
                "INC0042",
            ][..],
            &alice,
            extra,
        ]
        .concat())
    };

    let out = activate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("Requested member of group:Tier0 Admins: waiting for approval by "),
        "{}",
        text(&out)
    );
    let first = request_id(&out);
    // The requester is no approver of their own request.
    let out = run(&[&["approvals"][..], &alice].concat());
    assert!(
        text(&out).contains("Nothing waits for your approval."),
        "{}",
        text(&out)
    );

    let out = run(&[&["approvals", "--format", "json"][..], &victor].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("requests.schema.json", &v);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["id"], first.as_str());
    assert_eq!(v[0]["surface"], "group");
    assert_eq!(v[0]["role"], "member");
    assert_eq!(v[0]["scope"], "group:Tier0 Admins");
    assert_eq!(v[0]["principal"], "user:alice@contoso.com");

    let out = run(&[
        &["deny", &first[..8], "--justification", "No ticket"][..],
        &victor,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Denied request {first}: selfActivate for user:alice@contoso.com, member of group:Tier0 Admins.\n"
        )
    );
    // Decided: it waits for no one any more.
    let out = run(&[&["approve", &first, "--justification", "late"][..], &victor].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("waits for your approval"),
        "{}",
        text(&out)
    );
    let out = run(&[&["requests", "show", &first][..], &alice].concat());
    assert!(text(&out).contains("Denied"), "{}", text(&out));

    let out = activate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let second = request_id(&out);
    let out = run(&[
        &["approve", &second, "--justification", "On call"][..],
        &victor,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&[&["my", "roles", "--format", "json"][..], &alice].concat());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("my-roles.schema.json", &v);
    let active = v["active"].as_array().unwrap();
    assert!(
        active.iter().any(|a| a["role"] == "member"
            && a["scope"] == "group:Tier0 Admins"
            && a["assignment_type"] == "activated"),
        "{v}"
    );

    // Ownership is another access, which alice is not eligible for.
    let out = activate(&["--access", "owner"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("owner of group:Tier0 Admins: you are not eligible for it"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("member of group:Tier0 Admins"),
        "{}",
        text(&out)
    );

    // A directory role's activation is listed, but Graph v1.0 cannot decide it.
    let out = run(&[
        &[
            "activate",
            "Global Administrator",
            "--duration",
            "PT1H",
            "--justification",
            "INC0043",
        ][..],
        &alice,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let role_request = request_id(&out);
    let out = run(&[
        &["approve", &role_request, "--justification", "ok"][..],
        &victor,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Microsoft Graph v1.0 has no API to approve or deny those")
            && text(&out).contains("Approve requests"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------- Azure resource roles

const PROD: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";

/// The Azure activation requests the example's embedded emulator holds.
fn azure_requests(dir: &Path) -> Vec<Value> {
    let Ok(bytes) = std::fs::read(dir.join(".pim-emulator.json")) else {
        return Vec::new();
    };
    let data: Value = serde_json::from_slice(&bytes).unwrap();
    data["azure"]["assignmentRequests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The seeded eligibility schedule of `upn`'s Owner, by the emulator.
fn owner_eligibility(dir: &Path, user_id: &str) -> String {
    let data: Value =
        serde_json::from_slice(&std::fs::read(dir.join(".pim-emulator.json")).unwrap()).unwrap();
    data["azure"]["eligibilitySchedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["principal"].as_str().unwrap().ends_with(user_id))
        .and_then(|s| s["id"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn an_azure_role_is_activated_listed_and_kept_for_five_minutes_through_the_cli() {
    let dir = cli_common::contoso("self-azure", None);
    let run = |args: &[&str]| cli_common::pim(&dir, args, &[]).output().unwrap();
    let bob = ["--as", "bob@contoso.com"];

    // The seeded policy of Owner wants a justification: refused, not sent.
    let out = run(&[&["activate", "Owner", "--scope", PROD][..], &bob].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "not sent: Owner at {PROD}: a justification is required (rule Enablement_EndUser_Assignment)"
        )),
        "{}",
        text(&out)
    );
    assert!(azure_requests(&dir).is_empty());

    let out = run(&[
        &[
            "activate",
            "owner",
            "--scope",
            &format!("{PROD}/"),
            "--duration",
            "PT1H",
            "--justification",
            "release 42",
        ][..],
        &bob,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!("Activated Owner at {PROD} until ")),
        "{}",
        text(&out)
    );
    let sent = azure_requests(&dir);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["properties"]["requestType"], "SelfActivate");
    assert_eq!(sent[0]["properties"]["justification"], "release 42");
    assert_eq!(
        sent[0]["properties"]["linkedRoleEligibilityScheduleId"],
        owner_eligibility(&dir, "edbb48c4-a953-5e67-b57b-eaadc2a0b2dd").as_str()
    );

    let out = run(&[&["my", "roles", "--format", "json"][..], &bob].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("my-roles.schema.json", &v);
    let azure = |list: &Value| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|h| h["surface"] == "azure_role")
            .cloned()
            .collect()
    };
    let eligible = azure(&v["eligible"]);
    assert_eq!(eligible.len(), 1, "{v}");
    assert_eq!(eligible[0]["role"], "Owner");
    assert_eq!(eligible[0]["scope"], PROD);
    let active = azure(&v["active"]);
    assert_eq!(active.len(), 1, "{v}");
    assert_eq!(active[0]["assignment_type"], "activated");
    assert_eq!(active[0]["scope_id"], PROD);
    assert!(active[0]["time_left_seconds"].as_i64().unwrap() > 3500);
    let out = run(&[&["my", "roles"][..], &bob].concat());
    assert!(
        text(&out).contains(&format!("Owner  {PROD}  ")),
        "the text shows the Azure scope: {}",
        text(&out)
    );

    // Just activated: ending it is refused until its fifth minute.
    let out = run(&[&["deactivate", "Owner", "--scope", PROD][..], &bob].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("can be ended from"), "{}", text(&out));
    assert_eq!(azure_requests(&dir).len(), 1, "nothing more was sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_owner_eligibility_of_the_management_group_is_activated_at_the_subscription() {
    let dir = cli_common::contoso("self-azure-inherited", None);
    let run = |args: &[&str]| cli_common::pim(&dir, args, &[]).output().unwrap();
    let dave = ["--as", "dave@contoso.com"];
    let out = run(&[
        &[
            "activate",
            "Owner",
            "--scope",
            PROD,
            "--duration",
            "PT30M",
            "--justification",
            "incident 7",
        ][..],
        &dave,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!("Activated Owner at {PROD} until ")),
        "{}",
        text(&out)
    );
    let sent = azure_requests(&dir);
    assert_eq!(sent[0]["properties"]["scope"], PROD);
    assert_eq!(
        sent[0]["properties"]["linkedRoleEligibilityScheduleId"],
        owner_eligibility(&dir, "702288d7-5a56-5417-9fdf-3e4492441031").as_str(),
        "the management group's eligibility"
    );
    let out = run(&[&["my", "roles", "--format", "json"][..], &dave].concat());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scopes: Vec<&str> = v["eligible"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["active"].as_array().unwrap())
        .filter(|h| h["surface"] == "azure_role")
        .map(|h| h["scope_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        [
            "/providers/microsoft.management/managementgroups/contoso",
            PROD
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_apply_an_azure_activation_needs_mfa_and_waits_for_approval_until_canceled() {
    let dir = cli_common::contoso("self-azure-approval", None);
    let run = |args: &[&str]| cli_common::pim(&dir, args, &[]).output().unwrap();
    let out = run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bob = ["--as", "bob@contoso.com"];
    let activate = [
        "activate",
        "Owner",
        "--justification",
        "release 43",
        "--duration",
        "PT2H",
    ];
    let out = run(&[&activate[..], &bob].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("multi-factor authentication is required"),
        "{}",
        text(&out)
    );
    let out = run(&[&activate[..], &bob, &["--mfa"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!(
            "Requested Owner at {PROD}: waiting for approval by PIM Approvers (group)."
        )),
        "{}",
        text(&out)
    );
    let id = request_id(&out);

    let out = run(&[&["requests", "--mine", "--format", "json"][..], &bob].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("requests.schema.json", &v);
    let azure: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["surface"] == "azure_role")
        .collect();
    assert_eq!(azure.len(), 1, "{v}");
    assert_eq!(azure[0]["id"], id.as_str());
    assert_eq!(azure[0]["status"], "PendingApproval");
    assert_eq!(azure[0]["scope"], PROD);

    let out = run(&[&["requests", "cancel", &id[..8]][..], &bob].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!(
            "Canceled request {id} (selfActivate of Owner at {PROD}"
        )),
        "{}",
        text(&out)
    );
    let sent = azure_requests(&dir);
    let canceled = sent.iter().find(|r| r["name"] == id.as_str()).unwrap();
    assert_eq!(canceled["properties"]["status"], "Canceled");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The self-service tenant with its Azure section (Bob eligible for
/// Contributor at a subscription and Owner at its management group; Owner
/// at the resource group needs PIM Approvers' approval).
fn azure_seed() -> Tenant {
    let mut seed = seed();
    seed.azure = Some(
        serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/selfservice/azure.json"
            ))
            .unwrap(),
        )
        .unwrap(),
    );
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_decides_an_azure_activation_only_with_the_preview_flag() {
    let r = remote_seeded("azure-approve", azure_seed()).await;
    let rg = "/subscriptions/11111111-1111-4111-8111-111111111111/resourcegroups/rg-app";
    let out = r
        .pim(
            "bob@contoso.com",
            &[
                "activate",
                "Owner",
                "--scope",
                rg,
                "--justification",
                "hotfix",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = request_id(&out);
    // Dave is in PIM Approvers; without the flag Graph's approvals only.
    let out = r.pim("dave@contoso.com", &["approvals"]).await;
    assert!(
        text(&out).contains("Nothing waits for your approval."),
        "{}",
        text(&out)
    );
    let out = r
        .pim(
            "dave@contoso.com",
            &["approvals", "--azure-approvals-preview", "--format", "json"],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    cli_common::assert_schema("requests.schema.json", &v);
    assert_eq!(v[0]["id"], id.as_str(), "{v}");
    assert_eq!(v[0]["surface"], "azure_role");
    let out = r
        .pim(
            "dave@contoso.com",
            &[
                "approve",
                &id[..8],
                "--justification",
                "on call",
                "--azure-approvals-preview",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Approved request {id}: selfActivate for user:bob@contoso.com, Owner at {rg}.\n")
    );
    let held = r.emu.snapshot().azure.unwrap().assignment_requests;
    assert_eq!(held[0]["properties"]["status"], "Provisioned");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_user_of_an_emulator_reached_by_url_activates_an_azure_role_there() {
    let r = remote_seeded("azure-remote", azure_seed()).await;
    let sub = "/subscriptions/11111111-1111-4111-8111-111111111111";
    let out = r
        .pim(
            "bob@contoso.com",
            &[
                "activate",
                "Contributor",
                "--scope",
                sub,
                "--duration",
                "PT1H",
                "--justification",
                "deploy",
                "--ticket",
                "ServiceNow:CHG0042",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!("Activated Contributor at {sub} until ")),
        "{}",
        text(&out)
    );
    let held = r.emu.snapshot().azure.unwrap().assignment_requests;
    assert_eq!(held.len(), 1, "ARM on the emulator got the request");
    assert_eq!(
        held[0]["properties"]["ticketInfo"]["ticketSystem"],
        "ServiceNow"
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}
