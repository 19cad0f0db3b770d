//! Running `pim` as a user would, on a private copy of the contoso example
//! (its embedded emulator's data file and the state stay in the copy).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn pim(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pim"));
    c.args(args)
        .arg("-C")
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .env_remove("PIM_STORAGE_ENDPOINT")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `pim` with these arguments and nothing else: for what is decided before
/// any configuration is read.
pub fn pim_args(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A copy of examples/contoso in a fresh directory; with `latency_ms`, its
/// embedded emulator answers every Graph request that much later.
pub fn contoso(name: &str, latency_ms: Option<u64>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir("examples/contoso").unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.ends_with(".pim.hcl") || n == "tenant.json" {
            std::fs::copy(&p, dir.join(n)).unwrap();
        }
    }
    if let Some(ms) = latency_ms {
        let path = dir.join("tenant.json");
        let mut seed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        seed["faults"] = serde_json::json!({ "latencyMs": ms });
        std::fs::write(&path, serde_json::to_vec_pretty(&seed).unwrap()).unwrap();
    }
    dir
}

/// Two `pim apply` runs on the same state: the second starts once the
/// first has finished a step, so while the first holds the lock.
pub struct Concurrent {
    /// The first run's process id.
    pub pid: u32,
    pub first: Output,
    pub second: Output,
    /// Whether the first was still running when the second had ended: the
    /// second did not wait for the lock.
    pub second_ended_first: bool,
}

pub fn concurrent_applies(dir: &Path, env: &[(&str, &str)]) -> Concurrent {
    let args = ["apply", "--auto-approve"];
    let mut first = pim(dir, &args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    let mut stderr = BufReader::new(first.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the first apply ended before any step: {seen}");
        seen.push_str(&line);
        if line.contains(" done (") {
            break;
        }
    }
    let second = pim(dir, &args, env).output().unwrap();
    let second_ended_first = first.try_wait().unwrap().is_none();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut out = first.wait_with_output().unwrap();
    out.stderr = format!("{seen}{rest}").into_bytes();
    Concurrent {
        pid,
        first: out,
        second,
        second_ended_first,
    }
}
