//! `$filter` answered through indexes: the same objects, in the same order
//! and pages, as reading every object; objects added at run time found at
//! once; Graph's limit of fifteen values to an `in`.

use super::{
    ALICE, BOB, ELIGIBLE, GA, GLOBAL_READER, HELPDESK, NOW, for_duration, harness, request, tenant,
};
use crate::emulator_common::{Harness, assert_graph_error, at};
use pim_emulator::{EmulatorClock, EmulatorConfig, Faults, Group, ServicePrincipal, Tenant, User};
use serde_json::Value;

/// An `or` with a `startswith` no object meets: the same filter, which no
/// index can answer, so every object is read and evaluated.
fn scanned(filter: &str) -> String {
    format!("({filter}) or startswith(id,'~')")
}

fn user(n: usize, upn: &str, name: &str) -> User {
    User {
        id: format!("f0000000-0000-4000-8000-{n:012}"),
        display_name: name.into(),
        user_principal_name: upn.into(),
        mail: n
            .is_multiple_of(3)
            .then(|| format!("Mail.{n}@Fabrikam.com")),
        job_title: None,
        account_enabled: n < 118,
    }
}

/// The test tenant and 120 more users, a dozen of whom share each of ten
/// display names, some with non-ASCII names and mail.
fn crowded() -> Tenant {
    let mut t = tenant();
    for n in 0..120 {
        let name = match n % 10 {
            0 => "Émilie Dupont".to_string(),
            1 => "ÉMILIE DUPONT".to_string(),
            k => format!("Namesake {k}"),
        };
        t.users
            .push(user(n, &format!("Crowd.{n:03}@Fabrikam.com"), &name));
    }
    t
}

async fn crowded_harness() -> Harness {
    Harness::start(EmulatorConfig {
        seed: Some(crowded()),
        tls: false,
        clock: EmulatorClock::fixed(at(NOW)),
        ..EmulatorConfig::default()
    })
    .await
}

/// Every page of `path`, following `@odata.nextLink`: the ids in order and
/// the number of pages.
async fn walk(h: &Harness, path: &str) -> (Vec<String>, usize) {
    let mut url = path.to_string();
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        pages += 1;
        ids.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return (ids, pages),
        }
    }
}

async fn values(h: &Harness, path: &str) -> Vec<Value> {
    let r = h.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["value"].as_array().unwrap().clone()
}

fn field(v: &[Value], name: &str) -> Vec<String> {
    v.iter()
        .map(|x| x[name].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn indexed_filters_answer_as_the_scan_does() {
    let h = crowded_harness().await;
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "/v1.0/users",
            "userPrincipalName eq 'ALICE@fabrikam.COM'".into(),
            vec!["alice@fabrikam.com"],
        ),
        (
            "/v1.0/users",
            // Mixed case, a repeat, an unknown name, values out of order.
            "userPrincipalName in ('crowd.007@fabrikam.com','BOB@FABRIKAM.COM','nobody@fabrikam.com','Crowd.007@Fabrikam.com','alice@fabrikam.com')".into(),
            vec!["alice@fabrikam.com", "bob@fabrikam.com", "Crowd.007@Fabrikam.com"],
        ),
        (
            "/v1.0/users",
            format!("id in ('{}', '{BOB}', '{ALICE}')", ALICE.to_uppercase()),
            vec!["alice@fabrikam.com", "bob@fabrikam.com"],
        ),
        (
            "/v1.0/users",
            "userPrincipalName eq 'nobody@fabrikam.com'".into(),
            vec![],
        ),
        (
            "/v1.0/users",
            "mail eq 'MAIL.3@fabrikam.com'".into(),
            vec!["Crowd.003@Fabrikam.com"],
        ),
        (
            "/v1.0/users",
            // An `and` answered by its indexed side, the other evaluated.
            "displayName eq 'namesake 2' and startswith(userPrincipalName,'crowd.0')".into(),
            vec![
                "Crowd.002@Fabrikam.com",
                "Crowd.012@Fabrikam.com",
                "Crowd.022@Fabrikam.com",
                "Crowd.032@Fabrikam.com",
                "Crowd.042@Fabrikam.com",
                "Crowd.052@Fabrikam.com",
                "Crowd.062@Fabrikam.com",
                "Crowd.072@Fabrikam.com",
                "Crowd.082@Fabrikam.com",
                "Crowd.092@Fabrikam.com",
            ],
        ),
        (
            "/v1.0/users",
            // An `or` of two properties: both sides indexed.
            "userPrincipalName eq 'crowd.119@fabrikam.com' or id eq 'a0000000-0000-4000-8000-000000000001'".into(),
            vec!["bob@fabrikam.com", "Crowd.119@Fabrikam.com"],
        ),
        (
            "/v1.0/users",
            // Outside ASCII, `eq` compares lower cases: both spellings match.
            "displayName eq 'émilie dupont' and userPrincipalName in ('crowd.000@fabrikam.com','crowd.001@fabrikam.com','crowd.002@fabrikam.com')".into(),
            vec!["Crowd.000@Fabrikam.com", "Crowd.001@Fabrikam.com"],
        ),
        (
            "/v1.0/users",
            // Not a string: the scan answers.
            "accountEnabled eq false".into(),
            vec!["Crowd.118@Fabrikam.com", "Crowd.119@Fabrikam.com"],
        ),
        (
            "/v1.0/users",
            // `ne` reads everything, through the scan.
            "userPrincipalName ne 'alice@fabrikam.com' and displayName eq 'Bob'".into(),
            vec!["bob@fabrikam.com"],
        ),
    ];
    for (set, filter, expected) in &cases {
        let indexed = values(&h, &format!("{set}?$filter={filter}&$top=999")).await;
        let scan = values(&h, &format!("{set}?$filter={}&$top=999", scanned(filter))).await;
        assert_eq!(indexed, scan, "{filter}");
        assert_eq!(field(&indexed, "userPrincipalName"), *expected, "{filter}");
    }
    let groups = values(
        &h,
        "/v1.0/groups?$filter=displayName in ('tier0 ADMINS','All Staff','Nobody')",
    )
    .await;
    assert_eq!(field(&groups, "displayName"), ["Tier0 Admins", "All Staff"]);
    for filter in [
        "appId in ('D0000000-0000-4000-8000-000000000001','d0000000-0000-4000-8000-000000000001')",
        "displayName eq 'PIM-CI'",
        "id eq 'C0000000-0000-4000-8000-000000000001'",
    ] {
        let sps = values(&h, &format!("/v1.0/servicePrincipals?$filter={filter}")).await;
        assert_eq!(field(&sps, "displayName"), ["pim-ci"], "{filter}");
        let scan = values(
            &h,
            &format!("/v1.0/servicePrincipals?$filter={}", scanned(filter)),
        )
        .await;
        assert_eq!(sps, scan);
    }
    let aus = values(
        &h,
        "/v1.0/directory/administrativeUnits?$filter=displayName in ('paris office')",
    )
    .await;
    assert_eq!(field(&aus, "id"), ["e0000000-0000-4000-8000-000000000001"]);
}

