//! The plan as JSON, in the shape `schemas/plan.schema.json` documents.

use serde_json::{Map, Value, json};

use crate::config::{Diagnostics, Location};
use crate::plan::{Attr, PLAN_FORMAT_VERSION, Plan, Step};

fn attrs(a: &Option<Vec<Attr>>) -> Value {
    match a {
        None => Value::Null,
        Some(list) => Value::Object(
            list.iter()
                .map(|x| (x.name.clone(), Value::String(x.value.clone())))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The plan as a JSON document.
pub fn plan_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let mut v = json!({
                "address": c.address.to_string(),
                "action": c.action.as_str(),
                "reason": c.reason,
                "role": c.role,
                "before": attrs(&c.before),
                "after": attrs(&c.after),
                "origin": c.origin.as_ref().map(Location::for_json),
            });
            v["surface"] = json!(match &c.step {
                Step::Grant { subject, .. } => subject.surface,
                Step::Rules(p) => p.surface,
            });
            match &c.step {
                Step::Grant { schedule_id, requests, .. } => {
                    v["schedule_id"] = json!(schedule_id);
                    v["requests"] = requests
                        .iter()
                        .map(|r| {
                            json!({
                                "action": r.action.as_str(),
                                "kind": r.kind,
                                "principal_id": r.principal_id,
                                "role_id": r.role_id,
                                "scope_id": r.scope_id,
                            })
                        })
                        .collect();
                }
                Step::Rules(p) => {
                    v["policy_id"] = json!(p.policy_id);
                    v["rules"] = p
                        .settings
                        .iter()
                        .map(|s| json!({"rule": s.rule, "setting": s.setting, "before": s.before, "after": s.after}))
                        .collect();
                }
            }
            v
        })
        .collect();
    let unmanaged: Vec<Value> = plan
        .unmanaged
        .iter()
        .map(|u| {
            json!({
                "kind": u.kind, "principal": u.principal, "role": u.role, "scope": u.scope,
                "end": u.end, "schedule_id": u.schedule_id,
            })
        })
        .collect();
    json!({
        "format_version": plan.format_version,
        "created_at": plan.created_at,
        "basis": plan.basis,
        "summary": plan.summary,
        "has_changes": plan.summary.has_changes(),
        "changes": changes,
        "unmanaged": unmanaged,
        "warnings": plan.warnings,
        // A refused plan is shown in full; its refusals are its errors.
        "diagnostics": plan.refusals.iter().map(|r| json!({
            "severity": "error",
            "message": r.message,
            "location": r.origin.as_ref().map(Location::for_json),
            "hint": r.hint,
        })).collect::<Vec<_>>(),
    })
}

/// A failed plan as JSON: no changes, every diagnostic.
pub fn plan_json_errors(diags: &Diagnostics) -> Value {
    let diagnostics: Vec<Value> = diags
        .0
        .iter()
        .map(|d| {
            json!({
                "severity": if d.is_error() { "error" } else { "warning" },
                "message": d.message,
                "location": d.location().map(Location::for_json),
                "hint": d.hint,
            })
        })
        .collect();
    json!({
        "format_version": PLAN_FORMAT_VERSION,
        "has_changes": false,
        "changes": [],
        "unmanaged": [],
        "warnings": [],
        "diagnostics": diagnostics,
    })
}
