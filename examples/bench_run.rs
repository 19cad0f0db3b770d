//! Whole-run benchmark of the `pim` binary against a large tenant, as an
//! organisation has one: 50,000 eligibilities and 5,000 active assignments
//! (one user each, 60 built-in roles), a configuration declaring 5,000 of
//! the eligibilities as they are, an emulator answering every request 20 ms
//! later. The emulator runs in this process and pim in a child: pim's CPU
//! is the child's (from wait4), its peak memory the high-water mark of its
//! own address space (`VmHWM`, read while it runs: wait4's maximum resident
//! set would count this process's memory, which a spawned child shares
//! until it execs), and the emulator's CPU is this process's over the same
//! time (getrusage).
//!
//! It prints, for `pim plan`:
//! - requests against their lower bound at 1k, 10k and 50k eligibilities
//!   (the sign-in, the schedule pages at `$top=999`, one policy read, one
//!   role-definition read, declared users 15 to an `in` filter and 20
//!   filters to a `$batch`, every other holder named 1,000 to a `getByIds`);
//! - its wall time beside a bare read of the same collections by a minimal
//!   client (reqwest and raw JSON: both schedule lists paged concurrently,
//!   the policies, the role definitions), as a ratio;
//! - its peak memory at 50k and at 200k eligibilities;
//!
//! and the whole `pim drift` and `pim export` at the full size.
//!
//! cargo build --release && cargo run --release --example bench_run [-- ELIGIBLE ACTIVE DECLARED LATENCY_MS]
//!
//! The full-size plan and the bare read run `PIM_BENCH_REPEAT` times (3),
//! taking turns, and the middle run of each is reported: one run on a
//! shared machine is noise. `PIM_BENCH_PLAN_ONLY=1` runs the full-size
//! plan alone (no request table, drift, export or 4x run): with
//! `PIM_BENCH_REPEAT=1`, what a profiler wrapped in `PIM_BENCH_WRAP` needs.
//! `PIM_BENCH_LOG=1` prints the emulator's line for each request on
//! stderr, timed from the start, to see where the plan's time goes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use pim::emulator::{Emulator, EmulatorConfig, Faults, Tenant};
use pim::model::builtin_roles;
use serde_json::Value;

#[path = "support/synthetic.rs"]
mod synthetic;

/// The first `declared` eligibilities of the tenant as configuration, as they are.
fn config(t: &Tenant, upns: &[String], declared: usize) -> String {
    let mut hcl = String::from("tenant {\n  id = \"contoso.onmicrosoft.com\"\n}\n\n");
    for (k, s) in t.eligibility_schedules.iter().take(declared).enumerate() {
        let role = builtin_roles()
            .iter()
            .find(|r| r.id == s.role)
            .map_or("", |r| r.display_name.as_str());
        let ends = match &s.end {
            Some(end) => format!("expires = \"{end}\""),
            None => "permanent = true".to_string(),
        };
        hcl.push_str(&format!(
            "eligibility \"g{k}\" {{\n  principal = \"user:{}\"\n  role = \"{role}\"\n  {ends}\n}}\n",
            upns[k]
        ));
    }
    hcl
}

/// The fewest requests a plan of this tenant can make.
/// The fewest requests a plan of this tenant can make: the sign-in, the
/// schedule pages, one policy read, one role-definition read, the declared
/// users and the names of every other holder.
fn lower_bound(eligible: usize, active: usize, declared: usize) -> usize {
    let pages = eligible.div_ceil(999) + active.div_ceil(999);
    let resolve = declared.div_ceil(15).div_ceil(20);
    let names = (eligible + active - declared).div_ceil(1000);
    1 + pages + 1 + 1 + resolve + names
}

/// The high-water mark of a running process's resident memory, in MiB.
fn high_water_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Waits for the child and returns its exit code, peak resident memory in
/// MiB and CPU seconds (wait4 reports the resources of that one child).
fn wait_with_peak(child: std::process::Child) -> (i32, f64, f64) {
    let pid = child.id() as libc::pid_t;
    // Until it is reaped the child's status is readable; the mark only rises.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        let id = child.id();
        std::thread::spawn(move || {
            let mut peak = f64::NAN;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(m) = high_water_mib(id) {
                    peak = if peak.is_nan() { m } else { peak.max(m) };
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        })
    };
    // Wait without reaping, so the last mark is read off the zombie-to-be.
    // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; WNOWAIT leaves it waitable for wait4 below.
    unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().unwrap_or(f64::NAN);
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
    (code, peak, cpu_of(&usage))
}

fn cpu_of(u: &libc::rusage) -> f64 {
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// CPU seconds this process (the emulator) has used.
fn own_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: usage points to owned memory that getrusage fills.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return f64::NAN;
    }
    // SAFETY: filled by the successful getrusage above.
    cpu_of(&unsafe { usage.assume_init() })
}

