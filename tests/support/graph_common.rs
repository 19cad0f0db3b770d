//! Shared helpers of the `graph_*` tests: an in-process emulator with TLS,
//! a client that signs in through azure_identity's client-secret flow
//! against the emulator's token endpoint, and generated tenants.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pim::emulator::{
    Application, Emulator, EmulatorConfig, Faults, ScheduleSeed, Tenant, TokenFormat, User,
};
use pim::graph::{AuthMethod, GraphSettings, HttpGraph, RetryPolicy, StaticToken};

pub const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "s3cret-value";

/// `sp:Legacy Sync` of examples/contoso, which holds Global Administrator.
pub const LEGACY_SYNC: &str = "7c7534dc-0467-59c2-9dc0-bf82b6866efe";
pub const LEGACY_SYNC_APP: &str = "4b5f9311-65b8-5934-b1b2-5d7814f9b2c3";
/// `user:alice@contoso.com` of examples/contoso.
pub const CONTOSO_ALICE: &str = "fe07ce2f-d86e-5850-9fa9-21872500fd0a";
/// An application of the contoso tenant that has no service principal.
pub const NO_SP_APP: &str = "22222222-3333-4444-5555-666666666666";

/// examples/contoso, whose Legacy Sync (and a second application without a
/// service principal) sign in with [`SECRET`].
pub fn contoso() -> Tenant {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/contoso/tenant.json");
    let mut t = Tenant::from_file(path).expect("contoso seed");
    for app_id in [LEGACY_SYNC_APP, NO_SP_APP] {
        t.applications.push(Application {
            app_id: app_id.into(),
            display_name: None,
            secrets: vec![SECRET.into()],
        });
    }
    t
}

/// An emulator over TLS issuing tokens in `token_format`.
pub async fn emulator_with(seed: Tenant, token_format: TokenFormat) -> Emulator {
    Emulator::start(EmulatorConfig {
        seed: Some(seed),
        token_format,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

pub async fn emulator(seed: Tenant, faults: Faults) -> Emulator {
    let mut seed = seed;
    if seed.applications.is_empty() {
        seed.applications.push(pim::emulator::Application {
            app_id: APP_ID.into(),
            display_name: Some("pim tests".into()),
            secrets: vec![SECRET.into()],
        });
    }
    Emulator::start(EmulatorConfig {
        seed: Some(seed),
        faults,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

/// Settings the way the CLI builds them, from a `tenant` block and an environment.
pub fn settings(emu: &Emulator, secret: &str) -> GraphSettings {
    settings_for(emu, APP_ID, secret)
}

/// [`settings`] signing in as the application `client_id`.
pub fn settings_for(emu: &Emulator, client_id: &str, secret: &str) -> GraphSettings {
    let env: HashMap<String, String> = [
        ("PIM_GRAPH_URL", emu.graph_url()),
        ("AZURE_AUTHORITY_HOST", emu.authority_host().to_string()),
        ("AZURE_TENANT_ID", emu.tenant_id()),
        ("AZURE_CLIENT_ID", client_id.to_string()),
        ("AZURE_CLIENT_SECRET", secret.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut s = GraphSettings::from_tenant(
        &pim::config::TenantSettings::default(),
        &env,
        AuthMethod::Auto,
    )
    .expect("valid settings");
    s.ca_pem = emu.ca_pem().map(str::to_string);
    s.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    s
}

/// A client authenticating with a client secret through azure_identity.
pub fn client(emu: &Emulator) -> HttpGraph {
    HttpGraph::new(settings(emu, SECRET)).expect("client builds")
}

/// A client with an emulator-minted token (no token endpoint involved).
pub fn client_with_token(emu: &Emulator) -> HttpGraph {
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", true);
    HttpGraph::with_token_source(settings(emu, SECRET), Arc::new(StaticToken(token)))
        .expect("client builds")
}

pub const ROLES: [&str; 6] = [
    "62e90394-69f5-4237-9190-012177145e10", // Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
    "729827e3-9c14-49f7-bb1b-9608f156bbb8", // Helpdesk Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451", // Global Reader
    "194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
];

pub fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// A tenant with `n` schedules: about two thirds eligibilities, the rest
/// active assignments, spread over users and six roles, with fixed times
/// so that two emulators seeded alike hold exactly the same data.
pub fn generated_tenant(n: usize) -> Tenant {
    let users = n.div_ceil(ROLES.len() * 2).max(1);
    let mut t = Tenant::empty();
    for i in 0..users {
        t.users.push(User {
            id: user_id(i),
            display_name: format!("User {i}"),
            user_principal_name: format!("user{i}@contoso.com"),
            ..User::default()
        });
    }
    for k in 0..n {
        let (user, rest) = (k % users, k / users);
        let role = ROLES[rest % ROLES.len()];
        let eligible = rest / ROLES.len() == 0;
        let seed = ScheduleSeed {
            principal: user_id(user),
            role: role.to_string(),
            scope: "/".into(),
            start: Some("2026-01-01T00:00:00Z".into()),
            end: (k % 3 == 0).then(|| "2030-01-01T00:00:00Z".to_string()),
            created_using: Some(format!("00000000-0000-4000-9000-{k:012x}")),
            created_date_time: Some("2026-01-01T00:00:00Z".into()),
            member_type: (k % 50 == 7).then(|| "Group".to_string()),
            ..ScheduleSeed::default()
        };
        if eligible {
            t.eligibility_schedules.push(seed);
        } else {
            t.assignment_schedules.push(seed);
        }
    }
    t
}
