//! Random and mutated input never makes the loader or the formatter panic:
//! whatever the bytes, the answer is a `Desired` or diagnostics.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use pim::config::{self, LoadOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Seed configurations; each entry's files are joined into one text.
const SEEDS: &[&[&str]] = &[
    &[
        "tests/fixtures/valid/full/main.pim.hcl",
        "tests/fixtures/valid/full/grants.pim.hcl",
    ],
    &["examples/minimal/main.pim.hcl"],
    &["tests/fixtures/valid/typed/main.pim.hcl"],
];

/// Fragments that are likely to reach deep into the loader when spliced in.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "=",
    "${",
    "%{",
    "<<EOT\n",
    "\nEOT\n",
    "#",
    "/*",
    "*/",
    "//",
    "\n",
    "each.value",
    "each.key",
    "var.x",
    "local.y",
    "toset(",
    "format(\"%d\", ",
    "length(",
    "merge(",
    "null",
    "true",
    "-1",
    "1e999",
    "\"P-1D\"",
    "\"PT0S\"",
    "\"P99999999999D\"",
    "for_each = ",
    "permanent = true",
    "principal = ",
    "role = ",
    "\"user:\"",
    "\"group:\"",
    "eligibility \"x\" {",
    "policy \"\" {",
    "locals { a = local.a }",
    "variable \"v\" {}",
    "type = list(object({ a = optional(string) }))",
    "type = strng",
    "validation { condition = can(regex(\"^x\", var.v)) error_message = \"x\" }",
    "sensitive = true",
    "nullable = false",
    "\u{0}",
    "é",
    "\t",
    "\r\n",
    "...",
    "?",
    ":",
    "!",
];

fn opts() -> LoadOptions {
    let mut o = LoadOptions::at(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    o.env.push(("PIM_VAR_domain".into(), "contoso.com".into()));
    o
}

/// Loads and formats `text`; true when it loaded.
fn check(text: &str) -> bool {
    let files = vec![(PathBuf::from("fuzz/main.pim.hcl"), text.to_string())];
    let _ = config::fmt::format_source(text);
    match config::load_sources(Path::new("fuzz"), files, &opts()) {
        Ok(_) => true,
        Err(e) => {
            // Rendering is what users see; it must not panic either.
            let _ = e.diagnostics().to_string();
            false
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match *e {
            Edit::Delete(at, len) => {
                let at = at % n;
                let end = (at + len % 16).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            Edit::Insert(at, frag) => {
                let at = (at % n).min(chars.len());
                let f = FRAGMENTS[frag % FRAGMENTS.len()];
                chars.splice(at..at, f.chars());
            }
            Edit::Duplicate(at, len) => {
                let at = (at % n).min(chars.len());
                let end = (at + len % 64).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                chars.splice(end..end, copy);
            }
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
    ]
}

fn runner(cases: u32) -> TestRunner {
    // A fixed seed keeps the test deterministic; the cases still cover a
    // wide spread of inputs.
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        rng,
    )
}

#[test]
fn mutated_configurations_never_panic() {
    let seeds: Vec<String> = SEEDS
        .iter()
        .map(|files| {
            files
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    for seed in &seeds {
        let files = vec![(PathBuf::from("fuzz/main.pim.hcl"), seed.clone())];
        if let Err(e) = config::load_sources(Path::new("fuzz"), files, &opts()) {
            panic!("a seed does not load:\n{}", e.diagnostics());
        }
    }
    let strategy = (0..seeds.len(), proptest::collection::vec(edit(), 1..4));
    let (loaded, rejected) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner(1500)
        .run(&strategy, |(i, edits)| {
            let counter = if check(&apply(&seeds[i], &edits)) {
                &loaded
            } else {
                &rejected
            };
            counter.set(counter.get() + 1);
            Ok(())
        })
        .unwrap();
    // Both outcomes occur, so the mutations reach evaluation and validation,
    // not just the parser.
    let (loaded, rejected) = (loaded.get(), rejected.get());
    assert!(
        loaded > 50 && rejected > 50,
        "loaded {loaded}, rejected {rejected}"
    );
}

#[test]
fn random_text_never_panics() {
    let strategy = prop_oneof![any::<String>(), "[a-z_ \"{}\\[\\]=.,:$#\n0-9()%<>-]{0,200}",];
    runner(1500)
        .run(&strategy, |text| {
            check(&text);
            Ok(())
        })
        .unwrap();
}
