//! What an export reads from the tenant (the snapshot, with the Azure role
//! grants of the scopes named and their roles' policies, every approver its
//! policies name, and the schedule requests behind its grants) and writes
//! to disk (an empty directory of configuration and state, and the
//! emulator's seed when the tenant is emulated).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{Export, ExportOptions, export, quote};
use crate::config::{self, Desired, Diagnostics, Location, Pos, TenantSettings};
use crate::graph::resolve::{self, Names};
use crate::graph::{ErrorKind, GrantFilter, Graph, GraphError, RequestOutcome};
use crate::model::{AssignmentKind, Caseless, ObjectId, RoleRef, Scope, SurfaceKind};
use crate::snapshot::{self, Current, PolicyKey, ReadOptions};
use crate::state::{LocalBackend, StateError};
use crate::surface::{Clients, Interest};

/// The state file an export writes beside its configuration.
const STATE_FILE: &str = "pim.state.json";

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{} already holds configuration or state; export into an empty directory", .0.display())]
    NotEmpty(PathBuf),
    #[error("{} already exists and is not the emulator seed {}; export into an empty directory", .path.display(), .seed.display())]
    SeedTaken { path: PathBuf, seed: PathBuf },
    #[error("--azure-scope {scope:?} is not an ARM scope: {reason}")]
    AzureScope { scope: String, reason: String },
    /// Azure scopes or roles whose names do not resolve.
    #[error("{0}")]
    Names(Diagnostics),
    #[error("unknown role \"{name}\" in --role{}", did_you_mean(.suggestions))]
    UnknownRole {
        name: String,
        suggestions: Vec<String>,
    },
    // Boxed, as Graph's and the state's errors are large.
    #[error(transparent)]
    Graph(Box<GraphError>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    State(Box<StateError>),
}

impl From<GraphError> for ExportError {
    fn from(e: GraphError) -> Self {
        ExportError::Graph(Box::new(e))
    }
}

impl From<StateError> for ExportError {
    fn from(e: StateError) -> Self {
        ExportError::State(Box::new(e))
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return "; the tenant has no role by that name or id".into();
    }
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("\"{s}\"")).collect();
    format!("; did you mean {}?", quoted.join(", "))
}

/// Refuses a directory that already holds configuration or state (an
/// export never overwrites what is managed), or another file by the name
/// the emulator `seed` is copied to.
pub fn ensure_empty(dir: &Path, seed: Option<&Path>) -> Result<(), ExportError> {
    let taken = std::fs::read_dir(dir).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(config::FILE_SUFFIX)
                    || e.file_name() == STATE_FILE
            })
        })
    });
    if taken {
        return Err(ExportError::NotEmpty(dir.to_path_buf()));
    }
    if let Some((seed, path)) = seed.and_then(|s| Some((s, dir.join(s.file_name()?))))
        && path.exists()
        && std::fs::read(&path).ok() != std::fs::read(seed).ok()
    {
        return Err(ExportError::SeedTaken {
            path,
            seed: seed.to_path_buf(),
        });
    }
    Ok(())
}

/// Copies the emulator seed the tenant block names into `dir`, where the
/// exported `tenant { emulator = … }` names it by its file name: the
/// embedded emulator reads it on every run (and returns to it on reset).
pub fn copy_seed(t: &TenantSettings, dir: &Path) -> Result<(), ExportError> {
    if let Some(seed) = &t.emulator
        && let Some(name) = seed.file_name()
    {
        let to = dir.join(name);
        if std::fs::canonicalize(seed).ok() != std::fs::canonicalize(&to).ok() {
            std::fs::copy(seed, to)?;
        }
    }
    Ok(())
}

