//! Import: a grant the tenant already has, taken under management at the
//! address that declares it, on any surface (an Azure role grant by its
//! schedule's name or full id). The tenant is only read; the state gains
//! one resource.

use std::path::PathBuf;

use crate::config::{Declared, Desired};
use crate::graph::Graph;
use crate::model::{Address, Assignment};
use crate::pipeline::{self, PipelineError};
use crate::plan::Resolved;
use crate::snapshot::{Current, Grant};
use crate::state::{self, Backend, Lock, Resource, ResourceError, StateError};

/// Why a schedule could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{address} is not declared in {}; declare it first", dir.display())]
    NotDeclared { address: Address, dir: PathBuf },
    #[error("the tenant has no schedule {0}")]
    NoSchedule(String),
    #[error(
        "schedule {schedule_id} is not what {address} declares (kind, principal, role and scope must match)"
    )]
    Mismatch {
        schedule_id: String,
        address: Address,
    },
    /// Reading the tenant failed, or the configuration's names do not
    /// resolve. Boxed, as Graph's errors are large; so is the state's.
    #[error(transparent)]
    Read(Box<PipelineError>),
    #[error(transparent)]
    State(Box<ResourceError>),
}

impl From<PipelineError> for ImportError {
    fn from(e: PipelineError) -> Self {
        ImportError::Read(Box::new(e))
    }
}

impl From<ResourceError> for ImportError {
    fn from(e: ResourceError) -> Self {
        ImportError::State(Box::new(e))
    }
}

impl From<StateError> for ImportError {
    fn from(e: StateError) -> Self {
        ResourceError::from(e).into()
    }
}

/// The eligibility or assignment block `address` names.
pub fn declared<'a>(
    desired: &'a Desired,
    address: &Address,
) -> Result<&'a Declared<Assignment>, ImportError> {
    desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .find(|d| &d.address == address)
        .ok_or_else(|| ImportError::NotDeclared {
            address: address.clone(),
            dir: desired.dir.clone(),
        })
}

/// The tenant's schedule `schedule_id`, when it is the grant `declared`
/// declares: the same kind, principal, role and scope.
pub fn matching<'a>(
    current: &'a Current,
    resolved: &Resolved,
    declared: &Declared<Assignment>,
    schedule_id: &str,
) -> Result<&'a Grant, ImportError> {
    let wanted = schedule_id.trim();
    // An Azure schedule is kept by its name; ARM's answers and the portal
    // also show its full id, which ends in the name.
    let name = wanted
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(wanted);
    let grant = current
        .grants
        .iter()
        .find(|g| {
            crate::model::Caseless::same(&g.schedule_id, wanted)
                || (g.surface == crate::model::SurfaceKind::AzureRole
                    && crate::model::Caseless::same(&g.schedule_id, name))
        })
        .ok_or_else(|| ImportError::NoSchedule(schedule_id.to_string()))?;
    let a = &declared.item;
    let want = (
        a.surface,
        a.kind,
        resolved.principal(&a.principal),
        resolved.role(&a.role),
        resolved.scope(&a.scope),
    );
    let have = (
        grant.surface,
        grant.kind,
        Some(grant.principal_id.clone()),
        Some(grant.role_id.clone()),
        Some(grant.scope_id.clone()),
    );
    if want != have {
        return Err(ImportError::Mismatch {
            schedule_id: grant.schedule_id.clone(),
            address: declared.address.clone(),
        });
    }
    Ok(grant)
}

/// What the state records for an imported grant.
fn resource(address: &Address, grant: &Grant) -> Resource {
    Resource::of_grant(
        address.clone(),
        grant,
        serde_json::json!({ "imported": true }),
    )
}

