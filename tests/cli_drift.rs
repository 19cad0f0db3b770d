//! `pim drift` as a nightly job runs it: against a separately started
//! emulator after `pim apply` of the example, with the tenant then changed
//! through Graph as someone outside pim would. Quiet when nothing changed,
//! every change reported at once with who made it, acknowledgements taken
//! as known on the next run, holders of exclusive roles always reported.

use crate::support::cli_common::{self, External, text};

use chrono::{Duration, Utc};
use pim::graph::{GrantFilter, Graph as _, GraphWrite as _};
use pim::model::{
    AssignmentKind, Expiration, IsoDuration, RequestAction, RuleId, RuleValue, Schedule,
    ScheduleRequest, Ticket,
};
use serde_json::Value;

const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
const REPORTS_READER: &str = "4a5d8f65-41da-4de4-8968-e035b65339cf";
const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

/// The object id of a user of the example's tenant.
fn user(dir: &std::path::Path, upn: &str) -> String {
    let seed: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tenant.json")).unwrap()).unwrap();
    seed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap_or_else(|| panic!("{upn} in the tenant"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Every finding of the report, whatever its role.
fn findings(report: &Value) -> Vec<Value> {
    report["roles"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r["findings"].as_array().unwrap().clone())
        .collect()
}

fn request(
    action: RequestAction,
    principal: &str,
    role: &str,
    end: Option<chrono::DateTime<Utc>>,
    why: &str,
) -> ScheduleRequest {
    ScheduleRequest {
        surface: Default::default(),
        kind: AssignmentKind::Eligible,
        action,
        principal_id: principal.into(),
        role_id: role.into(),
        scope_id: "/".into(),
        schedule: end.map(|end| Schedule {
            start: Some(Utc::now()),
            expiration: Expiration::At(end),
        }),
        justification: Some(why.into()),
        ticket: Some(Ticket {
            system: Some("ServiceNow".into()),
            number: "INC0042".into(),
        }),
        condition: None,
    }
}

#[test]
fn drift_right_after_an_apply_of_the_example_is_quiet() {
    let dir = cli_common::contoso("drift-quiet", None);
    // A grant with a fixed end four days away: listed as expiring, not drift.
    let ends = (Utc::now() + Duration::days(4)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        dir.join("expiring.pim.hcl"),
        format!(
            "eligibility \"cedric_reports\" {{\n  principal = \"user:cedric.jensen@contoso.com\"\n  role      = \"Reports Reader\"\n  expires   = \"{ends}\"\n}}\n"
        ),
    )
    .unwrap();
    let ext = External::start(&dir, Default::default());
    let out = ext.run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("holders the tenant has now recorded as known"),
        "{}",
        text(&out)
    );

    let out = ext.run(&["drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("No new drift (9 known findings, 1 grant expiring)."),
        "{t}"
    );
    assert!(
        t.contains("+ active user:frank@contoso.com at / since 2025-06-01, permanent [known: held when pim applied on"),
        "the old holders stay visible: {t}"
    );
    assert!(
        t.contains("⟳ eligibility.cedric_reports eligible (user:cedric.jensen@contoso.com) ends"),
        "{t}"
    );
    assert!(t.contains("its expires is fixed: it ends then"), "{t}");

    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert_eq!(
        v["counts"],
        serde_json::json!({"new": 0, "known": 9, "expiring": 1})
    );
    assert_eq!(v["has_drift"], false);
    let md = ext.run(&["drift", "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md));
    assert!(
        text(&md).contains("| Exchange Administrator | 0 | 1 | 0 |"),
        "{}",
        text(&md)
    );
    ext.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outside_changes_are_drift_at_once_and_known_once_acknowledged() {
    let dir = cli_common::contoso("drift-outside", None);
    let ext = External::start(&dir, Default::default());
    let out = ext.run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let alice = user(&dir, "alice@contoso.com");
    let outside = ext.client_as(&alice);
    let rt = &ext.rt;

    // A new holder, a managed grant removed, a rolling one shortened, and a
    // policy rule pim applied changed back.
    let cedric = user(&dir, "cedric.jensen@contoso.com");
    rt.block_on(outside.create_request(&request(
        RequestAction::AdminAssign,
        &cedric,
        REPORTS_READER,
        Some(Utc::now() + Duration::days(60)),
        "quarterly reporting",
    )))
    .unwrap();
    let carol = user(&dir, "carol@contoso.com");
    let security_administrator = "194ae4cb-b126-40b2-bd5b-6091b380977d";
    rt.block_on(outside.create_request(&request(
        RequestAction::AdminRemove,
        &carol,
        security_administrator,
        None,
        "left the team",
    )))
    .unwrap();
    let erin = user(&dir, "erin@contoso.com");
    rt.block_on(outside.create_request(&request(
        RequestAction::AdminUpdate,
        &erin,
        HELPDESK_ADMINISTRATOR,
        Some(Utc::now() + Duration::days(30)),
        "shorter rota",
    )))
    .unwrap();
    let ga_policy = rt
        .block_on(outside.policies(Some(&[GLOBAL_ADMINISTRATOR.into()])))
        .unwrap()
        .remove(0);
    rt.block_on(outside.update_rule(
        &ga_policy.policy_id,
        RuleId::ExpirationEndUserAssignment,
        &RuleValue::Expiration {
            required: true,
            max: Some("PT8H".parse::<IsoDuration>().unwrap()),
        },
    ))
    .unwrap();

    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    let new: Vec<Value> = findings(&v)
        .into_iter()
        .filter(|f| f["new"] == true)
        .collect();
    let find = |what: &str, address: Option<&str>| {
        new.iter()
            .find(|f| f["type"] == what && address.is_none_or(|a| f["address"] == a))
            .unwrap_or_else(|| panic!("{what} {address:?} in {v:#}"))
            .clone()
    };
    let added = find("holder_added", None);
    assert_eq!(added["principal"], "user:cedric.jensen@contoso.com");
    assert_eq!(added["changed_by"]["by"], "user:alice@contoso.com");
    assert_eq!(added["changed_by"]["justification"], "quarterly reporting");
    assert_eq!(added["changed_by"]["ticket"], "ServiceNow INC0042");
    let removed = find("grant_removed", Some("eligibility.carol_security"));
    assert_eq!(removed["changed_by"]["justification"], "left the team");
    assert_eq!(removed["changed_by"]["by"], "user:alice@contoso.com");
    assert!(
        removed["after"].as_object().unwrap().is_empty(),
        "{removed:#}"
    );
    assert!(
        !removed["before"].as_object().unwrap().is_empty(),
        "{removed:#}"
    );
    let shortened = find(
        "grant_changed",
        Some("eligibility.helpdesk[\"user:erin@contoso.com\"]"),
    );
    assert_ne!(
        shortened["before"]["end"], shortened["after"]["end"],
        "{shortened:#}"
    );
    assert_eq!(shortened["changed_by"]["justification"], "shorter rota");
    let policy = find("policy_changed", Some("policy[\"Global Administrator\"]"));
    assert_eq!(
        (&policy["before"]["value"], &policy["after"]["value"]),
        (&"PT4H".into(), &"PT8H".into())
    );
    assert_eq!(v["counts"]["new"], 4, "{v:#}");
    // Plan puts the shortened grant back, as drift, not as a new declaration.
    let plan = json(&ext.run(&["plan", "--format", "json"]));
    let erin_change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "eligibility.helpdesk[\"user:erin@contoso.com\"]")
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(
        (&erin_change["action"], &erin_change["reason"]),
        (&"update".into(), &"drift".into())
    );
    let t = text(&ext.run(&["drift"]));
    assert!(t.contains("by user:alice@contoso.com on "), "{t}");
    assert!(
        t.contains("Drift: 4 new findings in 4 roles (9 known findings)."),
        "{t}"
    );

    let out = ext.run(&["drift", "--acknowledge"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Acknowledged 4 new findings"),
        "{}",
        text(&out)
    );
    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["counts"]["new"], 0, "{v:#}");
    assert!(
        findings(&v)
            .iter()
            .filter(|f| f["known"]
                .as_str()
                .is_some_and(|k| k.starts_with("acknowledged on")))
            .count()
            == 4,
        "{v:#}"
    );
    // A second run after the acknowledgement is as quiet.
    assert_eq!(ext.run(&["drift"]).status.code(), Some(0));

    // The shortened grant changed again: new again.
    rt.block_on(outside.create_request(&request(
        RequestAction::AdminUpdate,
        &erin,
        HELPDESK_ADMINISTRATOR,
        Some(Utc::now() + Duration::days(20)),
        "shorter still",
    )))
    .unwrap();
    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["counts"]["new"], 1, "{v:#}");

    // Apply puts it all back; what it leaves in place is known.
    let out = ext.run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ext.run(&["drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(outside);
    ext.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_holder_of_an_exclusive_role_is_drift_at_once_and_cannot_be_acknowledged() {
    let dir = cli_common::contoso("drift-exclusive", None);
    let ext = External::start(&dir, Default::default());
    let out = ext.run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let outside = ext.client_as(&user(&dir, "alice@contoso.com"));
    let beatrice = user(&dir, "beatrice.jensen@contoso.com");
    ext.rt
        .block_on(outside.create_request(&request(
            RequestAction::AdminAssign,
            &beatrice,
            GLOBAL_ADMINISTRATOR,
            Some(Utc::now() + Duration::days(30)),
            "emergency",
        )))
        .unwrap();
    assert!(
        ext.rt
            .block_on(outside.grants(AssignmentKind::Eligible, &GrantFilter::default()))
            .unwrap()
            .iter()
            .any(|g| g.principal_id.as_str() == beatrice)
    );

    // Seconds old: too young for apply to remove, not for drift to see.
    let out = ext.run(&["drift"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("+ eligible user:beatrice.jensen@contoso.com at / since"),
        "{t}"
    );
    assert!(
        t.contains("exclusive role: apply removes it once Graph allows"),
        "{t}"
    );
    assert!(t.contains("by user:alice@contoso.com on "), "{t}");

    let out = ext.run(&["drift", "--acknowledge"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 holder of exclusive roles is still drift"),
        "{}",
        text(&out)
    );
    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    let f = findings(&v)
        .into_iter()
        .find(|f| f["principal"] == "user:beatrice.jensen@contoso.com")
        .unwrap();
    assert_eq!((&f["new"], &f["exclusive"]), (&true.into(), &true.into()));
    drop(outside);
    ext.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_member_of_an_exclusive_group_is_drift_and_the_plan_removes_it_once_graph_allows() {
    let dir = cli_common::contoso("drift-group", None);
    let ext = External::start(&dir, Default::default());
    let out = ext.run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ext.run(&["drift"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "quiet right after apply: {}",
        text(&out)
    );

    let outside = ext.client_as(&user(&dir, "alice@contoso.com"));
    let beatrice = user(&dir, "beatrice.jensen@contoso.com");
    let tier0_admins = "fb0a86eb-9bf8-5088-b1c9-b5d90238ee55";
    let mut membership = request(
        RequestAction::AdminAssign,
        &beatrice,
        "member",
        Some(Utc::now() + Duration::days(30)),
        "joins the tier-0 group",
    );
    membership.surface = pim::model::SurfaceKind::Group;
    membership.scope_id = tier0_admins.into();
    ext.rt
        .block_on(outside.create_request(&membership))
        .unwrap();

    let out = ext.run(&["drift", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    let f = findings(&v)
        .into_iter()
        .find(|f| f["principal"] == "user:beatrice.jensen@contoso.com")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        (&f["new"], &f["exclusive"]),
        (&true.into(), &true.into()),
        "{f:#}"
    );
    let out = ext.run(&["drift"]);
    assert!(
        text(&out)
            .contains("+ eligible user:beatrice.jensen@contoso.com at group:Tier0 Admins since"),
        "{}",
        text(&out)
    );
    // Seconds old: the plan keeps it until Graph lets it end.
    let out = ext.run(&["plan"]);
    assert!(
        text(&out).contains(
            "role[\"group:Tier0 Admins\"][\"member eligible user:beatrice.jensen@contoso.com\"] began less than 5 minutes ago"
        ),
        "{}",
        text(&out)
    );
    drop(outside);
    ext.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
