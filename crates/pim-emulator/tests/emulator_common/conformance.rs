//! Replaying documented request/response pairs: loading the fixture files
//! and comparing an answer with the example's (status, shape, field
//! names, JSON types, enum values, `@odata.*` annotations; ids and
//! timestamps may differ).

use serde_json::Value;

/// Keys whose string values are enums or annotations: they must match exactly.
pub const EXACT: &[&str] = &[
    "@odata.context",
    "@odata.type",
    "status",
    "action",
    "type",
    "assignmentType",
    "memberType",
    "caller",
    "level",
    "scopeId",
    "scopeType",
    "directoryScopeId",
    "recipientType",
    "notificationType",
    "notificationLevel",
    "approvalMode",
    "reviewResult",
    "code",
    "message",
];

/// Arrays the emulator leaves empty: built-in role permissions are not modelled.
const NOT_MODELLED: &[&str] = &["allowedResourceActions", "inheritsPermissionsFrom"];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `expected` must be in `actual` with the same JSON type
/// (`null` in the example accepts anything), enum values equal; keys in
/// `skip` (an example's known defects) are not compared, at any depth.
pub fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    key: &str,
    skip: &[&str],
    errors: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                if skip.contains(&k.as_str()) {
                    continue;
                }
                match a.get(k) {
                    None => errors.push(format!("{path}: missing key {k:?}")),
                    Some(av) => compare(ev, av, &format!("{path}.{k}"), k, skip, errors),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if a.is_empty() && NOT_MODELLED.contains(&key) {
                return;
            }
            if !e.is_empty() && a.is_empty() {
                errors.push(format!("{path}: expected {} items, got none", e.len()));
                return;
            }
            for (i, ev) in e.iter().enumerate() {
                let av = ev
                    .get("id")
                    .and_then(|id| a.iter().find(|x| x.get("id") == Some(id)))
                    .or_else(|| {
                        ev.get("id").and_then(Value::as_str).and_then(|id| {
                            a.iter().find(|x| {
                                x.get("id").and_then(Value::as_str).is_some_and(|y| {
                                    y.ends_with(id.rsplit('_').next().unwrap_or(id))
                                })
                            })
                        })
                    })
                    // ARM resources: ids differ by a scope alias, names do not.
                    .or_else(|| {
                        ev.get("name")
                            .filter(|n| n.is_string())
                            .and_then(|n| a.iter().find(|x| x.get("name") == Some(n)))
                    })
                    .unwrap_or(&a[i.min(a.len() - 1)]);
                compare(ev, av, &format!("{path}[{i}]"), key, skip, errors);
            }
            if key == "operations" && expected != actual {
                errors.push(format!("{path}: {expected} != {actual}"));
            }
        }
        (Value::String(e), Value::String(a)) => {
            if EXACT.contains(&key) && e != a {
                errors.push(format!("{path}: {e:?} != {a:?}"));
            }
        }
        (e, a) if kind(e) == kind(a) => {}
        (e, a) => errors.push(format!(
            "{path}: expected {} ({e}), got {} ({a})",
            kind(e),
            kind(a)
        )),
    }
}

pub struct Fixture {
    pub name: String,
    pub method: String,
    pub url: String,
    pub body: Option<Value>,
    pub status: u16,
    pub response: Option<Value>,
}

/// The fixtures of `dir`, by file name.
pub fn load_fixtures(dir: &std::path::Path) -> Vec<Fixture> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            Fixture {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                method: v["request"]["method"].as_str().unwrap().to_string(),
                url: v["request"]["url"].as_str().unwrap().to_string(),
                body: v["request"].get("body").filter(|b| !b.is_null()).cloned(),
                status: v["response"]["status"].as_u64().unwrap() as u16,
                response: v["response"].get("body").filter(|b| !b.is_null()).cloned(),
            }
        })
        .collect()
}