#[tokio::test]
async fn an_indexed_result_pages_as_the_scan_does() {
    let h = crowded_harness().await;
    let names = "displayName in ('Namesake 3','NAMESAKE 5','namesake 9')";
    for top in ["", "&$top=7", "&$top=5"] {
        let (indexed, pages) =
            walk(&h, &format!("/v1.0/users?$filter={names}{top}&$count=true")).await;
        let (scan, _) = walk(&h, &format!("/v1.0/users?$filter={}{top}", scanned(names))).await;
        assert_eq!(indexed.len(), 36, "a dozen of each name");
        assert_eq!(indexed, scan, "same order, same pages{top}");
        let per_page = top
            .strip_prefix("&$top=")
            .map_or(100, |n| n.parse().unwrap());
        assert_eq!(pages, 36usize.div_ceil(per_page), "{top}");
        let mut sorted = indexed.clone();
        sorted.sort();
        assert_eq!(indexed, sorted, "the collection's order");
    }
    let first = h
        .get(&format!("/v1.0/users?$filter={names}&$count=true&$top=5"))
        .await;
    assert_eq!(first.body["@odata.count"], 36);
    assert_eq!(first.body["value"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn an_in_of_more_than_fifteen_values_is_refused() {
    let h = crowded_harness().await;
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("'crowd.{i:03}@fabrikam.com'"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ok = values(
        &h,
        &format!("/v1.0/users?$filter=userPrincipalName in ({})", list(15)),
    )
    .await;
    assert_eq!(ok.len(), 15);
    let r = h
        .get(&format!(
            "/v1.0/users?$filter=userPrincipalName in ({})",
            list(16)
        ))
        .await;
    assert_eq!(
        assert_graph_error(&r, 400, "Request_UnsupportedQuery"),
        "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15."
    );
    // Anywhere in the filter, and on every directory collection.
    let names = (0..16)
        .map(|i| format!("'g{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    for path in [
        format!("/v1.0/groups?$filter=isAssignableToRole eq true and displayName in ({names})"),
        format!("/v1.0/servicePrincipals?$filter=not (displayName in ({names}))"),
        format!("/v1.0/directory/administrativeUnits?$filter=displayName in ({names})"),
    ] {
        assert_graph_error(&h.get(&path).await, 400, "Request_UnsupportedQuery");
    }
}

#[tokio::test]
async fn objects_added_at_run_time_are_found_through_the_index() {
    // New objects reach PIM late; the directory knows them at once.
    let h = Harness::with_faults(
        tenant(),
        Faults {
            new_object_delay_ms: 30_000,
            ..Faults::default()
        },
    )
    .await;
    let upn = "Late.Hire@Fabrikam.com";
    let filter = "userPrincipalName in ('late.hire@fabrikam.com','alice@fabrikam.com')";
    assert_eq!(
        values(&h, &format!("/v1.0/users?$filter={filter}"))
            .await
            .len(),
        1
    );
    h.emu
        .add_user(User {
            id: "A0000000-0000-4000-8000-0000000000FE".into(),
            display_name: "Late Hire".into(),
            user_principal_name: upn.into(),
            ..User::default()
        })
        .unwrap();
    let found = values(&h, &format!("/v1.0/users?$filter={filter}")).await;
    assert_eq!(
        field(&found, "userPrincipalName"),
        ["alice@fabrikam.com", upn],
        "after the seeded users, as listed"
    );
    assert_eq!(
        found,
        values(&h, &format!("/v1.0/users?$filter={}", scanned(filter))).await
    );
    let by_id = values(
        &h,
        "/v1.0/users?$filter=id eq 'a0000000-0000-4000-8000-0000000000fe'",
    )
    .await;
    assert_eq!(field(&by_id, "userPrincipalName"), [upn]);

    h.emu
        .add_group(Group {
            id: "b0000000-0000-4000-8000-0000000000fe".into(),
            display_name: "Late Group".into(),
            ..Group::default()
        })
        .unwrap();
    let g = values(&h, "/v1.0/groups?$filter=displayName eq 'LATE GROUP'").await;
    assert_eq!(field(&g, "id"), ["b0000000-0000-4000-8000-0000000000fe"]);
    h.emu
        .add_service_principal(ServicePrincipal {
            id: "c0000000-0000-4000-8000-0000000000fe".into(),
            app_id: "d0000000-0000-4000-8000-0000000000fe".into(),
            display_name: "late-app".into(),
        })
        .unwrap();
    let sp = values(
        &h,
        "/v1.0/servicePrincipals?$filter=appId in ('D0000000-0000-4000-8000-0000000000FE')",
    )
    .await;
    assert_eq!(field(&sp, "displayName"), ["late-app"]);
    let by_name = h
        .get("/v1.0/servicePrincipals(appId='d0000000-0000-4000-8000-0000000000fe')")
        .await;
    assert_eq!(by_name.body["displayName"], "late-app");
    // Back to the seed: the indexes forget what was added.
    h.emu.reset().unwrap();
    assert!(
        values(&h, "/v1.0/groups?$filter=displayName eq 'Late Group'")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn schedule_filters_answer_as_the_scan_does() {
    let h = harness().await;
    let set = "/v1.0/roleManagement/directory/roleEligibilitySchedules";
    let mut made = Vec::new();
    for role in [HELPDESK, GA, GLOBAL_READER] {
        let r = h
            .post(
                ELIGIBLE,
                &request("adminAssign", BOB, role, Some(for_duration("P10D"))),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        made.push(r.body["targetScheduleId"].as_str().unwrap().to_string());
    }
    let created = made[1].clone();
    let filters = [
        format!("roleDefinitionId eq '{}'", HELPDESK.to_uppercase()),
        format!(
            "principalId eq '{BOB}' and roleDefinitionId eq '{GA}' and directoryScopeId eq '/'"
        ),
        format!(
            "principalId in ('{}','{ALICE}','{BOB}')",
            BOB.to_uppercase()
        ),
        format!("id eq '{}'", created.to_uppercase()),
        format!("roleDefinitionId eq '{HELPDESK}' and principalId ne '{BOB}'"),
        "principalId eq 'nobody'".to_string(),
    ];
    let mut seen = 0;
    for f in &filters {
        for what in [
            "roleEligibilitySchedules",
            "roleEligibilityScheduleInstances",
        ] {
            let path = format!("/v1.0/roleManagement/directory/{what}");
            let indexed = values(&h, &format!("{path}?$filter={f}")).await;
            let scan = values(&h, &format!("{path}?$filter={}", scanned(f))).await;
            assert_eq!(indexed, scan, "{what}: {f}");
            seen += indexed.len();
        }
    }
    assert!(seen > 20, "the filters find schedules: {seen}");
    let mine = values(&h, &format!("{set}?$filter=id eq '{created}'")).await;
    assert_eq!(field(&mine, "principalId"), [BOB]);
    let instance = values(
        &h,
        &format!("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=roleEligibilityScheduleId eq '{created}'"),
    )
    .await;
    assert_eq!(instance.len(), 1);
    let instance_id = instance[0]["id"].as_str().unwrap();
    let by_id = values(
        &h,
        &format!("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=id eq '{instance_id}'"),
    )
    .await;
    assert_eq!(by_id, instance);
    let one = h.get(&format!("{set}/{created}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let one = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances/{instance_id}"
        ))
        .await;
    assert_eq!(one.body["roleEligibilityScheduleId"], created.as_str());

    // Removed, it is gone from the index too; the others stay where they were.
    let before = values(&h, &format!("{set}?$filter=principalId eq '{BOB}'")).await;
    h.emu.clock().advance(chrono::TimeDelta::minutes(10));
    let r = h
        .post(ELIGIBLE, &request("adminRemove", BOB, GA, None))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let after = values(&h, &format!("{set}?$filter=principalId eq '{BOB}'")).await;
    assert_eq!(field(&before, "id"), made);
    assert_eq!(field(&after, "id"), [made[0].clone(), made[2].clone()]);
    assert!(
        values(&h, &format!("{set}?$filter=id eq '{created}'"))
            .await
            .is_empty()
    );
    assert_eq!(h.get(&format!("{set}/{created}")).await.status, 404);
}