/// The `tenant` block an export writes, from the one it was read with:
/// an emulator seed by its file name alone (see [`copy_seed`]), so the
/// export holds no path of this machine; and the settings that change
/// what a plan decides (the renewal window, the tier-0 roles).
pub fn tenant_block(t: &TenantSettings) -> Vec<(String, String)> {
    let mut block: Vec<(String, String)> = Vec::new();
    if let Some(id) = &t.id {
        block.push(("id".into(), quote(id)));
    }
    if let Some(name) = t.emulator.as_deref().and_then(Path::file_name) {
        block.push(("emulator".into(), quote(&name.to_string_lossy())));
    }
    for (k, v) in [
        ("graph_url", &t.graph_url),
        ("authority_host", &t.authority_host),
    ] {
        if let Some(v) = v {
            block.push((k.into(), quote(v)));
        }
    }
    if let Some(r) = t.renew_within {
        block.push(("renew_within".into(), quote(&r.to_string())));
    }
    if let Some(roles) = &t.tier0_roles {
        let names: Vec<String> = roles.iter().map(ToString::to_string).collect();
        block.push(("tier0_roles".into(), super::list(&names)));
    }
    block
}

/// What of Azure an export reads, as written: the grants at these scopes
/// (ARM scope ids, normalised, lower case, or `subscription:<name>[/…]`
/// until the name is resolved) and, besides the policies of the roles held
/// there, these roles' policies at these scopes (a role's GUID, or a
/// custom role's name until resolved). Each is kept with where the source
/// configuration writes it (`None`: named with `--azure-scope`), for the
/// error should its name not resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureInterest {
    pub scopes: BTreeMap<String, Option<Location>>,
    pub policies: BTreeMap<(RoleRef, String), Location>,
}

/// The Azure scopes to export: those named (`--azure-scope`), checked and
/// normalised, and every scope `source` governs Azure roles at, with the
/// roles it governs there. A scope that is not one, or the tenant root
/// (where PIM grants no Azure role), is an error.
pub fn azure_interest(source: &Desired, named: &[String]) -> Result<AzureInterest, ExportError> {
    let mut out = AzureInterest::default();
    let surface = crate::surface::get(SurfaceKind::AzureRole);
    for text in named {
        match surface.parse_scope(Some(text)) {
            Ok(Scope::Azure(id)) => {
                out.scopes.insert(id, None);
            }
            Ok(_) => {}
            Err(p) => {
                return Err(ExportError::AzureScope {
                    scope: text.clone(),
                    reason: p.message,
                });
            }
        }
    }
    let attribute = surface.scope_attribute();
    let declared = source
        .eligibilities
        .iter()
        .chain(&source.assignments)
        .map(|d| (d.item.surface, &d.item.role, &d.item.scope, &d.origin))
        .chain(
            source
                .policies
                .iter()
                .map(|p| (p.item.surface, &p.item.role, &p.item.scope, &p.origin)),
        )
        .chain(
            source
                .roles
                .iter()
                .map(|r| (r.item.surface, &r.item.role, &r.item.scope, &r.origin)),
        );
    for (surface, role, scope, origin) in declared {
        if let (SurfaceKind::AzureRole, Scope::Azure(scope)) = (surface, scope) {
            let at = origin.attribute(attribute);
            out.scopes
                .entry(scope.clone())
                .or_insert_with(|| Some(at.clone()));
            out.policies
                .entry((role.clone(), scope.clone()))
                .or_insert_with(|| at.clone());
        }
    }
    Ok(out)
}

/// `azure`'s scopes as ARM scope ids and its roles at them as policy keys:
/// subscriptions named by display name and custom roles by name resolved
/// as a plan resolves them (no call when none is). One that does not
/// resolve is an error, said where it was written.
async fn resolve_azure(
    graph: &dyn Graph,
    azure: &AzureInterest,
) -> Result<(BTreeSet<String>, BTreeSet<PolicyKey>), ExportError> {
    let mut names = Names::default();
    for (scope, at) in &azure.scopes {
        let at = at.clone().unwrap_or_else(|| Location {
            file: PathBuf::from("--azure-scope"),
            pos: Pos { line: 1, col: 1 },
        });
        names.scopes.insert(Scope::Azure(scope.clone()), at);
    }
    for ((role, scope), at) in &azure.policies {
        if matches!(role, RoleRef::Name(_)) {
            names
                .azure_roles
                .insert((role.clone(), scope.clone()), at.clone());
        }
    }
    let (resolution, diags) = resolve::resolve_all(graph, &names).await?;
    if diags.has_errors() {
        return Err(ExportError::Names(diags));
    }
    let scope_id = |s: &str| {
        resolution
            .scope(&Scope::Azure(s.to_string()))
            .map(str::to_string)
    };
    let scopes = azure.scopes.keys().filter_map(|s| scope_id(s)).collect();
    let targets = azure
        .policies
        .keys()
        .filter_map(|(role, scope)| {
            let role_id = match role {
                RoleRef::Id(id) => ObjectId::new(id.as_str()),
                RoleRef::Name(_) => resolution.roles.get(role)?.clone(),
            };
            Some(PolicyKey {
                surface: SurfaceKind::AzureRole,
                role_id,
                scope_id: scope_id(scope)?,
            })
        })
        .collect();
    Ok((scopes, targets))
}

