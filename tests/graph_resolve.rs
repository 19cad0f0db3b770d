//! Name resolution against the emulator: built-in and custom roles, users,
//! groups, service principals, administrative units; unknown and ambiguous
//! names as diagnostics at the config line, with candidates.

use crate::support::graph_common;

use std::path::PathBuf;

use graph_common::*;
use pim::config::{Location, Pos};
use pim::emulator::{AdministrativeUnitSeed, CustomRole, Faults, Group, ServicePrincipal, Tenant};
use pim::graph::resolve::{Names, ResolveError, resolve_names};
use pim::model::{PrincipalRef, RoleRef, Scope};

fn at(line: usize) -> Location {
    Location {
        file: PathBuf::from("main.pim.hcl"),
        pos: Pos { line, col: 3 },
    }
}

fn tenant() -> Tenant {
    let mut t = generated_tenant(120);
    t.groups = vec![
        Group {
            id: "aaaaaaaa-0000-4000-8000-000000000001".into(),
            display_name: "PIM Approvers".into(),
            is_assignable_to_role: true,
            ..Group::default()
        },
        Group {
            id: "aaaaaaaa-0000-4000-8000-000000000002".into(),
            display_name: "Tier 0".into(),
            is_assignable_to_role: true,
            ..Group::default()
        },
        Group {
            id: "aaaaaaaa-0000-4000-8000-000000000003".into(),
            display_name: "Tier 0".into(),
            is_assignable_to_role: true,
            ..Group::default()
        },
        Group {
            id: "aaaaaaaa-0000-4000-8000-000000000004".into(),
            display_name: "O'Brien Admins".into(),
            is_assignable_to_role: true,
            ..Group::default()
        },
    ];
    t.service_principals = vec![ServicePrincipal {
        id: "bbbbbbbb-0000-4000-8000-000000000001".into(),
        app_id: "cccccccc-0000-4000-8000-000000000001".into(),
        display_name: "Deploy Bot".into(),
    }];
    t.administrative_units = vec![AdministrativeUnitSeed {
        id: "dddddddd-0000-4000-8000-000000000001".into(),
        display_name: "Paris Office".into(),
        description: None,
    }];
    t.custom_roles = vec![CustomRole {
        id: "eeeeeeee-0000-4000-8000-000000000001".into(),
        display_name: "Tier 0 Reader".into(),
        ..CustomRole::default()
    }];
    t
}

#[tokio::test]
async fn resolves_every_kind_of_name_in_few_calls() {
    let emu = emulator(tenant(), Faults::default()).await;
    let graph = client_with_token(&emu);
    let mut names = Names::default();
    for (i, p) in [
        "user:user1@contoso.com",
        "user:USER2@contoso.com",
        "group:PIM Approvers",
        "group:O'Brien Admins",
        "sp:Deploy Bot",
        "sp:cccccccc-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000003",
    ]
    .iter()
    .enumerate()
    {
        names
            .principals
            .insert(p.parse::<PrincipalRef>().unwrap().normalized(), at(i + 1));
    }
    names
        .roles
        .insert(RoleRef::parse("Global Administrator"), at(10));
    names.roles.insert(RoleRef::parse("tier 0 reader"), at(11));
    names.scopes.insert(
        "/administrativeUnits/Paris Office"
            .parse::<Scope>()
            .unwrap(),
        at(12),
    );
    names.scopes.insert(Scope::Directory, at(13));
    let r = resolve_names(&graph, &names).await.unwrap();
    let p = |s: &str| r.principal(&s.parse().unwrap()).map(str::to_string);
    assert_eq!(p("user:user1@contoso.com"), Some(user_id(1)));
    assert_eq!(p("user:user2@contoso.com"), Some(user_id(2)));
    assert_eq!(
        p("group:PIM Approvers").as_deref(),
        Some("aaaaaaaa-0000-4000-8000-000000000001")
    );
    assert_eq!(
        p("group:O'Brien Admins").as_deref(),
        Some("aaaaaaaa-0000-4000-8000-000000000004")
    );
    assert_eq!(
        p("sp:Deploy Bot").as_deref(),
        Some("bbbbbbbb-0000-4000-8000-000000000001")
    );
    assert_eq!(
        p("sp:cccccccc-0000-4000-8000-000000000001").as_deref(),
        Some("bbbbbbbb-0000-4000-8000-000000000001")
    );
    assert_eq!(p("00000000-0000-4000-8000-000000000003"), Some(user_id(3)));
    assert_eq!(
        r.role(&RoleRef::parse("Global Administrator")),
        Some("62e90394-69f5-4237-9190-012177145e10")
    );
    assert_eq!(
        r.role(&RoleRef::parse("tier 0 reader")),
        Some("eeeeeeee-0000-4000-8000-000000000001")
    );
    assert_eq!(
        r.scope(&"/administrativeUnits/Paris Office".parse().unwrap()),
        Some("/administrativeUnits/dddddddd-0000-4000-8000-000000000001")
    );
    // roleDefinitions + one $batch of six lookups + one getByIds.
    assert_eq!(graph.stats().requests(), 3);
    emu.stop().await;
}

