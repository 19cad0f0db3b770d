//! The shipped CI files, read as YAML: the release workflow, the action,
//! the example workflows and pipelines. Nothing here runs them (no runner,
//! no network); it checks what can be checked offline: their structure,
//! that they never build pim, that each `pim` command line parses with
//! pim's own argument parser, that every exit status is tested by name,
//! and that what one file hands to another (artifacts, templates, targets,
//! inputs) matches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Parser as _;
use serde_norway::Value;

const TARGETS: [&str; 6] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
    "aarch64-pc-windows-msvc",
];

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {dir}");
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn github_workflows() -> Vec<PathBuf> {
    let mut files = yaml_files(".github/workflows");
    files.extend(yaml_files("examples/github-actions"));
    files
}

fn azure_pipelines() -> Vec<PathBuf> {
    yaml_files("examples/azure-pipelines")
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

fn mapping<'a>(v: &'a Value, what: &str) -> &'a serde_norway::Mapping {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping: {v:?}"))
}

/// Every list under a `steps` key, however deep (Azure stages, jobs,
/// deployment strategies).
fn step_lists(v: &Value, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("steps") {
                    out.push(
                        v.as_sequence()
                            .unwrap_or_else(|| panic!("steps is not a list: {v:?}"))
                            .clone(),
                    );
                } else {
                    step_lists(v, out);
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| step_lists(v, out)),
        _ => {}
    }
}

/// Every step of a file, and the shell script of those that run one.
fn steps(doc: &Value) -> Vec<Value> {
    let mut lists = Vec::new();
    step_lists(doc, &mut lists);
    lists.into_iter().flatten().collect()
}

const SCRIPT_KEYS: [&str; 3] = ["run", "script", "bash"];

fn script_of(step: &Value) -> Option<String> {
    for k in SCRIPT_KEYS {
        if let Some(s) = step.get(k) {
            return Some(str_of(s, k).to_string());
        }
    }
    step.get("inputs")
        .and_then(|i| i.get("inlineScript"))
        .map(|s| str_of(s, "inlineScript").to_string())
}

