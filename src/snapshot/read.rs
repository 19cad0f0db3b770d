//! Reading the tenant into a `Current` with the fewest Graph calls: whole
//! collections paged at the largest page size (never one call per object),
//! all policies with their rules in one expanded list, principal names in
//! `getByIds` calls of up to 1000 ids, and independent reads in parallel.

#![allow(clippy::result_large_err)] // see `graph`: GraphError is deliberately rich

use std::collections::{BTreeMap, BTreeSet};

use super::{AdministrativeUnit, Current, RoleDefinition};
use crate::graph::{GrantFilter, Graph, GraphError};
use crate::model::{AssignmentKind, builtin_roles};

/// Which policies to read besides those of roles holding grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Role definition ids whose policy is needed (roles the configuration
    /// touches or declares exclusive). `None`: every role's policy.
    pub policy_roles: Option<BTreeSet<String>>,
}

impl ReadOptions {
    pub fn roles(ids: impl IntoIterator<Item = String>) -> Self {
        ReadOptions {
            policy_roles: Some(ids.into_iter().map(|i| i.to_ascii_lowercase()).collect()),
        }
    }
}

/// The tenant as it is now.
pub async fn read(graph: &dyn Graph, options: &ReadOptions) -> Result<Current, GraphError> {
    let all = GrantFilter::default();
    let policy_roles: Option<Vec<String>> = options
        .policy_roles
        .as_ref()
        .map(|s| s.iter().cloned().collect());
    // Not knowing who pim runs as fails the read: a plan that cannot tell
    // would be free to remove the caller's own grants.
    let (eligible, active, policies, roles, caller) = futures::try_join!(
        graph.grants(AssignmentKind::Eligible, &all),
        graph.grants(AssignmentKind::Active, &all),
        async {
            match &policy_roles {
                Some(ids) if ids.is_empty() => Ok(Vec::new()),
                Some(ids) => graph.policies(Some(ids)).await,
                None => graph.policies(None).await,
            }
        },
        graph.role_definitions(),
        graph.caller_id(),
    )?;
    let mut grants = eligible;
    grants.extend(active);

    let principal_ids: Vec<String> = grants
        .iter()
        .map(|g| g.principal_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let needs_aus = grants
        .iter()
        .any(|g| g.scope_id.starts_with("/administrativeUnits/"));
    let (principals, aus) = futures::try_join!(
        async {
            if principal_ids.is_empty() {
                Ok(Vec::new())
            } else {
                graph.principals_by_ids(&principal_ids).await
            }
        },
        async {
            if needs_aus {
                graph.administrative_units().await
            } else {
                Ok(Vec::new())
            }
        },
    )?;

    let mut role_map: BTreeMap<String, RoleDefinition> = builtin_roles()
        .iter()
        .map(|b| {
            (
                b.id.to_ascii_lowercase(),
                RoleDefinition {
                    id: b.id.to_ascii_lowercase(),
                    display_name: b.display_name.clone(),
                    is_builtin: true,
                },
            )
        })
        .collect();
    for r in roles {
        role_map.insert(r.id.clone(), r);
    }
    Ok(Current {
        tenant_id: graph.tenant_id().unwrap_or_default(),
        caller_id: Some(caller),
        grants,
        policies: policies
            .into_iter()
            .map(|p| (p.role_id.clone(), p))
            .collect(),
        roles: role_map,
        principals: principals.into_iter().map(|p| (p.id.clone(), p)).collect(),
        administrative_units: aus
            .into_iter()
            .map(|a: AdministrativeUnit| (a.id.clone(), a))
            .collect(),
    })
}