/// Imports the tenant's schedule `schedule_id` as `declared`, under the
/// held lock (taken before the tenant is read, so the read cannot race an
/// apply): the tenant read, the schedule matched with the declaration,
/// and the state written with it. Returns what the state now records.
pub async fn import(
    graph: &dyn Graph,
    desired: &Desired,
    declared: &Declared<Assignment>,
    schedule_id: &str,
    backend: &dyn Backend,
    lock: &Lock,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Resource, ImportError> {
    let (resolved, current) = pipeline::read(graph, desired, now).await?;
    let grant = matching(&current, &resolved, declared, schedule_id)?;
    let imported = resource(&declared.address, grant);
    state::adopt(backend, lock, imported.clone()).await?;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;
    use crate::model::{AssignmentKind, Expiration, PrincipalRef, SurfaceKind};
    use crate::snapshot::MemberType;

    const ALICE: &str = "7e0a0b0c-0000-4000-8000-00000000a11c";

    fn desired() -> Desired {
        let dir = std::path::Path::new("/config");
        let hcl = format!(
            "eligibility \"alice\" {{\n  principal = \"{ALICE}\"\n  role = \"Helpdesk Administrator\"\n  duration = \"P90D\"\n}}\n"
        );
        crate::config::load_sources(
            dir,
            vec![(dir.join("main.pim.hcl"), hcl)],
            &LoadOptions::at(chrono::Utc::now()),
        )
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()))
    }

    fn tenant(kind: AssignmentKind, principal: &str) -> (Current, Resolved) {
        let resolved = Resolved::default();
        let role = resolved
            .role(&crate::model::RoleRef::Name(
                "Helpdesk Administrator".into(),
            ))
            .unwrap();
        let grant = Grant {
            surface: SurfaceKind::DirectoryRole,
            kind,
            schedule_id: "Sched-1".into(),
            principal_id: principal.to_ascii_uppercase().into(),
            role_id: role,
            scope_id: "/".into(),
            start: None,
            expiration: Expiration::Permanent,
            member_type: MemberType::Direct,
            active_type: None,
            created_using: Some("req-1".into()),
            created: None,
            status: "Provisioned".into(),
            condition: None,
        };
        let current = Current {
            grants: vec![grant],
            ..Current::default()
        };
        (current, resolved)
    }

    #[test]
    fn an_address_not_declared_says_where_it_was_looked_for() {
        let d = desired();
        assert!(declared(&d, &Address::parse("eligibility.alice").unwrap()).is_ok());
        let err = declared(&d, &Address::parse("eligibility.bob").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "eligibility.bob is not declared in /config; declare it first"
        );
    }

    #[test]
    fn a_schedule_matches_by_kind_principal_role_and_scope_in_any_case() {
        let d = desired();
        let decl = declared(&d, &Address::parse("eligibility.alice").unwrap()).unwrap();
        assert!(matches!(decl.item.principal, PrincipalRef::ObjectId(_)));
        let (current, resolved) = tenant(AssignmentKind::Eligible, ALICE);
        let grant = matching(&current, &resolved, decl, "sched-1").unwrap();
        assert_eq!(grant.schedule_id, "Sched-1");
        let r = resource(&decl.address, grant);
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            r.attributes,
            serde_json::json!({ "imported": true, "end": grant.end() }),
            "the end it has, for drift to tell a later change by"
        );

        let err = matching(&current, &resolved, decl, "sched-2").unwrap_err();
        assert_eq!(err.to_string(), "the tenant has no schedule sched-2");
        let (active, resolved) = tenant(AssignmentKind::Active, ALICE);
        let err = matching(&active, &resolved, decl, "sched-1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "schedule Sched-1 is not what eligibility.alice declares (kind, principal, role and scope must match)"
        );
        let (other, resolved) = tenant(
            AssignmentKind::Eligible,
            "00000000-0000-4000-8000-000000000b0b",
        );
        assert!(matches!(
            matching(&other, &resolved, decl, "sched-1"),
            Err(ImportError::Mismatch { .. })
        ));
    }

    #[test]
    fn an_azure_schedule_is_found_by_its_name_or_its_full_id() {
        const SUB: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";
        const NAME: &str = "b1477448-2cc6-4ceb-93b4-54a202a89413";
        let dir = std::path::Path::new("/config");
        let hcl = format!(
            "eligibility \"alice_owner\" {{\n  principal = \"{ALICE}\"\n  azure_role = \"Owner\"\n  scope = \"{SUB}\"\n  duration = \"P90D\"\n}}\n"
        );
        let d = crate::config::load_sources(
            dir,
            vec![(dir.join("main.pim.hcl"), hcl)],
            &LoadOptions::at(chrono::Utc::now()),
        )
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
        let decl = declared(&d, &Address::parse("eligibility.alice_owner").unwrap()).unwrap();
        let mut resolved = Resolved::default();
        resolved
            .scopes
            .insert(crate::model::Scope::Azure(SUB.into()), SUB.into());
        let (mut current, _) = tenant(AssignmentKind::Eligible, ALICE);
        let g = &mut current.grants[0];
        g.surface = SurfaceKind::AzureRole;
        g.schedule_id = NAME.into();
        g.role_id = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635".into();
        g.scope_id = SUB.into();
        let full = format!(
            "{}/providers/Microsoft.Authorization/roleEligibilitySchedules/{}",
            SUB.to_ascii_uppercase(),
            NAME.to_ascii_uppercase()
        );
        for id in [NAME, full.as_str()] {
            let grant = matching(&current, &resolved, decl, id).unwrap();
            assert_eq!(grant.schedule_id, NAME, "{id}");
        }
        let elsewhere = format!("{SUB}/resourcegroups/rg");
        current.grants[0].scope_id = elsewhere;
        assert!(
            matches!(
                matching(&current, &resolved, decl, NAME),
                Err(ImportError::Mismatch { .. })
            ),
            "the same role at another scope is not what the block declares"
        );
    }
}
