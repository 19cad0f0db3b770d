//! `pim apply` killed with SIGKILL at seeded points of a run of over 200
//! changes, again and again, against an emulator this test owns (so the
//! tenant outlives the process). After each kill the state still parses
//! and records only what Graph confirmed; a new `pim apply` then makes the
//! tenant exactly what the configuration declares, and a plan after it has
//! nothing to do.

use crate::support::apply_common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apply_common::Sizes;
use pim::emulator::{Emulator, EmulatorConfig};
use pim::state::LocalBackend;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

const SIZES: Sizes = Sizes {
    kept: 20,
    updated: 40,
    removed: 30,
    created: 150,
    policies: 3,
};

const ITERATIONS: usize = 10;

/// The emulator, on a runtime of its own while the test waits on processes.
struct Tenant {
    emu: Emulator,
    ca: PathBuf,
    _rt: tokio::runtime::Runtime,
}

impl Tenant {
    fn start(dir: &Path) -> Tenant {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emu = rt
            .block_on(Emulator::start(EmulatorConfig {
                seed: Some(apply_common::tenant(SIZES)),
                ..EmulatorConfig::default()
            }))
            .unwrap();
        let ca = dir.join("emulator-ca.pem");
        std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();
        Tenant { emu, ca, _rt: rt }
    }

    fn pim(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pim"));
        c.args(args)
            .arg("-C")
            .arg(dir)
            .env("NO_COLOR", "1")
            .env("PIM_GRAPH_URL", self.emu.graph_url())
            .env("AZURE_AUTHORITY_HOST", self.emu.authority_host())
            .env("AZURE_TENANT_ID", self.emu.tenant_id())
            .env("AZURE_CLIENT_ID", "pim-crash-test")
            .env("AZURE_CLIENT_SECRET", "any")
            .env("PIM_CA_CERT", &self.ca)
            .env_remove("PIM_PARALLELISM")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.pim(dir, args).output().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const APPLY: [&str; 4] = ["apply", "--auto-approve", "--max-removals", "1000"];

/// Where a run is killed: after a number of finished steps, or after some
/// milliseconds (which may be before the first step).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    Steps(usize),
    Millis(u64),
}

/// Starts `pim apply` and kills it at `at`; returns whether it was killed
/// (it may have finished first) and how many steps it had reported.
fn apply_and_kill(tenant: &Tenant, dir: &Path, at: KillAt, extra_micros: u64) -> (bool, usize) {
    let mut child: Child = tenant
        .pim(dir, &APPLY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(" done (") && tx.send(()).is_err() {
                break;
            }
        }
    });
    let mut steps = 0;
    let deadline = std::time::Instant::now()
        + match at {
            KillAt::Millis(ms) => Duration::from_millis(ms),
            KillAt::Steps(_) => Duration::from_secs(120),
        };
    let finished = loop {
        if let KillAt::Steps(n) = at
            && steps >= n
        {
            break false;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break false;
        }
        match rx.recv_timeout(left) {
            Ok(()) => steps += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => break false,
            Err(mpsc::RecvTimeoutError::Disconnected) => break true,
        }
    };
    std::thread::sleep(Duration::from_micros(extra_micros));
    let killed = !finished && child.try_wait().unwrap().is_none();
    if killed {
        // Child::kill sends SIGKILL: no destructor, no flush, no unlock.
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(
        killed || status.success(),
        "a run that was not killed succeeds: {status:?}"
    );
    (killed, steps)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// What a killed run leaves: a state that parses, whose every entry is
/// something Graph confirmed.
fn check_after_kill(tenant: &Tenant, dir: &Path, before: &BTreeSet<String>) {
    let state = LocalBackend::new(dir.join("pim.state.json"))
        .load()
        .unwrap_or_else(|e| panic!("the state survives a kill: {e}"))
        .expect("the state is still there");
    let t = tenant.emu.snapshot();
    let confirmed = apply_common::confirmed_schedule_ids(&t, SIZES);
    let grants: BTreeSet<_> = apply_common::tenant_grants(&t).into_iter().collect();
    let removed = apply_common::removed_addresses(SIZES);
    let declared = apply_common::declared_addresses(SIZES);
    for r in &state.resources {
        let address = r.address.to_string();
        assert!(
            before.contains(&address) || declared.contains(&address),
            "{address} is in the state but was neither managed nor declared"
        );
        if let Some(id) = &r.schedule_id {
            assert!(
                confirmed.contains(id),
                "{address} records schedule {id}, which Graph never confirmed"
            );
        }
        // Only a removal may be recorded after its grant is gone: the kill
        // fell between Graph's answer and the state write.
        if let Some(kind) = r.kind
            && !removed.contains(&address)
        {
            let tuple = (
                kind,
                r.principal_id.to_ascii_lowercase(),
                r.role_id.to_ascii_lowercase(),
                r.scope_id.clone(),
            );
            assert!(
                grants.contains(&tuple),
                "{address} is in the state but its grant is not in the tenant"
            );
        }
    }
}

#[test]
fn killed_applies_leave_state_that_a_new_apply_converges_from() {
    let dir = std::env::temp_dir().join(format!("pim-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.join("config");
    apply_common::write_config(&config, SIZES, "");
    let tenant = Tenant::start(&dir);
    let backend = LocalBackend::new(config.join("pim.state.json"));
    let base = apply_common::state(SIZES);
    let before: BTreeSet<String> = base
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert!(SIZES.changes() >= 200);

    let mut rng = StdRng::seed_from_u64(0x0c4a_5e5d);
    let mut killed_runs = 0;
    for i in 0..ITERATIONS {
        tenant.emu.reset().unwrap();
        backend.save(&base).unwrap();
        // After a random number of finished steps, in each phase in turn
        // (rule updates and the first grants, grants, removals), or at a
        // random time, which may fall before any step.
        let (grants_end, all) = (SIZES.changes() - SIZES.removed, SIZES.changes());
        let at = match i % 5 {
            0 => KillAt::Millis(rng.random_range(0..1500)),
            1 => KillAt::Steps(rng.random_range(1..SIZES.policies + 5)),
            2 | 3 => KillAt::Steps(rng.random_range(SIZES.policies + 5..grants_end)),
            _ => KillAt::Steps(rng.random_range(grants_end..all)),
        };
        let (killed, steps) = apply_and_kill(&tenant, &config, at, rng.random_range(0..3000));
        killed_runs += usize::from(killed);
        check_after_kill(&tenant, &config, &before);

        let out = tenant.run(&config, &APPLY);
        assert_eq!(
            out.status.code(),
            Some(0),
            "iteration {i} ({at:?}, killed {killed} after {steps} steps): {}",
            text(&out)
        );
        let state = backend.load().unwrap().unwrap();
        apply_common::assert_converged(&tenant.emu.snapshot(), &state, SIZES);
        assert_eq!(
            leftovers(&config),
            Vec::<String>::new(),
            "no temporary file is left once a run completes"
        );
        let out = tenant.run(&config, &["plan", "--detailed-exitcode"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "iteration {i} ({at:?}): the plan after convergence: {}",
            text(&out)
        );
    }
    assert!(
        killed_runs >= ITERATIONS / 2,
        "most runs were killed mid-way ({killed_runs} of {ITERATIONS})"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
