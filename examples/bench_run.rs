//! Whole-run benchmark of the `pim` binary against a large tenant: `pim plan`
//! and `pim drift` of 5,000 declared grants and `pim export` of everything, against an
//! emulator of 50,000 schedules with 20 ms latency per request. The emulator
//! runs in this process and pim in a child, so the peak memory printed is
//! pim's alone (the child's maximum resident set, from getrusage).
//!
//! cargo build --release && cargo run --release --example bench_run [-- DECLARED SCHEDULES LATENCY_MS]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use pim::emulator::{Emulator, EmulatorConfig, Faults, Tenant};
use pim::model::builtin_roles;

#[path = "support/synthetic.rs"]
mod synthetic;

/// `declared` of the tenant's eligibilities as configuration, as they are.
fn config(t: &Tenant, declared: usize) -> String {
    let upns: std::collections::HashMap<&str, &str> = t
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.user_principal_name.as_str()))
        .collect();
    let mut hcl = String::from("tenant {\n  id = \"contoso.onmicrosoft.com\"\n}\n\n");
    for (k, s) in t.eligibility_schedules.iter().take(declared).enumerate() {
        let upn = upns.get(s.principal.as_str()).copied().unwrap_or_default();
        let role = builtin_roles()
            .iter()
            .find(|r| r.id == s.role)
            .map_or("", |r| r.display_name.as_str());
        let ends = match &s.end {
            Some(end) => format!("expires = \"{end}\""),
            None => "permanent = true".to_string(),
        };
        hcl.push_str(&format!(
            "eligibility \"g{k}\" {{\n  principal = \"user:{upn}\"\n  role = \"{role}\"\n  {ends}\n}}\n"
        ));
    }
    hcl
}

/// Waits for the child and returns its exit code, peak resident memory in
/// MiB and CPU seconds (wait4 reports the resources of that one child).
fn wait_with_peak(child: std::process::Child) -> (i32, f64, f64) {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: pid is our unwaited child; status and usage point to owned memory.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    if rc != pid {
        return (-1, f64::NAN, f64::NAN);
    }
    // SAFETY: filled by the successful wait4 above.
    let usage = unsafe { usage.assume_init() };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    (code, usage.ru_maxrss as f64 / 1024.0, cpu)
}

struct Run {
    wall: f64,
    peak_mib: f64,
    cpu: f64,
    requests: u64,
    status: i32,
    stderr: String,
}

fn run(pim: &Path, emu: &Emulator, ca: &Path, args: &[&str]) -> Run {
    let before = emu.stats()["total"].as_u64().unwrap_or(0);
    let log = std::env::temp_dir().join(format!("pim-bench-run-{}.log", std::process::id()));
    let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let t = Instant::now();
    let child = Command::new(pim)
        .args(args)
        .env("NO_COLOR", "1")
        .env("PIM_GRAPH_URL", emu.graph_url())
        .env("AZURE_AUTHORITY_HOST", emu.authority_host())
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000000aa")
        .env("AZURE_CLIENT_SECRET", "bench")
        .env("PIM_CA_CERT", ca)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", pim.display()));
    let (status, peak_mib, cpu) = wait_with_peak(child);
    let wall = t.elapsed().as_secs_f64();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    Run {
        wall,
        peak_mib,
        cpu,
        requests: emu.stats()["total"].as_u64().unwrap_or(0) - before,
        status,
        stderr,
    }
}

fn report(what: &str, goal: &str, r: &Run) {
    println!(
        "{what:<28} {:>6.2} s wall  {:>6.2} s CPU  {:>6.1} MiB peak  {:>4} requests  exit {}  ({goal})",
        r.wall, r.cpu, r.peak_mib, r.requests, r.status
    );
    if r.status == 1 {
        eprintln!("{}", r.stderr);
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let declared: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let schedules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let latency_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);

    let exe = std::env::current_exe()?;
    let pim: PathBuf = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("pim"))
        .ok_or("cannot find the target directory")?;
    if !pim.exists() {
        return Err(format!(
            "{} is missing: run cargo build --release first",
            pim.display()
        )
        .into());
    }

    let dir = std::env::temp_dir().join(format!("pim-bench-run-{}", std::process::id()));
    let (config_dir, export_dir) = (dir.join("config"), dir.join("export"));
    std::fs::create_dir_all(&config_dir)?;
    let (seed, ..) = synthetic::tenant(schedules);
    std::fs::write(config_dir.join("bench.pim.hcl"), config(&seed, declared))?;
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        faults: Faults {
            latency_ms,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem().unwrap_or_default())?;
    println!(
        "tenant: {schedules} schedules, {latency_ms} ms per request; configuration: {declared} eligibilities"
    );

    // The child runs while this runtime's threads serve the emulator.
    let (p, e, c, ex) = (
        pim.clone(),
        config_dir.clone(),
        ca.clone(),
        export_dir.clone(),
    );
    let (plan, drift, export) = {
        let emu = &emu;
        let plan = tokio::task::block_in_place(|| {
            run(
                &p,
                emu,
                &c,
                &["plan", "-C", &e.to_string_lossy(), "--detailed-exitcode"],
            )
        });
        let drift = tokio::task::block_in_place(|| {
            run(
                &p,
                emu,
                &c,
                &["drift", "-C", &e.to_string_lossy(), "--format", "json"],
            )
        });
        let export = tokio::task::block_in_place(|| {
            run(&p, emu, &c, &["export", "--out", &ex.to_string_lossy()])
        });
        (plan, drift, export)
    };
    report("pim plan", "goal: peak under 300 MB", &plan);
    report("pim drift (45,000 unmanaged)", "the cron job", &drift);
    report("pim export (whole tenant)", "goal: under 30 s", &export);
    println!("(wall time includes the emulator's work in this process; CPU time is pim's own)");
    emu.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