#[tokio::test]
async fn unknown_and_ambiguous_names_point_at_the_config_with_candidates() {
    let emu = emulator(tenant(), Faults::default()).await;
    let graph = client_with_token(&emu);
    let mut names = Names::default();
    names
        .principals
        .insert("user:usr1@contoso.com".parse().unwrap(), at(4));
    names
        .principals
        .insert("group:PIM Aprovers".parse().unwrap(), at(7));
    names
        .principals
        .insert("group:Tier 0".parse().unwrap(), at(9));
    names.principals.insert(
        "00000000-0000-4000-8000-0000000fffff".parse().unwrap(),
        at(11),
    );
    names.roles.insert(RoleRef::parse("Tier 0 Reeder"), at(13));
    let Err(ResolveError::Invalid(d)) = resolve_names(&graph, &names).await else {
        panic!("expected diagnostics")
    };
    let text = d.to_string();
    assert_eq!(d.errors().count(), 5, "{text}");
    assert!(text.contains("main.pim.hcl:4:3: error: principal \"user:usr1@contoso.com\" does not exist in the tenant"), "{text}");
    assert!(
        text.contains("main.pim.hcl:7:3: error: principal \"group:PIM Aprovers\" does not exist"),
        "{text}"
    );
    assert!(text.contains("did you mean \"PIM Approvers\"?"), "{text}");
    assert!(text.contains("main.pim.hcl:9:3: error: principal \"group:Tier 0\" is ambiguous: 2 objects have that name"), "{text}");
    assert!(
        text.contains("aaaaaaaa-0000-4000-8000-000000000002")
            && text.contains("aaaaaaaa-0000-4000-8000-000000000003"),
        "{text}"
    );
    assert!(
        text.contains(
            "main.pim.hcl:11:3: error: no user, group or service principal has object id"
        ),
        "{text}"
    );
    assert!(
        text.contains("main.pim.hcl:13:3: error: unknown role \"Tier 0 Reeder\""),
        "{text}"
    );
    assert!(text.contains("did you mean \"Tier 0 Reader\""), "{text}");
    emu.stop().await;
}

#[tokio::test]
async fn groups_that_cannot_hold_roles_and_unknown_units_are_reported_together() {
    let mut t = tenant();
    t.groups.push(Group {
        id: "aaaaaaaa-0000-4000-8000-000000000005".into(),
        display_name: "Helpdesk Staff".into(),
        is_assignable_to_role: false,
        ..Group::default()
    });
    t.administrative_units.push(AdministrativeUnitSeed {
        id: "dddddddd-0000-4000-8000-000000000002".into(),
        display_name: "Lyon Office".into(),
        description: None,
    });
    let emu = emulator(t, Faults::default()).await;
    let graph = client_with_token(&emu);
    let mut names = Names::default();
    let staff: PrincipalRef = "group:Helpdesk Staff".parse().unwrap();
    names.principals.insert(staff.clone(), at(4));
    names.holders.insert(staff.clone(), at(4));
    names
        .scopes
        .insert(Scope::AdministrativeUnit("Headquarters".into()), at(6));
    let (resolution, d) = pim::graph::resolve::resolve_all(&graph, &names)
        .await
        .unwrap();
    let text = d.to_string();
    assert_eq!(d.errors().count(), 2, "{text}");
    assert!(text.contains("main.pim.hcl:4:3: error: principal \"group:Helpdesk Staff\" cannot hold a directory role: it is not role-assignable (isAssignableToRole is false)"), "{text}");
    assert!(
        text.contains("main.pim.hcl:6:3: error: administrative unit \"/administrativeUnits/Headquarters\" does not exist in the tenant"),
        "{text}"
    );
    assert!(
        text.contains(
            "hint: the tenant's administrative units: \"Lyon Office\" or \"Paris Office\""
        ),
        "{text}"
    );
    // What did resolve is kept, so the plan can go on and report its own problems.
    assert_eq!(
        resolution.principal(&staff),
        Some("aaaaaaaa-0000-4000-8000-000000000005")
    );

    // Named by object id, the same group is refused the same way.
    let mut names = Names::default();
    let by_id: PrincipalRef = "aaaaaaaa-0000-4000-8000-000000000005".parse().unwrap();
    names.principals.insert(by_id.clone(), at(8));
    names.holders.insert(by_id, at(8));
    let (_, d) = pim::graph::resolve::resolve_all(&graph, &names)
        .await
        .unwrap();
    assert!(
        d.to_string().contains("main.pim.hcl:8:3: error: group aaaaaaaa-0000-4000-8000-000000000005 cannot hold a directory role"),
        "{d}"
    );

    // The same group as an approver (not a holder) is fine.
    let mut names = Names::default();
    names.principals.insert(staff.clone(), at(4));
    let (_, d) = pim::graph::resolve::resolve_all(&graph, &names)
        .await
        .unwrap();
    assert!(!d.has_errors(), "{d}");
    emu.stop().await;
}