/// The tenant as an export needs it: every role's grants and policies, the
/// Azure role grants at the scopes of `azure` with the policies of the
/// roles held there (and those `azure` names), and every principal they
/// name.
pub async fn read(
    graph: &dyn Graph,
    now: chrono::DateTime<chrono::Utc>,
    azure: &AzureInterest,
) -> Result<Current, ExportError> {
    let (azure_scopes, azure_policies) = resolve_azure(graph, azure).await?;
    // Every group PIM can govern is read: which are governed shows only
    // in their schedules.
    let options = ReadOptions::all(now).with_scopes(
        SurfaceKind::AzureRole,
        azure_scopes.iter().map(|s| ObjectId::new(s.as_str())),
    );
    let mut current = snapshot::read(graph, &options).await?;
    read_azure_policies(graph, &mut current, &azure_policies).await?;
    // Approvers are named like holders, so fetch any the snapshot did not need.
    let missing: Vec<ObjectId> = current
        .policies
        .values()
        .filter_map(|p| p.rules.approval())
        .flat_map(|a| {
            a.stages
                .iter()
                .flat_map(|s| s.primary_approvers.iter().map(|ap| ap.id().clone()))
        })
        .filter(|id| !current.principals.contains_key(id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        for p in graph.principals_by_ids(&missing).await? {
            current.principals.insert(p.id.clone(), p);
        }
    }
    Ok(current)
}

/// Subscriptions' display names by id (lower case), for the names of the
/// blocks and files of their scopes. A name several subscriptions share is
/// left out: it would not tell them apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionNames(BTreeMap<String, String>);

impl SubscriptionNames {
    pub fn get(&self, id: &str) -> Option<&str> {
        self.0.get(&id.to_ascii_lowercase()).map(String::as_str)
    }
}

impl FromIterator<(String, String)> for SubscriptionNames {
    /// (id, display name) pairs; a name given to more than one id is dropped.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let pairs: Vec<(String, String)> = iter.into_iter().collect();
        let mut uses: HashMap<Caseless, usize> = HashMap::new();
        for (_, name) in &pairs {
            *uses.entry(Caseless::new(name.trim())).or_default() += 1;
        }
        SubscriptionNames(
            pairs
                .into_iter()
                .filter(|(_, name)| uses.get(&Caseless::new(name.trim())) == Some(&1))
                .map(|(id, name)| (id.to_ascii_lowercase(), name.trim().to_string()))
                .collect(),
        )
    }
}

/// The display names of the subscriptions ARM lists, when anything of
/// Azure exported lives under one (one call); none otherwise.
pub async fn read_subscription_names(
    graph: &dyn Graph,
    current: &Current,
) -> Result<SubscriptionNames, GraphError> {
    let under_one = |scope: &str| scope.starts_with("/subscriptions/");
    let any = current
        .grants
        .iter()
        .any(|g| g.surface == SurfaceKind::AzureRole && under_one(&g.scope_id))
        || current
            .policies
            .keys()
            .any(|k| k.surface == SurfaceKind::AzureRole && under_one(&k.scope_id));
    match graph.arm() {
        Some(arm) if any => Ok(arm
            .subscriptions()
            .await?
            .into_iter()
            .map(|s| (s.subscription_id, s.display_name))
            .collect()),
        _ => Ok(SubscriptionNames::default()),
    }
}