/// Every script of every file: the workflows', the action's, the pipelines'.
fn all_scripts() -> Vec<(PathBuf, String)> {
    let mut files = github_workflows();
    files.extend(azure_pipelines());
    files.push("action.yml".into());
    files
        .into_iter()
        .flat_map(|f| {
            let doc = load(&f);
            steps(&doc)
                .iter()
                .filter_map(script_of)
                .map(|s| (f.clone(), s))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Lines with backslash continuations joined.
fn logical_lines(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in script.lines() {
        let t = line.trim();
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Shell words, quotes removed; enough for the command lines written here.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// The `pim …` commands a script runs: its arguments, up to a redirection
/// or the end of the command.
fn pim_commands(script: &str) -> Vec<Vec<String>> {
    logical_lines(script)
        .iter()
        .filter(|l| l.starts_with("pim "))
        .map(|l| {
            words(l)
                .into_iter()
                .take_while(|w| !matches!(w.as_str(), ">" | ">>" | "|" | "&&" | ";" | "2>&1"))
                .take_while(|w| !w.starts_with('>') && !w.starts_with("2>"))
                .collect()
        })
        .collect()
}

#[test]
fn every_workflow_action_and_pipeline_is_yaml_with_steps() {
    for f in github_workflows() {
        let doc = load(&f);
        assert!(doc.get("on").is_some(), "{}: no trigger", f.display());
        let jobs = mapping(&doc["jobs"], "jobs");
        assert!(!jobs.is_empty(), "{}: no jobs", f.display());
        for (name, job) in jobs {
            let name = str_of(name, "job name");
            assert!(
                job.get("runs-on").is_some(),
                "{}: job {name} has no runs-on",
                f.display()
            );
            let steps = job["steps"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{}: job {name} has no steps", f.display()));
            assert!(!steps.is_empty(), "{}: job {name}", f.display());
            for s in steps {
                let kinds = ["uses", "run"]
                    .iter()
                    .filter(|k| s.get(**k).is_some())
                    .count();
                assert_eq!(
                    kinds,
                    1,
                    "{}: {name}: a step uses or runs: {s:?}",
                    f.display()
                );
            }
        }
    }

    let action = load(Path::new("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let action_steps = action["runs"]["steps"].as_sequence().unwrap();
    assert!(!action_steps.is_empty());
    for s in action_steps.iter().filter(|s| s.get("run").is_some()) {
        assert_eq!(s["shell"], "bash", "composite run steps name their shell");
    }

    for f in azure_pipelines() {
        let doc = load(&f);
        let steps = steps(&doc);
        assert!(!steps.is_empty(), "{}: no steps", f.display());
        for s in &steps {
            let kinds = [
                "script", "bash", "task", "template", "checkout", "publish", "download",
            ]
            .iter()
            .filter(|k| s.get(**k).is_some())
            .count();
            assert_eq!(kinds, 1, "{}: a step of one kind: {s:?}", f.display());
            if s.get("task").is_some() {
                assert!(s.get("inputs").is_some(), "{}: {s:?}", f.display());
            }
        }
    }
}

#[test]
fn the_action_uses_each_input_and_sets_each_output() {
    let action = load(Path::new("action.yml"));
    let text = std::fs::read_to_string("action.yml").unwrap();
    let steps_text = serde_norway::to_string(&action["runs"]["steps"]).unwrap();
    let inputs = mapping(&action["inputs"], "inputs");
    assert!(inputs.len() >= 2);
    assert_eq!(action["inputs"]["version"]["default"], "latest");
    for (name, _) in inputs {
        let name = str_of(name, "input");
        assert!(
            steps_text.contains(&format!("inputs.{name} ")),
            "input {name} is never used"
        );
    }
    let ids: BTreeMap<&str, String> = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s.get("id")?.as_str()?, script_of(s)?)))
        .collect();
    for (name, out) in mapping(&action["outputs"], "outputs") {
        let value = str_of(&out["value"], "output value");
        let (id, key) = value
            .trim_start_matches("${{")
            .trim_end_matches("}}")
            .trim()
            .strip_prefix("steps.")
            .and_then(|r| r.split_once(".outputs."))
            .unwrap_or_else(|| panic!("output {name:?}: {value}"));
        let script = ids
            .get(id)
            .unwrap_or_else(|| panic!("output {name:?} reads step {id}, which is not there"));
        assert!(
            script.contains(&format!("{key}=")) && script.contains("$GITHUB_OUTPUT"),
            "step {id} never writes {key}"
        );
    }
    // The archives the release publishes, for every runner, checked.
    for t in TARGETS {
        assert!(text.contains(&format!(") target={t} ;;")), "{t}");
    }
    for os in ["Linux", "macOS", "Windows"] {
        for arch in ["X64", "ARM64"] {
            assert!(text.contains(&format!("{os}/{arch})")), "{os}/{arch}");
        }
    }
    assert!(text.contains("asset=\"pim-$target.zip\""));
    assert!(text.contains("asset=\"pim-$target.tar.gz\""));
    assert!(text.contains("/SHA256SUMS"));
    assert!(text.contains("if [ \"$actual\" != \"$expected\" ]"));
    assert!(text.contains(">> \"$GITHUB_PATH\""));
}

#[test]
fn the_release_builds_six_static_targets_with_checksums() {
    let doc = load(Path::new(".github/workflows/release.yml"));
    assert_eq!(doc["on"]["push"]["tags"][0], "v*");
    let matrix = doc["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap();
    let targets: BTreeSet<&str> = matrix
        .iter()
        .map(|m| str_of(&m["target"], "target"))
        .collect();
    assert_eq!(targets, TARGETS.into_iter().collect(), "the release matrix");
    assert_eq!(matrix.len(), 6);
    for m in matrix {
        let (t, os) = (str_of(&m["target"], "target"), str_of(&m["os"], "os"));
        let expected = if t.contains("linux") {
            "ubuntu"
        } else if t.contains("darwin") {
            "macos"
        } else {
            "windows"
        };
        assert!(os.starts_with(expected), "{t} on {os}");
        let archive = if t.contains("windows") {
            "zip"
        } else {
            "tar.gz"
        };
        assert_eq!(m["archive"], archive, "{t}");
    }
    let build: Vec<String> = doc["jobs"]["build"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(script_of)
        .collect();
    let all = build.join("\n");
    assert!(all.contains("cargo build --release --locked --target \"${{ matrix.target }}\""));
    assert!(all.contains("musl-tools"));
    assert!(all.contains("ldd"), "the musl binaries are checked static");
    assert!(all.contains("name=\"pim-${{ matrix.target }}\""));
    let flags = str_of(
        &doc["jobs"]["build"]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Build")
            .unwrap()["env"]["RUSTFLAGS"],
        "RUSTFLAGS",
    );
    assert!(
        flags.contains("crt-static"),
        "Windows links its C runtime statically"
    );

    let publish = &doc["jobs"]["publish"];
    assert_eq!(publish["needs"], "build");
    assert_eq!(publish["permissions"]["contents"], "write");
    let scripts: String = publish["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(script_of)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(scripts.contains("sha256sum pim-*.tar.gz pim-*.zip > SHA256SUMS"));
    assert!(
        scripts.contains("-ne 6"),
        "publishing counts the six archives"
    );
    assert!(scripts.contains("gh release create \"$TAG\""));
    assert!(scripts.contains("dist/*"));
    // What it packages exists.
    assert!(all.contains("README.md") && Path::new("README.md").is_file());
}

#[test]
fn ci_runs_the_ci_script() {
    let doc = load(Path::new(".github/workflows/ci.yml"));
    let scripts: Vec<String> = steps(&doc).iter().filter_map(script_of).collect();
    assert!(scripts.iter().any(|s| s.trim() == "bash .ci/run"));
    assert!(Path::new(".ci/run").is_file());
    assert!(doc["on"].get("pull_request").is_some());
}

#[test]
fn the_examples_install_a_release_and_never_build_pim() {
    let mut seen_action = 0;
    for f in yaml_files("examples/github-actions") {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("cargo "), "{} runs cargo", f.display());
        let doc = load(&f);
        for job in mapping(&doc["jobs"], "jobs").values() {
            let steps = job["steps"].as_sequence().unwrap();
            let runs_pim = steps
                .iter()
                .filter_map(script_of)
                .any(|s| !pim_commands(&s).is_empty());
            let installs = steps.iter().any(|s| {
                s.get("uses")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with("pim-as-code/pim@"))
                    && s["with"].get("version").is_some()
            });
            assert_eq!(
                runs_pim,
                installs,
                "{}: a job running pim installs it",
                f.display()
            );
            seen_action += usize::from(installs);
        }
    }
    assert!(seen_action >= 4);

    let template = Path::new("examples/azure-pipelines/install-pim.yml");
    let install = std::fs::read_to_string(template).unwrap();
    assert!(install.contains("sha256sum -c expected"));
    assert!(install.contains("/SHA256SUMS"));
    for f in azure_pipelines() {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("cargo "), "{} runs cargo", f.display());
        let doc = load(&f);
        let steps = steps(&doc);
        // Each template named exists beside the file.
        for s in &steps {
            if let Some(t) = s.get("template") {
                let p = f.parent().unwrap().join(str_of(t, "template"));
                assert!(p.is_file(), "{}: {} is not there", f.display(), p.display());
            }
        }
        if f != template {
            let runs_pim = steps
                .iter()
                .filter_map(script_of)
                .any(|s| !pim_commands(&s).is_empty());
            let installs = steps.iter().any(|s| s["template"] == "install-pim.yml");
            assert!(runs_pim && installs, "{}", f.display());
        }
    }
}

#[test]
fn every_pim_command_line_parses() {
    let mut commands = BTreeSet::new();
    for (f, script) in all_scripts() {
        for args in pim_commands(&script) {
            let line = args.join(" ");
            if let Err(e) = pim::cli::Cli::try_parse_from(&args) {
                panic!("{}: `{line}`: {e}", f.display());
            }
            commands.insert(args[1].clone());
        }
    }
    assert_eq!(
        commands,
        ["apply", "drift", "plan", "show"]
            .map(String::from)
            .into_iter()
            .collect(),
        "the commands the examples run"
    );
}

/// The exit statuses a `case` after `code=…` names: `0|2)` names 0 and 2.
fn case_arms(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let (arm, _) = l.split_once(')')?;
            (!arm.is_empty()
                && arm
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '|' || c == '*'))
            .then(|| arm.split('|').map(String::from).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

#[test]
fn every_exit_status_is_tested_by_name() {
    let mut checked = 0;
    for (f, script) in all_scripts() {
        let cmds = pim_commands(&script);
        let Some(args) = cmds.first() else { continue };
        if args[1] == "--version" {
            continue;
        }
        let at = |what: &str| script.find(what);
        let lines = logical_lines(&script);
        let call = lines.iter().position(|l| l.starts_with("pim ")).unwrap();
        // bash -e would end the step at pim's status before it is read.
        assert!(
            at("set +e").is_some_and(|i| i < at(&format!("pim {}", args[1])).unwrap()),
            "{}: `set +e` before pim {}",
            f.display(),
            args[1]
        );
        let next = lines[call + 1..].iter().find(|l| !l.is_empty()).unwrap();
        assert!(
            next == "code=$?" || next == "code=${PIPESTATUS[0]}",
            "{}: the status is kept right after pim {}: {next}",
            f.display(),
            args[1]
        );
        assert!(script.contains("case \"$code\" in"), "{}", f.display());
        let arms = case_arms(&script);
        let two = args[1] == "drift" || args.iter().any(|a| a == "--detailed-exitcode");
        let mut expected: BTreeSet<String> = ["0", "1", "*"].map(String::from).into();
        if two {
            expected.insert("2".into());
        }
        assert_eq!(arms, expected, "{}: pim {}", f.display(), args[1]);
        // Whatever is not 0 or 2 fails the step.
        let tail = &script[at("1)").unwrap()..];
        assert!(tail.contains("exit 1"), "{}", f.display());
        checked += 1;
    }
    assert!(checked >= 8, "{checked} scripts");
}

#[test]
fn apply_runs_the_saved_plan_behind_an_environment() {
    // GitHub: the pull request's plan is saved and kept...
    let plan = load(Path::new("examples/github-actions/pim-plan.yml"));
    let plan_steps = plan["jobs"]["plan"]["steps"].as_sequence().unwrap();
    let plan_script = plan_steps.iter().filter_map(script_of).collect::<String>();
    let saved = pim_commands(&plan_script)
        .into_iter()
        .find(|a| a[1] == "plan")
        .unwrap();
    let out = &saved[saved.iter().position(|a| a == "--out").unwrap() + 1];
    let upload = plan_steps
        .iter()
        .find(|s| {
            s.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .unwrap();
    let artifact = str_of(&upload["with"]["name"], "artifact");
    assert!(out.starts_with(str_of(&upload["with"]["path"], "path")));
    assert!(plan_script.contains("gh pr comment"));

    // ...and applied after the merge, behind the environment.
    let apply = load(Path::new("examples/github-actions/pim-apply.yml"));
    assert_eq!(apply["on"]["push"]["branches"][0], "main");
    let text = std::fs::read_to_string("examples/github-actions/pim-apply.yml").unwrap();
    assert!(text.contains("actions/workflows/pim-plan.yml/runs"));
    assert!(Path::new("examples/github-actions/pim-plan.yml").is_file());
    assert_eq!(apply["concurrency"]["cancel-in-progress"], false);
    let jobs = mapping(&apply["jobs"], "jobs");
    let mut applied = 0;
    for (name, job) in jobs {
        let steps = job["steps"].as_sequence().unwrap();
        let downloads: Vec<&Value> = steps
            .iter()
            .filter(|s| {
                s.get("uses")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with("actions/download-artifact@"))
            })
            .collect();
        for s in steps.iter().filter_map(script_of) {
            for a in pim_commands(&s).iter().filter(|a| a[1] == "apply") {
                applied += 1;
                assert!(
                    a.last().unwrap().ends_with("plan.bin"),
                    "apply takes the saved plan"
                );
                assert_eq!(job["environment"], "pim-production", "job {name:?}");
                assert_eq!(job["permissions"]["id-token"], "write");
                assert!(job.get("needs").is_some());
                assert!(downloads.iter().any(|d| d["with"]["name"] == artifact));
            }
        }
    }
    assert_eq!(applied, 1);
    // The saved-plan job reads the pull request run's artifact by name.
    let find = &apply["jobs"]["saved-plan"]["steps"];
    assert!(
        find.as_sequence()
            .unwrap()
            .iter()
            .any(|s| { s["with"]["name"] == artifact && s["with"].get("run-id").is_some() })
    );

    // Azure Pipelines: the same artifact, a deployment job to an environment.
    let plan = load(Path::new("examples/azure-pipelines/pim-plan.yml"));
    let published = steps(&plan)
        .into_iter()
        .find(|s| s.get("publish").is_some())
        .unwrap();
    let artifact = str_of(&published["artifact"], "artifact").to_string();
    let apply = load(Path::new("examples/azure-pipelines/pim-apply.yml"));
    let download = steps(&apply)
        .into_iter()
        .find(|s| s["task"] == "DownloadPipelineArtifact@2")
        .unwrap();
    assert_eq!(download["inputs"]["artifactName"], artifact.as_str());
    let deployment = apply["stages"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|s| s["jobs"].as_sequence().unwrap())
        .find(|j| j.get("deployment").is_some())
        .unwrap();
    assert_eq!(deployment["environment"], "pim-production");
    let deploy_steps = deployment["strategy"]["runOnce"]["deploy"]["steps"]
        .as_sequence()
        .unwrap();
    let cmds: Vec<Vec<String>> = deploy_steps
        .iter()
        .filter_map(script_of)
        .flat_map(|s| pim_commands(&s))
        .collect();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0][1], "apply");
    assert!(cmds[0].last().unwrap().ends_with("/plan.bin"));
    assert!(
        deploy_steps
            .iter()
            .any(|s| s["download"] == "current" && s["artifact"] == artifact.as_str())
    );
}

#[test]
fn state_is_reached_through_the_pipeline_identity() {
    // The azurerm backend signs in with Entra ID unless one of these is set.
    for (f, script) in all_scripts() {
        for var in [
            "AZURE_STORAGE_KEY",
            "ARM_ACCESS_KEY",
            "AZURE_STORAGE_SAS_TOKEN",
        ] {
            assert!(!script.contains(var), "{}: {var}", f.display());
        }
        for args in pim_commands(&script) {
            if args[1] == "show" {
                continue;
            }
            let auth = &args[args.iter().position(|a| a == "--auth").unwrap() + 1];
            let expected = if f.starts_with("examples/azure-pipelines") {
                "azure-cli"
            } else {
                "workload-identity"
            };
            assert_eq!(auth, expected, "{}: {args:?}", f.display());
        }
    }
}

#[test]
fn the_dockerfile_builds_a_static_binary_on_a_minimal_base() {
    let text = std::fs::read_to_string("Dockerfile").unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains("alpine") && froms[0].ends_with(" AS build"));
    assert!(froms[1].starts_with("FROM gcr.io/distroless/static"));
    assert!(text.contains("cargo build --release --locked --bin pim"));
    assert!(text.contains("COPY --from=build /out/pim /usr/local/bin/pim"));
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/pim\"]"));
    assert!(text.contains("USER nonroot"));
    // rustls and no OpenSSL: the static base has no libssl to find.
    let lock = std::fs::read_to_string("Cargo.lock").unwrap();
    assert!(!lock.contains("name = \"openssl-sys\""));
    assert!(lock.contains("name = \"rustls\""));
    let ignore = std::fs::read_to_string(".dockerignore").unwrap();
    assert!(ignore.lines().any(|l| l == "target/"));
}
