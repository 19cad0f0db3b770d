//! `HttpGraph`: the `Graph` trait over HTTPS. One `reqwest::Client` (also
//! the token endpoint's transport), a semaphore capping requests in flight,
//! retries with `Retry-After` or jittered backoff, `@odata.nextLink` paging
//! at the largest page size, `$batch` packing of independent GETs, and
//! reconciliation instead of blind resending for writes whose outcome is
//! unknown. What the server says is not trusted: answers are read up to a
//! limit, and links and redirects are followed only within the Graph root.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::{OnceCell, Semaphore};

use super::auth::{
    AzureCredential, EmulatorUser, SignIn, TokenCache, TokenSource, mfa_from_token,
    object_id_from_token,
};
use super::convert::{
    ConvertError, assignment_grant, eligibility_grant, expiration_from_wire, instance, parse_time,
    rule_set_from_wire, rule_to_wire, schedule_to_wire,
};
use super::error::{ErrorKind, GraphError};
use super::link::{ApiRoot, redirect_policy};
use super::retry::{Backoff, Clock, TokioClock};
use super::settings::{GraphSettings, ReadLimits};
use super::tls::client_config;
use super::wire::{
    self, DirectoryObject, GetByIds, NewScheduleRequest, Page, TicketInfo,
    UnifiedRoleAssignmentSchedule, UnifiedRoleAssignmentScheduleRequest, UnifiedRoleDefinition,
    UnifiedRoleEligibilitySchedule, UnifiedRoleManagementPolicyAssignment,
    UnifiedRoleScheduleInstance,
};
use super::{
    DirectoryEntry, EntryKind, GrantFilter, Graph, Instance, Lookup, Me, RequestOutcome,
    RequestParty, ScheduleRequest, page_size,
};
use crate::model::{AssignmentKind, PrincipalKind, RuleId, RuleValue, Schedule, Ticket};
use crate::snapshot::{AdministrativeUnit, Grant, Policy, Principal, RoleDefinition};

mod batch;
mod paging;
mod query;
mod send;

use query::{SEGMENT, grant_filter, odata_string, query, set_name};
pub(super) use send::read_capped;
use send::{Call, root_cause};

/// Counters of what the client sent, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP exchanges attempted (retries included, token requests excluded).
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    /// Writes whose outcome was read back after a broken connection.
    pub reconciled: AtomicU64,
}

impl Stats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    pub fn reconciled(&self) -> u64 {
        self.reconciled.load(Ordering::Relaxed)
    }
}

/// Microsoft Graph over HTTPS.
pub struct HttpGraph {
    client: reqwest::Client,
    /// The version root as written in URLs, without a trailing slash.
    root: String,
    api_root: ApiRoot,
    limits: ReadLimits,
    tenant_id: Option<String>,
    /// The application pim signs in as, when the settings name it.
    client_id: Option<String>,
    tokens: TokenCache,
    /// Who pim runs as, once known: asked at most once per client.
    caller: OnceCell<String>,
    limit: Arc<Semaphore>,
    parallelism: usize,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
}

