//! `schemas/config.schema.json` agrees with the loader: the same block and
//! attribute names, valid configurations validate, unknown names do not.

use std::collections::BTreeSet;
use std::path::Path;

use pim::config::schema::{self, BlockSchema};
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string("schemas/config.schema.json").unwrap()).unwrap()
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap(),
        None => node,
    }
}

/// The body schema of a block: labeled blocks are maps of bodies.
fn body<'a>(root: &'a Value, node: &'a Value, labeled: bool) -> &'a Value {
    let node = resolve(root, node);
    if labeled {
        if let Some(inner) = node.get("additionalProperties").filter(|v| v.is_object()) {
            return resolve(root, inner);
        }
        // notification blocks list their labels (events) as properties.
        let first = node["properties"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        return resolve(root, first);
    }
    node
}

fn compare(root: &Value, node: &Value, block: &BlockSchema, path: &str) {
    if block.open {
        assert_eq!(
            node["additionalProperties"],
            Value::Bool(true),
            "{path} is open"
        );
        return;
    }
    let props: BTreeSet<String> = node["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut names: BTreeSet<String> = block.attributes.iter().map(|s| s.to_string()).collect();
    names.extend(block.blocks.iter().map(|b| b.name.to_string()));
    assert_eq!(props, names, "{path}: schema and loader disagree");
    assert_eq!(
        node["additionalProperties"],
        Value::Bool(false),
        "{path} must reject unknown names"
    );
    for inner in block.blocks {
        let labeled = !matches!(inner.labels, schema::Labels::None);
        let child = body(root, &node["properties"][inner.name], labeled);
        compare(root, child, inner, &format!("{path}.{}", inner.name));
    }
}

#[test]
fn schema_names_match_the_loader() {
    let root = schema();
    compare(&root, &root, &schema::ROOT, "root");
}

fn as_json(path: &Path) -> Value {
    hcl::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in walk(Path::new(dir)) {
        if entry.to_string_lossy().ends_with(".pim.hcl") {
            out.push(entry);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn valid_configurations_validate_and_unknown_names_do_not() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut valid = config_files("examples");
    valid.extend(config_files("tests/fixtures/valid"));
    assert!(!valid.is_empty());
    for path in &valid {
        let errors: Vec<String> = validator
            .iter_errors(&as_json(path))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for bad in ["unknown_attribute", "unknown_block"] {
        let path = Path::new("tests/fixtures/invalid")
            .join(bad)
            .join("main.pim.hcl");
        assert!(
            !validator.is_valid(&as_json(&path)),
            "{bad} should not validate"
        );
    }
}

#[test]
fn variable_types_and_validations_validate_in_either_json_form() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let one = "variable \"v\" {\n  type = list(string)\n  validation {\n    condition     = length(var.v) > 0\n    error_message = \"Not empty.\"\n  }\n}\n";
    let two = format!(
        "{}  validation {{\n    condition     = true\n    error_message = \"x\"\n  }}\n}}\n",
        one.trim_end().trim_end_matches('}')
    );
    for (text, valid) in [
        (one.to_string(), true),
        (two.clone(), true),
        (one.replace("error_message", "message"), false),
        (
            two.replace("condition     = true", "conditon = true"),
            false,
        ),
        (
            one.replace("  type", "  sensitive = \"yes\"\n  type"),
            false,
        ),
    ] {
        let json: Value = hcl::from_str(&text).unwrap();
        assert_eq!(validator.is_valid(&json), valid, "{json}");
    }
}