struct Run {
    wall: f64,
    peak_mib: f64,
    cpu: f64,
    emulator_cpu: f64,
    requests: u64,
    by_route: Value,
    status: i32,
    stderr: String,
}

/// The emulator's count of requests by route, less `before`.
fn routes_since(now: &Value, before: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (route, n) in now.as_object().into_iter().flatten() {
        let was = before.get(route).and_then(Value::as_u64).unwrap_or(0);
        let n = n.as_u64().unwrap_or(0).saturating_sub(was);
        if n > 0 {
            out.insert(route.clone(), n.into());
        }
    }
    Value::Object(out)
}

fn run(pim: &Path, emu: &Emulator, ca: &Path, args: &[&str]) -> Run {
    let stats = emu.stats();
    let before = stats["total"].as_u64().unwrap_or(0);
    let routes_before = stats["byRoute"].clone();
    let log = std::env::temp_dir().join(format!("pim-bench-run-{}.log", std::process::id()));
    let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let cpu_before = own_cpu();
    let t = Instant::now();
    // PIM_BENCH_WRAP runs pim under another program, e.g. a heap profiler:
    // PIM_BENCH_WRAP="valgrind --tool=massif --massif-out-file=/tmp/m.%p".
    let wrap: Vec<String> = std::env::var("PIM_BENCH_WRAP")
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut command = match wrap.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(pim);
            c
        }
        None => Command::new(pim),
    };
    let child = command
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
    let emulator_cpu = own_cpu() - cpu_before;
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let stats = emu.stats();
    Run {
        wall,
        peak_mib,
        cpu,
        emulator_cpu,
        requests: stats["total"].as_u64().unwrap_or(0) - before,
        by_route: routes_since(&stats["byRoute"], &routes_before),
        status,
        stderr,
    }
}

fn report(what: &str, r: &Run) {
    println!(
        "{what:<30} {:>6.2} s wall  {:>6.2} s CPU  {:>6.1} MiB peak  {:>4} requests  emulator {:>5.2} s CPU  exit {}",
        r.wall, r.cpu, r.peak_mib, r.requests, r.emulator_cpu, r.status
    );
    if r.status == 1 {
        eprintln!("{}", r.stderr);
    }
}

/// Reads what a plan must read, as a minimal client does: raw JSON, no
/// model, every collection at once. Returns the wall time and the requests.
async fn bare_read(emu: &Emulator, ca: &[u8]) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    let tls = pim::graph::client_config(Some(ca))?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()?;
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
    let base = emu.graph_url();
    let pages = |first: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let mut next = Some(first);
            let mut n = 0usize;
            while let Some(url) = next.take() {
                let body = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                let v: Value = serde_json::from_slice(&body)?;
                n += 1;
                next = v["@odata.nextLink"].as_str().map(str::to_string);
            }
            Ok::<usize, Box<dyn std::error::Error>>(n)
        }
    };
    let t = Instant::now();
    let (e, a, p, r) = futures::try_join!(
        pages(format!(
            "{base}/roleManagement/directory/roleEligibilitySchedules?$top=999"
        )),
        pages(format!(
            "{base}/roleManagement/directory/roleAssignmentSchedules?$top=999"
        )),
        pages(format!(
            "{base}/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'&$expand=policy($expand=rules)"
        )),
        pages(format!(
            "{base}/roleManagement/directory/roleDefinitions?$top=999"
        )),
    )?;
    Ok((t.elapsed().as_secs_f64(), e + a + p + r))
}

