//! End-to-end tests of the emulator over HTTP, one module per concern; the
//! seeded tenant, its ids and the request builders they share are here.
//! Time is fixed with `EmulatorClock::fixed`; faults are seeded.

mod emulator_common;

#[path = "emulator/auth.rs"]
mod auth;
#[path = "emulator/durations.rs"]
mod durations;
#[path = "emulator/faults.rs"]
mod faults;
#[path = "emulator/fidelity.rs"]
mod fidelity;
#[path = "emulator/groups.rs"]
mod groups;
#[path = "emulator/indexes.rs"]
mod indexes;
#[path = "emulator/odata.rs"]
mod odata;
#[path = "emulator/policies.rs"]
mod policies;
#[path = "emulator/requests.rs"]
mod requests;
#[path = "emulator/seeds.rs"]
mod seeds;

use emulator_common::{Harness, fixture_path};
use pim_emulator::Tenant;
use serde_json::{Value, json};

const ALICE: &str = "a0000000-0000-4000-8000-000000000000";
const BOB: &str = "a0000000-0000-4000-8000-000000000001";
const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
const SECURITY_ADMIN: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const SP: &str = "c0000000-0000-4000-8000-000000000001";
const NOW: &str = "2026-12-01T10:00:00Z";
const ASSIGN: &str = "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests";
const ELIGIBLE: &str = "/v1.0/roleManagement/directory/roleEligibilityScheduleRequests";

fn tenant() -> Tenant {
    Tenant::from_file(fixture_path("test-tenant.json")).unwrap()
}

async fn harness() -> Harness {
    Harness::with_seed(tenant(), NOW).await
}

fn request(action: &str, principal: &str, role: &str, schedule: Option<Value>) -> Value {
    let mut r = json!({
        "action": action, "principalId": principal, "roleDefinitionId": role,
        "directoryScopeId": "/", "justification": "testing",
    });
    if let Some(s) = schedule {
        r["scheduleInfo"] = s;
    }
    r
}

fn for_duration(d: &str) -> Value {
    json!({ "startDateTime": NOW, "expiration": { "type": "AfterDuration", "duration": d } })
}

fn permanent() -> Value {
    json!({ "startDateTime": NOW, "expiration": { "type": "NoExpiration" } })
}