impl HttpGraph {
    /// A client signing in with the credential the settings choose.
    pub fn new(settings: GraphSettings) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let credential = AzureCredential::new(&settings, &client)?;
        Self::assemble(settings, client, Arc::new(credential))
    }

    /// A client taking tokens from `source` (tests, or a token obtained elsewhere).
    pub fn with_token_source(
        settings: GraphSettings,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        Self::assemble(settings, client, source)
    }

    /// A client signed in as a seeded user of the pim emulator (`--as`):
    /// refused unless Graph and the authority are loopback addresses.
    pub fn for_emulator_user(
        settings: GraphSettings,
        username: &str,
        mfa: bool,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let source = EmulatorUser::new(&settings, &client, username, mfa)?;
        Self::assemble(settings, client, Arc::new(source))
    }

    /// Replace the clock used for retry waits (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Requests this client keeps in flight at most.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// The `reqwest::Client` both Graph and the token endpoint use: rustls
    /// (ring) with the system roots plus the extra CA of the settings.
    pub fn http_client(settings: &GraphSettings) -> Result<reqwest::Client, GraphError> {
        settings.validate()?;
        let mut pem: Vec<u8> = Vec::new();
        if let Some(path) = &settings.ca_cert {
            pem = std::fs::read(path).map_err(|e| {
                GraphError::config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(text) = &settings.ca_pem {
            pem.push(b'\n');
            pem.extend_from_slice(text.as_bytes());
        }
        let tls = client_config((!pem.is_empty()).then_some(pem.as_slice()))?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(redirect_policy(ApiRoot::parse(settings.root())?))
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.parallelism.max(1) * 2)
            .user_agent(concat!("pim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                GraphError::config(format!("cannot build the HTTP client: {}", root_cause(&e)))
            })
    }

    fn assemble(
        settings: GraphSettings,
        client: reqwest::Client,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let api_root = ApiRoot::parse(settings.root())?;
        Ok(HttpGraph {
            client,
            root: api_root.as_str().to_string(),
            api_root,
            limits: settings.limits.clone(),
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.credentials.client_id.clone(),
            tokens: TokenCache::new(source),
            caller: OnceCell::new(),
            limit: Arc::new(Semaphore::new(settings.parallelism.max(1))),
            parallelism: settings.parallelism.max(1),
            backoff: Backoff::new(settings.retry.clone()),
            clock: Arc::new(TokioClock),
            stats: Arc::new(Stats::default()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// Who pim runs as. Entra's tokens are JWTs that say so (`oid`); a
    /// token that cannot be read is answered by Graph: `/me` for a user,
    /// the service principal of the client id for an application. When
    /// the source cannot tell which it is, `/me` first, and the service
    /// principal only when Graph answers 400 (its answer to an app-only
    /// token): a 403 or 404 may come with a delegated token, and the client
    /// application's service principal is then not the caller.
    async fn identify_caller(&self) -> Result<String, GraphError> {
        let token = self.tokens.get().await?;
        if let Some(oid) = object_id_from_token(&token) {
            return Ok(oid);
        }
        let found = match self.tokens.sign_in() {
            SignIn::User => self.my_id().await,
            SignIn::App => self.service_principal_id().await,
            SignIn::Unknown => match self.my_id().await {
                Err(e) if e.status == Some(400) => self.service_principal_id().await,
                other => other,
            },
        };
        found.map_err(|e| GraphError {
            operation: format!("{} (finding the identity pim runs as)", e.operation),
            ..e
        })
    }

    async fn my_id(&self) -> Result<String, GraphError> {
        let path = format!("/me{}", query(&[("$select", "id".into())]));
        self.object_id(&path).await
    }

    async fn service_principal_id(&self) -> Result<String, GraphError> {
        let app_id = self.client_id.as_deref().ok_or_else(|| {
            GraphError::config(
                "the token does not say which identity pim runs as, and without a client id \
                 (AZURE_CLIENT_ID) its service principal cannot be looked up",
            )
        })?;
        let path = format!(
            "/servicePrincipals(appId={}){}",
            utf8_percent_encode(&odata_string(app_id), SEGMENT),
            query(&[("$select", "id".into())])
        );
        self.object_id(&path).await
    }

    /// The `id` of the one object at `path`.
    async fn object_id(&self, path: &str) -> Result<String, GraphError> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let found: Id = self.get_json(path).await?;
        Ok(found.id.to_ascii_lowercase())
    }

    /// Every schedule of `kind` the collection at `path` lists, as grants.
    async fn grants_at(
        &self,
        kind: AssignmentKind,
        path: &str,
        op: &str,
    ) -> Result<Vec<Grant>, GraphError> {
        match kind {
            AssignmentKind::Eligible => self
                .get_all::<UnifiedRoleEligibilitySchedule>(path)
                .await?
                .into_iter()
                .map(|s| eligibility_grant(s).map_err(convert_err(op)))
                .collect(),
            AssignmentKind::Active => self
                .get_all::<UnifiedRoleAssignmentSchedule>(path)
                .await?
                .into_iter()
                .map(|s| assignment_grant(s).map_err(convert_err(op)))
                .collect(),
        }
    }

    async fn post_request(&self, request: &ScheduleRequest) -> Result<RequestOutcome, GraphError> {
        let body = NewScheduleRequest {
            action: request.action.as_str().to_string(),
            principal_id: request.principal_id.clone(),
            role_definition_id: request.role_id.clone(),
            directory_scope_id: request.scope_id.clone(),
            justification: request.justification.clone(),
            schedule_info: request
                .schedule
                .as_ref()
                .filter(|_| request.action.sends_schedule())
                .map(|s| schedule_to_wire(s, Utc::now())),
            ticket_info: request.ticket.as_ref().map(|t| TicketInfo {
                ticket_number: Some(t.number.clone()),
                ticket_system: t.system.clone(),
            }),
        };
        let call = Call {
            method: Method::POST,
            url: self.url(&format!(
                "/roleManagement/directory/{}",
                set_name(request.kind, true)
            )),
            body: Some(
                serde_json::to_value(&body)
                    .map_err(|e| GraphError::decode("encode request", e.to_string()))?,
            ),
            idempotent: false,
            retry_replication: true,
        };
        let op = call.operation(&self.root);
        let wire: UnifiedRoleAssignmentScheduleRequest = self.execute(&call).await?.decode(&op)?;
        Ok(outcome(request.kind, wire, false))
    }

    /// After a broken connection: did the request take effect? Looks for a
    /// request of the same action, principal, role, scope and justification
    /// made since just before it was sent.
    async fn find_sent(
        &self,
        request: &ScheduleRequest,
        sent_after: chrono::DateTime<Utc>,
    ) -> Result<Option<RequestOutcome>, GraphError> {
        let filter = GrantFilter {
            principal_id: Some(request.principal_id.clone()),
            role_id: Some(request.role_id.clone()),
            scope_id: Some(request.scope_id.clone()),
        };
        let found = self.list_requests(request.kind, &filter).await?;
        Ok(found
            .into_iter()
            .filter(|o| {
                o.action.eq_ignore_ascii_case(request.action.as_str())
                    && o.justification == request.justification
                    && o.created.is_none_or(|c| c >= sent_after)
            })
            .max_by_key(|o| o.created))
    }
}

fn outcome(
    kind: AssignmentKind,
    w: UnifiedRoleAssignmentScheduleRequest,
    reconciled: bool,
) -> RequestOutcome {
    let schedule = w.schedule_info.as_ref().and_then(|info| {
        Some(Schedule {
            start: info.start_date_time.as_deref().and_then(parse_time),
            expiration: expiration_from_wire(info.expiration.as_ref()).ok()?,
        })
    });
    let ticket = w.ticket_info.as_ref().and_then(|t| {
        Some(Ticket {
            number: t.ticket_number.clone().filter(|n| !n.is_empty())?,
            system: t.ticket_system.clone(),
        })
    });
    let created_by = w.created_by.as_ref().and_then(|c| {
        c.user
            .as_ref()
            .or(c.application.as_ref())
            .and_then(|i| i.id.as_ref())
            .map(|id| id.to_ascii_lowercase())
    });
    RequestOutcome {
        schedule,
        ticket,
        created_by,
        completed: w.completed_date_time.as_deref().and_then(parse_time),
        kind,
        request_id: w.id,
        status: w.status,
        action: w.action.unwrap_or_default(),
        principal_id: w.principal_id.to_ascii_lowercase(),
        role_id: w.role_definition_id.to_ascii_lowercase(),
        scope_id: w.directory_scope_id.unwrap_or_else(|| "/".into()),
        target_schedule_id: w.target_schedule_id,
        justification: w.justification,
        created: w.created_date_time.as_deref().and_then(parse_time),
        approval_id: w.approval_id,
        reconciled,
    }
}

fn convert_err(op: &str) -> impl Fn(ConvertError) -> GraphError + '_ {
    move |e| GraphError::decode(op, e.0)
}

fn entry(kind: EntryKind, v: &Value) -> Option<DirectoryEntry> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(DirectoryEntry {
        id: s("id")?.to_ascii_lowercase(),
        kind,
        display_name: s("displayName").unwrap_or_default(),
        user_principal_name: s("userPrincipalName"),
        app_id: s("appId"),
        is_assignable_to_role: v.get("isAssignableToRole").and_then(Value::as_bool),
    })
}

fn lookup_path(q: &Lookup) -> (String, EntryKind, bool) {
    let filter_by = |set: &str, select: &str, prop: &str, value: &str| {
        format!(
            "/{set}{}",
            query(&[
                ("$filter", format!("{prop} eq {}", odata_string(value))),
                ("$select", select.to_string()),
            ])
        )
    };
    const USER: &str = "id,displayName,userPrincipalName";
    const GROUP: &str = "id,displayName,isAssignableToRole";
    const SP: &str = "id,displayName,appId";
    const AU: &str = "id,displayName";
    match q {
        Lookup::UserByUpn(upn) => {
            let path = if upn.starts_with('$') {
                // A UPN starting with `$` reads as a system query option after a slash.
                format!(
                    "/users({})",
                    utf8_percent_encode(&odata_string(upn), SEGMENT)
                )
            } else {
                format!("/users/{}", utf8_percent_encode(upn, SEGMENT))
            };
            (
                format!("{path}{}", query(&[("$select", USER.into())])),
                EntryKind::User,
                true,
            )
        }
        Lookup::GroupsByName(n) => (
            filter_by("groups", GROUP, "displayName", n),
            EntryKind::Group,
            false,
        ),
        Lookup::ServicePrincipalsByName(n) => (
            filter_by("servicePrincipals", SP, "displayName", n),
            EntryKind::ServicePrincipal,
            false,
        ),
        Lookup::ServicePrincipalByAppId(a) => (
            format!(
                "/servicePrincipals(appId={}){}",
                utf8_percent_encode(&odata_string(a), SEGMENT),
                query(&[("$select", SP.into())])
            ),
            EntryKind::ServicePrincipal,
            true,
        ),
        Lookup::AdministrativeUnitsByName(n) => (
            filter_by("directory/administrativeUnits", AU, "displayName", n),
            EntryKind::AdministrativeUnit,
            false,
        ),
        Lookup::StartingWith(kind, prefix) => {
            let (set, select, prop) = match kind {
                EntryKind::User => ("users", USER, "userPrincipalName"),
                EntryKind::Group => ("groups", GROUP, "displayName"),
                EntryKind::ServicePrincipal => ("servicePrincipals", SP, "displayName"),
                EntryKind::AdministrativeUnit => {
                    ("directory/administrativeUnits", AU, "displayName")
                }
            };
            (
                format!(
                    "/{set}{}",
                    query(&[
                        (
                            "$filter",
                            format!("startswith({prop},{})", odata_string(prefix))
                        ),
                        ("$select", select.to_string()),
                        ("$top", "25".to_string()),
                    ])
                ),
                *kind,
                false,
            )
        }
    }
}

#[async_trait]
impl Graph for HttpGraph {
    fn tenant_id(&self) -> Option<String> {
        self.tenant_id.clone()
    }

    async fn caller_id(&self) -> Result<String, GraphError> {
        self.caller
            .get_or_try_init(|| self.identify_caller())
            .await
            .cloned()
    }

    async fn grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError> {
        let mut q = vec![("$top", page_size::SCHEDULES.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!(
            "/roleManagement/directory/{}{}",
            set_name(kind, false),
            query(&q)
        );
        let op = format!("GET /roleManagement/directory/{}", set_name(kind, false));
        self.grants_at(kind, &path, &op).await
    }

    async fn policies(&self, role_ids: Option<&[String]>) -> Result<Vec<Policy>, GraphError> {
        const SCOPE: &str = "scopeId eq '/' and scopeType eq 'DirectoryRole'";
        const EXPAND: &str = "policy($expand=rules)";
        let op = "GET /policies/roleManagementPolicyAssignments";
        let assignments: Vec<UnifiedRoleManagementPolicyAssignment> = match role_ids {
            // A few roles: one filtered read each, all in one $batch.
            Some(ids) if ids.len() <= 3 => {
                let paths: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        format!(
                            "/policies/roleManagementPolicyAssignments{}",
                            query(&[
                                (
                                    "$filter",
                                    format!("{SCOPE} and roleDefinitionId eq {}", odata_string(id))
                                ),
                                ("$expand", EXPAND.to_string()),
                            ])
                        )
                    })
                    .collect();
                let mut all = Vec::new();
                for r in self.batch_get(&paths).await? {
                    let page: Page<UnifiedRoleManagementPolicyAssignment> =
                        serde_json::from_value(r?)
                            .map_err(|e| GraphError::decode(op, e.to_string()))?;
                    all.extend(page.value);
                }
                all
            }
            // Many roles: the whole list at once is fewer calls than one per role.
            _ => {
                let path = format!(
                    "/policies/roleManagementPolicyAssignments{}",
                    query(&[
                        ("$filter", SCOPE.to_string()),
                        ("$expand", EXPAND.to_string()),
                        ("$top", page_size::POLICY_ASSIGNMENTS.to_string()),
                    ])
                );
                self.get_all(&path).await?
            }
        };
        let wanted: Option<std::collections::BTreeSet<String>> =
            role_ids.map(|ids| ids.iter().map(|i| i.to_ascii_lowercase()).collect());
        let mut out = Vec::new();
        for a in assignments {
            let role = a.role_definition_id.to_ascii_lowercase();
            if wanted.as_ref().is_some_and(|w| !w.contains(&role)) {
                continue;
            }
            let rules = match &a.policy {
                Some(p) => rule_set_from_wire(&p.rules).map_err(convert_err(op))?,
                None => return Err(GraphError::decode(op, "policy was not expanded")),
            };
            out.push(Policy {
                policy_id: a.policy_id,
                role_id: role,
                rules,
            });
        }
        Ok(out)
    }

    async fn role_definitions(&self) -> Result<Vec<RoleDefinition>, GraphError> {
        let path = format!(
            "/roleManagement/directory/roleDefinitions{}",
            query(&[(
                "$select",
                "id,displayName,isBuiltIn,templateId,isEnabled".into()
            )])
        );
        let defs: Vec<UnifiedRoleDefinition> = self.get_all(&path).await?;
        Ok(defs
            .into_iter()
            .map(|d| RoleDefinition {
                id: d.id.to_ascii_lowercase(),
                display_name: d.display_name,
                is_builtin: d.is_built_in,
            })
            .collect())
    }

    async fn principals_by_ids(&self, ids: &[String]) -> Result<Vec<Principal>, GraphError> {
        const TYPES: [&str; 3] = ["user", "group", "servicePrincipal"];
        let calls = ids.chunks(page_size::GET_BY_IDS).map(|chunk| async move {
            let body = serde_json::to_value(GetByIds {
                ids: chunk,
                types: &TYPES,
            })
            .map_err(|e| GraphError::decode("POST /directoryObjects/getByIds", e.to_string()))?;
            let call = Call {
                method: Method::POST,
                url: self.url("/directoryObjects/getByIds"),
                body: Some(body),
                // A read, though it is a POST.
                idempotent: true,
                retry_replication: false,
            };
            let page: Page<Value> = self
                .execute(&call)
                .await?
                .decode("POST /directoryObjects/getByIds")?;
            Ok::<_, GraphError>(page.value)
        });
        let mut out = Vec::new();
        for r in futures::future::join_all(calls).await {
            for v in r? {
                let Ok(obj) = serde_json::from_value::<DirectoryObject>(v) else {
                    continue;
                };
                out.push(match obj {
                    DirectoryObject::User(u) => Principal {
                        id: u.id.to_ascii_lowercase(),
                        kind: PrincipalKind::User,
                        display_name: u.display_name.unwrap_or_default(),
                        user_principal_name: u.user_principal_name,
                        app_id: None,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Group(g) => Principal {
                        id: g.id.to_ascii_lowercase(),
                        kind: PrincipalKind::Group,
                        display_name: g.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: None,
                        is_assignable_to_role: g.is_assignable_to_role,
                    },
                    DirectoryObject::ServicePrincipal(s) => Principal {
                        id: s.id.to_ascii_lowercase(),
                        kind: PrincipalKind::ServicePrincipal,
                        display_name: s.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: s.app_id,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Other => continue,
                });
            }
        }
        Ok(out)
    }

    async fn administrative_units(&self) -> Result<Vec<AdministrativeUnit>, GraphError> {
        let path = format!(
            "/directory/administrativeUnits{}",
            query(&[
                ("$select", "id,displayName".into()),
                ("$top", page_size::DIRECTORY.to_string()),
            ])
        );
        let aus: Vec<wire::AdministrativeUnit> = self.get_all(&path).await?;
        Ok(aus
            .into_iter()
            .map(|a| AdministrativeUnit {
                id: a.id.to_ascii_lowercase(),
                display_name: a.display_name.unwrap_or_default(),
            })
            .collect())
    }

    async fn lookup(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError> {
        let plans: Vec<(String, EntryKind, bool)> = queries.iter().map(lookup_path).collect();
        let paths: Vec<String> = plans.iter().map(|p| p.0.clone()).collect();
        let answers = self.batch_get(&paths).await?;
        Ok(answers
            .into_iter()
            .zip(plans)
            .map(|(answer, (_, kind, single))| match answer {
                Ok(v) if single => Ok(entry(kind, &v).into_iter().collect()),
                Ok(v) => Ok(v
                    .get("value")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| entry(kind, x)).collect())
                    .unwrap_or_default()),
                Err(e) if single && e.kind == ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            })
            .collect())
    }

    async fn create_request(
        &self,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        let op = format!(
            "POST /roleManagement/directory/{}",
            set_name(request.kind, true)
        );
        let mut resends = 0u32;
        loop {
            // Graph's clock and ours may differ a little; a minute of slack
            // still cannot match a request of an earlier run of pim.
            let sent_after = Utc::now() - chrono::TimeDelta::seconds(60);
            match self.post_request(request).await {
                Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                    tracing::warn!(operation = %op, "connection lost after sending; checking whether the request took effect: {e}");
                    let found =
                        self.find_sent(request, sent_after)
                            .await
                            .map_err(|re| GraphError {
                                kind: ErrorKind::OutcomeUnknown,
                                message: format!("{}; checking failed too: {re}", e.message),
                                ..e.clone()
                            })?;
                    if let Some(mut o) = found {
                        self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                        o.reconciled = true;
                        return Ok(o);
                    }
                    // It never arrived: sending again cannot duplicate it.
                    resends += 1;
                    if resends >= self.backoff.policy().max_attempts {
                        return Err(e);
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.clock.sleep(self.backoff.delay(resends, None)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_request(
        &self,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<RequestOutcome, GraphError> {
        let path = format!(
            "/roleManagement/directory/{}/{}",
            set_name(kind, true),
            utf8_percent_encode(id, SEGMENT)
        );
        let w: UnifiedRoleAssignmentScheduleRequest = self.get_json(&path).await?;
        Ok(outcome(kind, w, false))
    }

    async fn list_requests(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let mut q = vec![("$top", page_size::REQUESTS.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!(
            "/roleManagement/directory/{}{}",
            set_name(kind, true),
            query(&q)
        );
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    async fn update_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError> {
        let wire = rule_to_wire(rule, value).ok_or_else(|| {
            GraphError::config(format!("a {value:?} value does not fit policy rule {rule}"))
        })?;
        let call = Call {
            method: Method::PATCH,
            url: self.url(&format!(
                "/policies/roleManagementPolicies/{}/rules/{}",
                utf8_percent_encode(policy_id, SEGMENT),
                rule.as_str()
            )),
            body: Some(
                serde_json::to_value(&wire)
                    .map_err(|e| GraphError::decode("encode rule", e.to_string()))?,
            ),
            // The whole rule is sent: applying it twice leaves the same rule.
            idempotent: true,
            retry_replication: false,
        };
        // v1.0 answers 204, newer revisions 200 with the rule: both are success.
        self.execute(&call).await.map(|_| ())
    }

    async fn me(&self) -> Result<Me, GraphError> {
        let u: wire::User = self
            .get_json(&format!(
                "/me{}",
                query(&[("$select", "id,displayName,userPrincipalName".into())])
            ))
            .await?;
        Ok(Me {
            id: u.id.to_ascii_lowercase(),
            display_name: u.display_name.unwrap_or_default(),
            user_principal_name: u.user_principal_name,
        })
    }

    async fn token_has_mfa(&self) -> Result<Option<bool>, GraphError> {
        let token = self.tokens.get().await?;
        Ok(mfa_from_token(&token).or_else(|| self.tokens.source_mfa()))
    }

    async fn my_grants(&self, kind: AssignmentKind) -> Result<Vec<Grant>, GraphError> {
        let path = format!("/roleManagement/directory/{}/{MINE}", set_name(kind, false));
        let op = format!("GET {path}");
        self.grants_at(kind, &path, &op).await
    }

    async fn my_instances(&self, kind: AssignmentKind) -> Result<Vec<Instance>, GraphError> {
        let set = match kind {
            AssignmentKind::Eligible => "roleEligibilityScheduleInstances",
            AssignmentKind::Active => "roleAssignmentScheduleInstances",
        };
        let path = format!("/roleManagement/directory/{set}/{MINE}");
        Ok(self
            .get_all::<UnifiedRoleScheduleInstance>(&path)
            .await?
            .into_iter()
            .map(|i| instance(kind, i))
            .collect())
    }

    async fn my_requests(
        &self,
        kind: AssignmentKind,
        party: RequestParty,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let path = format!(
            "/roleManagement/directory/{}/filterByCurrentUser(on='{}')",
            set_name(kind, true),
            party.as_str()
        );
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    async fn cancel_request(&self, kind: AssignmentKind, id: &str) -> Result<(), GraphError> {
        let call = Call {
            method: Method::POST,
            url: self.url(&format!(
                "/roleManagement/directory/{}/{}/cancel",
                set_name(kind, true),
                utf8_percent_encode(id, SEGMENT)
            )),
            body: None,
            // A second cancel is refused (no longer cancelable): never resend blindly.
            idempotent: false,
            retry_replication: false,
        };
        self.execute(&call).await.map(|_| ())
    }
}

/// `filterByCurrentUser` for the signed-in principal's own grants.
const MINE: &str = "filterByCurrentUser(on='principal')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lookup_paths() {
        let (p, kind, single) = lookup_path(&Lookup::UserByUpn("a#EXT#@b.com".into()));
        assert!(p.starts_with("/users/a%23EXT%23@b.com?"), "{p}");
        assert_eq!((kind, single), (EntryKind::User, true));
        let (p, _, _) = lookup_path(&Lookup::ServicePrincipalByAppId("00000003-0000".into()));
        assert!(
            p.starts_with("/servicePrincipals(appId='00000003-0000')"),
            "{p}"
        );
    }
}
