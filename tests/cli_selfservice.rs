//! The self-service commands through the `pim` binary: against the embedded
//! emulator of the contoso example, and against an emulator in this process
//! (reached through PIM_GRAPH_URL), whose clock and approvals the tests drive.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::TimeDelta;
use pim::emulator::{Decision, Emulator, EmulatorConfig, Tenant};
use serde_json::Value;

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

async fn remote(name: &str) -> Remote {
    let seed = Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/selfservice/tenant.json"
    ))
    .unwrap();
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
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
    assert_eq!(v["principal"]["user_principal_name"], "alice@contoso.com");
    let active = v["active"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{v}");
    assert_eq!(active[0]["role"], "Global Administrator");
    assert_eq!(active[0]["assignment"], "activated");
    assert!(active[0]["time_left_seconds"].as_i64().unwrap() > 7000);
    assert_eq!(v["eligible"][0]["role"], "Global Administrator");

    let out = run(&[&["requests", "--mine"][..], &alice].concat());
    assert!(
        text(&out).contains("selfActivate  Global Administrator  /      PT2H  Provisioned"),
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
    assert_eq!(v[0]["status"], "Provisioned", "{v}");
    assert_eq!(v[0]["role"], "Privileged Role Administrator");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_waits_five_minutes_by_the_emulators_clock() {
    let r = remote("deactivate").await;
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
    let out = r.pim(alice, &["deactivate", "Global Administrator"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("400 ActiveDurationTooShort"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("can be ended from"), "{}", text(&out));

    r.emu.clock().advance(TimeDelta::minutes(6));
    let out = r.pim(alice, &["deactivate", "Global Administrator"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("Deactivated Global Administrator at /."),
        "{}",
        text(&out)
    );
    let out = r.pim(alice, &["deactivate", "Global Administrator"]).await;
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