#[tokio::test]
async fn users_are_resolved_fifteen_to_a_filter_twenty_filters_to_a_batch() {
    // 12,000 schedules over six roles: 1,000 users.
    let emu = emulator(generated_tenant(12_000), Faults::default()).await;
    let graph = client_with_token(&emu);
    let mut names = Names::default();
    for i in 0..1000 {
        let upn = format!("user:user{i}@contoso.com");
        names
            .principals
            .insert(upn.parse::<PrincipalRef>().unwrap().normalized(), at(i + 1));
    }
    let r = resolve_names(&graph, &names).await.unwrap();
    for i in [0, 1, 14, 15, 299, 300, 999] {
        assert_eq!(
            r.principal(&format!("user:user{i}@contoso.com").parse().unwrap()),
            Some(user_id(i).as_str()),
            "user{i}"
        );
    }
    // 1,000 names: 67 filters of at most 15, in 4 batches of at most 20.
    assert_eq!(graph.stats().requests(), 4);
    emu.stop().await;
}

#[tokio::test]
async fn groups_granted_access_to_resolve_as_groups_whether_role_assignable_or_not() {
    let mut t = tenant();
    t.groups.push(Group {
        id: "aaaaaaaa-0000-4000-8000-000000000005".into(),
        display_name: "Helpdesk Staff".into(),
        is_assignable_to_role: false,
        ..Group::default()
    });
    let emu = emulator(t, Faults::default()).await;
    let graph = client_with_token(&emu);
    let config = format!(
        r#"
eligibility "staff" {{
  principal = "user:user1@contoso.com"
  group     = "group:Helpdesk Staff"
  duration  = "P30D"
}}
eligibility "typo" {{
  principal = "user:user1@contoso.com"
  group     = "group:PIM Approver"
  duration  = "P30D"
}}
eligibility "a_user" {{
  principal = "user:user1@contoso.com"
  group     = "{}"
  duration  = "P30D"
}}
"#,
        user_id(2)
    );
    let desired = pim::config::load_sources(
        std::path::Path::new("."),
        vec![(PathBuf::from("main.pim.hcl"), config)],
        &pim::config::LoadOptions::at(chrono::Utc::now()),
    )
    .unwrap();
    let names = Names::of(&desired);
    let (resolution, d) = pim::graph::resolve::resolve_all(&graph, &names)
        .await
        .unwrap();
    let text = d.to_string();
    // Holding a group's membership needs no role-assignable group.
    assert!(!text.contains("role-assignable"), "{text}");
    assert_eq!(
        resolution.scope(&Scope::Group("Helpdesk Staff".into())),
        Some("aaaaaaaa-0000-4000-8000-000000000005")
    );
    assert!(
        text.contains(
            "main.pim.hcl:9:15: error: group \"PIM Approver\" does not exist in the tenant"
        ),
        "{text}"
    );
    assert!(text.contains("did you mean \"PIM Approvers\"?"), "{text}");
    assert!(
        text.contains(&format!(
            "main.pim.hcl:14:15: error: {} is not a group",
            user_id(2)
        )),
        "{text}"
    );
    assert_eq!(d.errors().count(), 2, "{text}");
    emu.stop().await;
}

/// Graph answers the `$batch` itself 200 and throttles requests inside it:
/// those 429s lower the client's parallelism as a 429 to a call of its
/// own does, and the names are all resolved once Graph lets them through.
#[tokio::test]
async fn throttling_inside_a_read_batch_lowers_the_parallelism() {
    let emu = emulator(
        generated_tenant(3_600),
        Faults {
            // The batch and ten of its twenty lookups in the first second.
            throttle_per_second: Some(11),
            ..Faults::default()
        },
    )
    .await;
    let graph = client_with_token(&emu);
    let mut names = Names::default();
    for i in 0..300 {
        let upn = format!("user:user{i}@contoso.com");
        names
            .principals
            .insert(upn.parse::<PrincipalRef>().unwrap().normalized(), at(i + 1));
    }
    let r = resolve_names(&graph, &names).await.unwrap();
    for i in [0, 150, 299] {
        assert_eq!(
            r.principal(&format!("user:user{i}@contoso.com").parse().unwrap()),
            Some(user_id(i).as_str()),
            "user{i}"
        );
    }
    assert!(
        graph.stats().retries() >= 1,
        "the throttled lookups were retried"
    );
    assert_eq!(
        graph.parallelism_cuts(),
        1,
        "one throttling episode, one cut"
    );
    emu.stop().await;
}