/// Reads into `current` the policy of each Azure role held directly at a
/// scope read (the roles held there are known only once its grants are),
/// and of each role `named` at its scope: one read per role and scope, as ARM
/// lists a scope's policies only for every role at once.
async fn read_azure_policies(
    graph: &dyn Graph,
    current: &mut Current,
    named: &BTreeSet<PolicyKey>,
) -> Result<(), GraphError> {
    let targets: Vec<PolicyKey> = current
        .grants
        .iter()
        .filter(|g| g.surface == SurfaceKind::AzureRole && g.is_manageable())
        .map(crate::snapshot::Grant::key)
        .chain(named.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let read = crate::surface::get(SurfaceKind::AzureRole)
        .read(
            Clients {
                graph,
                arm: graph.arm(),
                seen: &|_| {},
            },
            // No scope: the grants are read already.
            Interest {
                policy_roles: None,
                scopes: Some(&[]),
                targets: &targets,
            },
        )
        .await?;
    for p in read.policies {
        current.policies.insert(p.key(), p);
    }
    for r in read.roles {
        current.roles.entry(r.id.clone()).or_insert(r);
    }
    Ok(())
}

/// The schedule requests that made grants, by request id (`createdUsing`):
/// what they asked for, their justification and ticket. Graph keeps
/// requests about 45 days, so older grants have none.
#[derive(Debug, Clone, Default)]
pub struct Requests(HashMap<String, RequestOutcome>);

impl Requests {
    pub fn get(&self, id: &str) -> Option<&RequestOutcome> {
        self.0.get(&id.to_ascii_lowercase())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<RequestOutcome> for Requests {
    fn from_iter<I: IntoIterator<Item = RequestOutcome>>(iter: I) -> Self {
        Requests(
            iter.into_iter()
                .map(|r| (r.request_id.to_ascii_lowercase(), r))
                .collect(),
        )
    }
}

/// The requests behind `current`'s grants: one paged listing per kind,
/// both at once, rather than a lookup per grant (two calls for a tenant
/// with fewer than 999 requests of each kind, where looking each grant's
/// up would take one per grant), and a group's per group. Only those a
/// grant names are kept. Azure role grants' are read one by one (see
/// `azure_requests`).
pub async fn read_requests(graph: &dyn Graph, current: &Current) -> Result<Requests, GraphError> {
    let named = |kind: AssignmentKind| {
        current
            .grants
            .iter()
            .filter(|g| g.kind == kind && g.is_manageable())
            .filter(|g| g.surface != SurfaceKind::AzureRole)
            .filter_map(|g| g.created_using.as_deref())
            .map(str::to_ascii_lowercase)
            .collect::<std::collections::HashSet<_>>()
    };
    let (eligible, active) = (
        named(AssignmentKind::Eligible),
        named(AssignmentKind::Active),
    );
    let all = GrantFilter::default();
    let list = |kind: AssignmentKind, wanted: &std::collections::HashSet<String>| {
        let skip = wanted.is_empty();
        let all = &all;
        async move {
            if skip {
                Ok(Vec::new())
            } else {
                graph.list_requests(kind, all).await
            }
        }
    };
    // A group's requests are listed group by group, as Graph requires,
    // and only for the groups that hold grants.
    let groups: std::collections::BTreeSet<&str> = current
        .grants
        .iter()
        .filter(|g| g.surface == crate::model::SurfaceKind::Group && g.is_manageable())
        .map(|g| g.scope_id.as_str())
        .collect();
    let group_lists = futures::future::try_join_all(groups.iter().flat_map(|group| {
        [AssignmentKind::Eligible, AssignmentKind::Active].map(|kind| async move {
            let filter = GrantFilter {
                surface: crate::model::SurfaceKind::Group,
                scope_id: Some((*group).to_string()),
                ..GrantFilter::default()
            };
            graph.list_requests(kind, &filter).await
        })
    }));
    let ((e, a), from_groups, from_azure) = futures::future::try_join3(
        futures::future::try_join(
            list(AssignmentKind::Eligible, &eligible),
            list(AssignmentKind::Active, &active),
        ),
        group_lists,
        azure_requests(graph, current),
    )
    .await?;
    let (e, a): (Vec<_>, Vec<_>) = {
        let (mut e, mut a) = (e, a);
        for r in from_groups.into_iter().flatten() {
            match r.kind {
                AssignmentKind::Eligible => e.push(r),
                AssignmentKind::Active => a.push(r),
            }
        }
        (e, a)
    };
    Ok(e.into_iter()
        .filter(|r| eligible.contains(&r.request_id.to_ascii_lowercase()))
        .chain(
            a.into_iter()
                .filter(|r| active.contains(&r.request_id.to_ascii_lowercase())),
        )
        .chain(from_azure.into_iter().flatten())
        .collect())
}

/// The requests behind the Azure role grants, each read by its name where
/// it was made: the client lists no ARM requests by id, and a grant names
/// its request by its full id. A request ARM no longer has (how long ARM
/// keeps requests is UNVERIFIED) leaves its grant without one.
async fn azure_requests(
    graph: &dyn Graph,
    current: &Current,
) -> Result<Vec<Option<RequestOutcome>>, GraphError> {
    let Some(arm) = graph.arm() else {
        return Ok(Vec::new());
    };
    let made: BTreeSet<(AssignmentKind, &str, &str)> = current
        .grants
        .iter()
        .filter(|g| g.surface == SurfaceKind::AzureRole && g.is_manageable())
        .filter_map(|g| Some((g.kind, g.created_using.as_deref()?, g.scope_id.as_str())))
        .collect();
    futures::future::try_join_all(made.into_iter().map(|(kind, id, grant_scope)| async move {
        let (scope, name) = request_location(id, grant_scope);
        match arm.get_request(kind, scope, name).await {
            Ok(o) => Ok(Some(azure_outcome(id, o))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }))
    .await
}

/// Where an ARM request lives and its name, from its full id
/// (`<scope>/providers/Microsoft.Authorization/<collection>/<name>`); a bare
/// name lives at the scope of its grant.
fn request_location<'a>(id: &'a str, grant_scope: &'a str) -> (&'a str, &'a str) {
    const PROVIDER: &str = "/providers/microsoft.authorization/";
    let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or(id);
    match id.to_ascii_lowercase().rfind(PROVIDER) {
        // ASCII lower-casing keeps byte offsets.
        Some(at) if at > 0 => (&id[..at], name),
        _ => (grant_scope, name),
    }
}

/// An ARM request as the export reads a Graph one, by the id its grant
/// names it by. ARM's ticket is not read by the client, so none is kept.
fn azure_outcome(id: &str, o: crate::arm::ArmRequestOutcome) -> RequestOutcome {
    let target_schedule_id = o.target_schedule_id.clone();
    RequestOutcome {
        request_id: id.to_string(),
        target_schedule_id,
        ..crate::surface::azure_outcome(o)
    }
}

/// Reads the tenant and writes it into `dir` as configuration and state;
/// returns what was written.
pub async fn export_to(
    graph: &dyn Graph,
    opts: &ExportOptions,
    dir: &Path,
) -> Result<Export, ExportError> {
    let current = read(graph, opts.now, &opts.azure).await?;
    let (requests, subscriptions) = futures::future::try_join(
        read_requests(graph, &current),
        read_subscription_names(graph, &current),
    )
    .await?;
    let out = export(
        &current,
        &requests,
        &subscriptions,
        &crate::graph::default_rule_set(),
        opts,
    )?;
    out.write(dir)?;
    Ok(out)
}

impl Export {
    /// Writes the configuration files and the state into `dir`, made if
    /// need be.
    pub fn write(&self, dir: &Path) -> Result<(), ExportError> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in &self.files {
            std::fs::write(dir.join(name), text)?;
        }
        LocalBackend::new(dir.join(STATE_FILE)).save(&self.state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_configuration_or_state_is_refused() {
        let dir = std::env::temp_dir().join(format!("pim-export-empty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            ensure_empty(&dir, None).is_ok(),
            "one not there yet is empty"
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        assert!(ensure_empty(&dir, None).is_ok());
        for taken in ["main.pim.hcl", STATE_FILE] {
            std::fs::write(dir.join(taken), "").unwrap();
            let err = ensure_empty(&dir, None).unwrap_err().to_string();
            assert!(
                err.ends_with(
                    "already holds configuration or state; export into an empty directory"
                ),
                "{err}"
            );
            std::fs::remove_file(dir.join(taken)).unwrap();
        }
        // The seed is copied in by its name: another file by that name is
        // refused, the same seed is not.
        let src = dir.join("source");
        std::fs::create_dir_all(&src).unwrap();
        let seed = src.join("tenant.json");
        std::fs::write(&seed, "{}").unwrap();
        assert!(ensure_empty(&dir, Some(&seed)).is_ok());
        std::fs::write(dir.join("tenant.json"), "other").unwrap();
        let err = ensure_empty(&dir, Some(&seed)).unwrap_err().to_string();
        assert!(err.contains("is not the emulator seed"), "{err}");
        std::fs::write(dir.join("tenant.json"), "{}").unwrap();
        assert!(ensure_empty(&dir, Some(&seed)).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_tenant_block_names_the_seed_by_its_file_name() {
        let t = TenantSettings {
            id: Some("contoso.onmicrosoft.com".into()),
            emulator: Some(PathBuf::from(
                "/home/alice/pim/examples/contoso/tenant.json",
            )),
            renew_within: Some(crate::model::IsoDuration::days(30)),
            tier0_roles: Some(vec![crate::model::RoleRef::Name(
                "Global Administrator".into(),
            )]),
            ..TenantSettings::default()
        };
        assert_eq!(
            tenant_block(&t),
            [
                ("id".to_string(), "\"contoso.onmicrosoft.com\"".to_string()),
                ("emulator".to_string(), "\"tenant.json\"".to_string()),
                ("renew_within".to_string(), "\"P30D\"".to_string()),
                (
                    "tier0_roles".to_string(),
                    "[\"Global Administrator\"]".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_subscription_name_two_subscriptions_share_names_neither() {
        let names: SubscriptionNames = [
            ("AAAA-1".to_string(), "Production".to_string()),
            ("bbbb-2".to_string(), " production ".to_string()),
            ("cccc-3".to_string(), "Sandbox".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(names.get("aaaa-1"), None);
        assert_eq!(names.get("bbbb-2"), None);
        assert_eq!(names.get("CCCC-3"), Some("Sandbox"));
    }

    #[test]
    fn an_arm_request_is_found_where_its_full_id_says() {
        let sub = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";
        let id = format!(
            "{sub}/resourceGroups/rg-data/providers/Microsoft.Authorization/RoleEligibilityScheduleRequests/16395081-610d-45ec-884a-dfa95836ac4d"
        );
        assert_eq!(
            request_location(&id, sub),
            (
                format!("{sub}/resourceGroups/rg-data").as_str(),
                "16395081-610d-45ec-884a-dfa95836ac4d"
            )
        );
        assert_eq!(
            request_location("16395081-610d-45ec-884a-dfa95836ac4d", sub),
            (sub, "16395081-610d-45ec-884a-dfa95836ac4d"),
            "a bare name: at its grant's scope"
        );
    }

    #[test]
    fn the_tenant_block_quotes_what_the_source_names() {
        let t = TenantSettings {
            id: Some("contoso.onmicrosoft.com".into()),
            graph_url: Some("https://graph.example/\"v1\"".into()),
            ..TenantSettings::default()
        };
        assert_eq!(
            tenant_block(&t),
            [
                ("id".to_string(), "\"contoso.onmicrosoft.com\"".to_string()),
                (
                    "graph_url".to_string(),
                    "\"https://graph.example/\\\"v1\\\"\"".to_string()
                ),
            ]
        );
    }
}