/// An emulator seeded with `eligible`/`active` schedules, and a
/// configuration declaring `declared` of them in `dir`.
async fn tenant(
    dir: &Path,
    eligible: usize,
    active: usize,
    declared: usize,
    latency_ms: u64,
) -> Result<(Emulator, PathBuf), Box<dyn std::error::Error>> {
    let config_dir = dir.join(format!("config-{eligible}"));
    std::fs::create_dir_all(&config_dir)?;
    let (seed, upns) = synthetic::one_user_each(eligible, active);
    std::fs::write(
        config_dir.join("bench.pim.hcl"),
        config(&seed, &upns, declared),
    )?;
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        faults: Faults {
            latency_ms,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await?;
    Ok((emu, config_dir))
}

fn plan_args(config_dir: &Path) -> Vec<String> {
    vec![
        "plan".into(),
        "-C".into(),
        config_dir.to_string_lossy().into_owned(),
        "--detailed-exitcode".into(),
    ]
}

fn arg_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Requests of `pim plan` against their lower bound at 1k, 10k and the full size.
async fn requests_table(
    pim: &Path,
    dir: &Path,
    ca: &Path,
    eligible: usize,
    active: usize,
    declared: usize,
    latency_ms: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\npim plan: Graph requests against the lower bound");
    println!(
        "{:>10} {:>8} {:>9} {:>9} {:>6} {:>7}",
        "eligible", "active", "declared", "requests", "bound", "ratio"
    );
    for e in [1_000, 10_000, eligible] {
        let (a, d) = (active * e / eligible, declared * e / eligible);
        let (emu, config_dir) = tenant(dir, e, a, d, latency_ms).await?;
        std::fs::write(ca, emu.ca_pem().unwrap_or_default())?;
        let emu_ref = &emu;
        let r = tokio::task::block_in_place(|| {
            run(pim, emu_ref, ca, &arg_refs(&plan_args(&config_dir)))
        });
        let bound = lower_bound(e, a, d);
        println!(
            "{e:>10} {a:>8} {d:>9} {:>9} {bound:>6} {:>7.2}",
            r.requests,
            r.requests as f64 / bound as f64
        );
        if r.status == 1 || std::env::var_os("PIM_BENCH_ROUTES").is_some() {
            eprintln!("{}\n{:#}", r.stderr, r.by_route);
        }
        emu.stop().await;
    }

    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The emulator's line per request, timed from the start: where a
    // plan's wall time goes, beside the bare read's.
    if std::env::var_os("PIM_BENCH_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_timer(tracing_subscriber::fmt::time::Uptime::default())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let eligible = next(50_000);
    let active = next(5_000);
    let declared = next(5_000);
    let latency_ms = next(20) as u64;

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
    std::fs::create_dir_all(&dir)?;
    let ca = dir.join("ca.pem");
    println!(
        "{latency_ms} ms per request; each eligibility and active assignment its own user, over 60 roles"
    );

    let plan_only = std::env::var_os("PIM_BENCH_PLAN_ONLY").is_some();
    let repeat: usize = std::env::var("PIM_BENCH_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    if !plan_only {
        requests_table(&pim, &dir, &ca, eligible, active, declared, latency_ms).await?;
    }

    println!("\nAt {eligible} eligibilities, {active} active, {declared} declared:");
    let (emu, config_dir) = tenant(&dir, eligible, active, declared, latency_ms).await?;
    let ca_pem = emu.ca_pem().unwrap_or_default().to_string();
    std::fs::write(&ca, &ca_pem)?;
    let export_dir = dir.join("export");
    // On a shared machine one run says little: the bare read and the plan
    // take turns, and the middle run of each is the figure (the plan's
    // peak memory is the highest of its runs).
    let mut bares = Vec::new();
    let mut plans = Vec::new();
    for _ in 0..repeat {
        bares.push(bare_read(&emu, ca_pem.as_bytes()).await?);
        let emu = &emu;
        plans.push(tokio::task::block_in_place(|| {
            run(&pim, emu, &ca, &arg_refs(&plan_args(&config_dir)))
        }));
    }
    bares.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (bare, bare_requests) = bares[bares.len() / 2];
    let highest = plans.iter().map(|p| p.peak_mib).fold(f64::NAN, f64::max);
    plans.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let mut plan = plans.swap_remove(plans.len() / 2);
    plan.peak_mib = highest;
    let (plan, rest) = {
        let emu = &emu;
        let config = config_dir.to_string_lossy().into_owned();
        // The whole runs, unless a profiler wants the plan alone.
        let rest = (!plan_only).then(|| {
            let drift = tokio::task::block_in_place(|| {
                run(
                    &pim,
                    emu,
                    &ca,
                    &["drift", "-C", &config, "--format", "json"],
                )
            });
            let export = tokio::task::block_in_place(|| {
                run(
                    &pim,
                    emu,
                    &ca,
                    &["export", "--out", &export_dir.to_string_lossy()],
                )
            });
            (drift, export)
        });
        (plan, rest)
    };
    println!(
        "{:<30} {bare:>6.2} s wall  {bare_requests:>4} requests",
        "bare read (reqwest, raw JSON)"
    );
    report("pim plan", &plan);
    if let Some((drift, export)) = &rest {
        report("pim drift", drift);
        report("pim export (whole tenant)", export);
    }
    println!(
        "plan / bare read: {:.2} (goal: at most 1.3); plan's emulator CPU {:.2} s (goal: under 1 s)",
        plan.wall / bare,
        plan.emulator_cpu
    );
    emu.stop().await;
    if rest.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    let big = eligible * 4;
    let (emu, config_dir) = tenant(&dir, big, active * 4, declared, latency_ms).await?;
    std::fs::write(&ca, emu.ca_pem().unwrap_or_default())?;
    let big_plan = {
        let emu = &emu;
        tokio::task::block_in_place(|| run(&pim, emu, &ca, &arg_refs(&plan_args(&config_dir))))
    };
    report(&format!("pim plan at {big} eligible"), &big_plan);
    println!(
        "peak memory: {:.1} MiB at {eligible}, {:.1} MiB at {big} ({:.2}x for 4x the schedules; goal: under 150 MiB at {eligible}, no worse than linear)",
        plan.peak_mib,
        big_plan.peak_mib,
        big_plan.peak_mib / plan.peak_mib
    );
    emu.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
