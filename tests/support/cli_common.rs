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

/// `pim` with `args` in `dir`, run to its end.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    pim(dir, args, &[]).output().unwrap()
}

/// `pim export --from source --out out`, with `extra` arguments.
pub fn export(source: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pim"))
        .arg("export")
        .args(extra)
        .arg("--from")
        .arg(source)
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1")
        .env_remove("PIM_GRAPH_URL")
        .output()
        .unwrap()
}

/// A file of `dir`, which the test expects there.
pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
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

/// An emulator started apart from `pim`, as a user would run `pim
/// emulator`: `pim` reaches it through `PIM_GRAPH_URL`, and the test
/// changes the tenant through its Graph API, as someone outside pim would.
pub struct External {
    pub dir: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub emu: pim::emulator::Emulator,
    ca: PathBuf,
}

impl External {
    /// The emulator seeded with `dir`'s tenant.json, configured by `config`.
    pub fn start(dir: &Path, config: pim::emulator::EmulatorConfig) -> External {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seed = pim::emulator::Tenant::from_file(dir.join("tenant.json")).unwrap();
        let emu = rt
            .block_on(pim::emulator::Emulator::start(
                pim::emulator::EmulatorConfig {
                    seed: Some(seed),
                    ..config
                },
            ))
            .unwrap();
        let ca = dir.join("emulator-ca.pem");
        std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();
        External {
            dir: dir.to_path_buf(),
            rt,
            emu,
            ca,
        }
    }

    /// `pim` signed in as the application `client_id`.
    pub fn run_as(&self, client_id: &str, args: &[&str]) -> Output {
        pim(
            &self.dir,
            args,
            &[
                ("PIM_GRAPH_URL", &self.emu.graph_url()),
                ("AZURE_AUTHORITY_HOST", self.emu.authority_host()),
                ("AZURE_TENANT_ID", &self.emu.tenant_id()),
                ("AZURE_CLIENT_ID", client_id),
                ("AZURE_CLIENT_SECRET", "any"),
                ("PIM_CA_CERT", self.ca.to_str().unwrap()),
            ],
        )
        .output()
        .unwrap()
    }

    /// `pim` signed in as the pipeline's application.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_as("pim-ci", args)
    }

    /// A Graph client signed in as the user `object_id`, for changes made
    /// outside pim.
    pub fn client_as(&self, object_id: &str) -> pim::graph::HttpGraph {
        let token = self.emu.mint_token(object_id, true);
        pim::graph::HttpGraph::with_token_source(
            crate::support::graph_common::settings(&self.emu, crate::support::graph_common::SECRET),
            std::sync::Arc::new(pim::graph::StaticToken(token)),
        )
        .expect("client builds")
    }

    pub fn stop(self) {
        let External { rt, emu, .. } = self;
        rt.block_on(emu.stop());
    }
}

/// Fails unless `v` is valid against `schemas/NAME`, the schema pim
/// documents for that output.
#[track_caller]
pub fn assert_schema(name: &str, v: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("schemas/{name}")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{v:#}");
}
