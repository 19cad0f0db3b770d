//! Export: an existing tenant as configuration and a matching state file,
//! so it comes under management in one step (`pim export`, then `pim plan`
//! shows no changes). Grants keep the rolling duration, justification and
//! ticket of the request that made them; blocks get short, stable names;
//! permanent holders of tier-0 roles are protected; policy settings are
//! written only where they differ from Microsoft's defaults unless every
//! setting is asked for. Azure resource roles are exported at the ARM
//! scopes named (ARM cannot list a tenant's scopes): each scope's direct
//! grants and its roles' policies in a file of its own.

mod ends;
mod io;
mod naming;
mod policy;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::{
    Address, AssignmentKind, BlockKind, Caseless, ObjectId, PrincipalKind, RuleSet, SurfaceKind,
    Ticket, closest_names,
};
use crate::snapshot::{Current, Grant, PolicyKey};
use crate::state::{Resource, StateFile};

pub use io::{
    AzureInterest, ExportError, Requests, SubscriptionNames, azure_interest, copy_seed,
    ensure_empty, export_to, read, read_requests, read_subscription_names, tenant_block,
};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Roles to export, by display name or id (all roles with grants when
    /// empty). One the tenant does not have is an error.
    pub roles: Vec<String>,
    /// Write every policy setting, not just those that differ from the defaults.
    pub all_policy_settings: bool,
    /// Declare every time-bound grant with a rolling `duration` (its length
    /// in whole days), not only those made with one.
    pub durations: bool,
    /// The `tenant` block to write, as HCL attribute lines.
    pub tenant_block: Vec<(String, String)>,
    /// The roles taken for tier 0 (names or ids), as the `tenant` block
    /// says; `None` for the surface's defaults.
    pub tier0_roles: Option<Vec<String>>,
    /// Grants that ended by then are not exported; rolling durations count
    /// from then.
    pub now: DateTime<Utc>,
    /// The ARM scopes whose Azure role grants are read, and policies
    /// besides those of the roles held there: none by default, as ARM
    /// cannot list them.
    pub azure: AzureInterest,
}

/// The exported configuration: file name → HCL text (formatted), and the state.
pub struct Export {
    pub files: BTreeMap<String, String>,
    pub state: StateFile,
}

/// An HCL string literal: backslashes, quotes, template openers and
/// control characters escaped.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| quote(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn principal_ref(current: &Current, id: &str) -> String {
    match current.principals.get(id) {
        Some(p) => match (p.kind, &p.user_principal_name) {
            (PrincipalKind::User, Some(upn)) => format!("user:{upn}"),
            (PrincipalKind::Group, _) => format!("group:{}", p.display_name),
            (PrincipalKind::ServicePrincipal, _) => format!("sp:{}", p.display_name),
            _ => id.to_string(),
        },
        None => id.to_string(),
    }
}

/// How a ticket is written in configuration: `SYSTEM:NUMBER`, or the
/// number alone.
fn ticket_text(t: &Ticket) -> Option<String> {
    let number = t.number.trim();
    if number.is_empty() {
        return None;
    }
    Some(match t.system.as_deref().map(str::trim) {
        Some(system) if !system.is_empty() => format!("{system}:{number}"),
        _ => number.to_string(),
    })
}

/// A justification the configuration takes: Graph may hold a longer one
/// than pim sends, so it is cut to pim's limit rather than made unloadable.
fn justification_text(j: &str) -> Option<String> {
    let j = j.trim();
    if j.is_empty() {
        return None;
    }
    Some(
        j.chars()
            .take(crate::model::MAX_JUSTIFICATION_CHARS)
            .collect(),
    )
}

/// The role ids `--role` names (by display name or id, any case, on any
/// surface); `None` for every role. A name the tenant has no role by is an
/// error with the closest names.
fn wanted_roles(
    current: &Current,
    names: &[String],
) -> Result<Option<BTreeSet<ObjectId>>, ExportError> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut ids = BTreeSet::new();
    for name in names {
        let id = ObjectId::new(name.trim());
        // Every role by that name: an Entra role and an Azure role may
        // share one (`Security Reader`).
        let found: Vec<&ObjectId> = current
            .roles
            .values()
            .filter(|r| r.id == id || Caseless::same(r.display_name.as_str(), name.trim()))
            .map(|r| &r.id)
            .collect();
        if found.is_empty() {
            let suggestions = closest_names(
                name,
                current.roles.values().map(|r| r.display_name.as_str()),
                3,
                0.6,
            )
            .into_iter()
            .map(str::to_string)
            .collect();
            return Err(ExportError::UnknownRole {
                name: name.clone(),
                suggestions,
            });
        }
        ids.extend(found.into_iter().cloned());
    }
    Ok(Some(ids))
}

/// The tier-0 role ids: the `tenant` block's, resolved by name or id
/// against the tenant's roles, else the surface's defaults.
fn tier0_ids(current: &Current, opts: &ExportOptions) -> BTreeSet<ObjectId> {
    let default: Vec<String>;
    let names = match &opts.tier0_roles {
        Some(n) => n,
        None => {
            default = crate::surface::get(crate::model::SurfaceKind::DirectoryRole)
                .default_tier0()
                .iter()
                .map(|n| n.to_string())
                .collect();
            &default
        }
    };
    current
        .roles
        .values()
        .filter(|r| {
            names.iter().any(|n| {
                r.id == ObjectId::new(n.trim()) || Caseless::same(r.display_name.as_str(), n.trim())
            })
        })
        .map(|r| r.id.clone())
        .collect()
}

/// One grant's block, by name.
struct Block {
    name: String,
    kind: AssignmentKind,
    text: String,
}

/// The tenant as configuration. `requests` are the schedule requests Graph
/// and ARM still have (what made each grant), `subscriptions` the names
/// Azure scopes are called by in block and file names, `defaults`
/// Microsoft's default rules.
/// Fails, before anything is written, on a `--role` the tenant lacks.
pub fn export(
    current: &Current,
    requests: &Requests,
    subscriptions: &SubscriptionNames,
    defaults: &RuleSet,
    opts: &ExportOptions,
) -> Result<Export, ExportError> {
    let role_name = |id: &str| {
        current
            .roles
            .get(id)
            .map_or_else(|| id.to_string(), |r| r.display_name.clone())
    };
    let wanted = wanted_roles(current, &opts.roles)?;
    let is_wanted = |id: &ObjectId| wanted.as_ref().is_none_or(|w| w.contains(id));
    let grants: Vec<&Grant> = current
        .grants
        .iter()
        .filter(|g| g.is_manageable() && !g.has_ended(opts.now) && is_wanted(&g.role_id))
        .collect();

    let scope_of = |g: &Grant| {
        (g.scope_id != "/").then(|| match g.surface {
            SurfaceKind::AzureRole => naming::azure_scope_text(&g.scope_id),
            _ => crate::surface::get(g.surface).scope_name(current, &g.scope_id),
        })
    };
    let candidates: Vec<naming::Candidate> = grants
        .iter()
        .map(|g| naming::Candidate {
            kind: g.kind,
            name: match g.surface {
                SurfaceKind::Group => naming::group_block_name(
                    &principal_ref(current, &g.principal_id),
                    &crate::surface::get(g.surface).scope_name(current, &g.scope_id),
                    g.role_id.as_str(),
                ),
                SurfaceKind::AzureRole => naming::azure_block_name(
                    &principal_ref(current, &g.principal_id),
                    &crate::surface::get(g.surface).role_name(current, &g.role_id),
                    &g.scope_id,
                    subscriptions,
                ),
                _ => naming::block_name(
                    &principal_ref(current, &g.principal_id),
                    &role_name(&g.role_id),
                    scope_of(g).as_deref(),
                ),
            },
            key: (
                g.principal_id.to_string(),
                g.role_id.to_string(),
                g.scope_id.clone(),
            ),
        })
        .collect();
    let names = naming::unique_names(&candidates);

    let tier0 = tier0_ids(current, opts);
    let mut state = StateFile::new(uuid::Uuid::new_v4().to_string());
    let mut by_role: BTreeMap<PolicyKey, Vec<Block>> = BTreeMap::new();
    let mut protected: BTreeMap<ObjectId, BTreeSet<String>> = BTreeMap::new();
    // Azure's tier-0 roles are tier 0 at every scope, whatever the tenant
    // block names (which are directory roles); each scope's holders apart.
    let azure_tier0: BTreeSet<ObjectId> = crate::surface::AZURE_TIER0
        .iter()
        .filter_map(|n| crate::model::find_azure_role(n))
        .map(|r| ObjectId::new(r.id.as_str()))
        .collect();
    let mut azure_protected: BTreeMap<PolicyKey, BTreeSet<String>> = BTreeMap::new();
    for (g, name) in grants.iter().zip(names) {
        let principal = principal_ref(current, &g.principal_id);
        let surface = crate::surface::get(g.surface);
        let request = g.created_using.as_deref().and_then(|id| requests.get(id));
        let end = ends::declared_end(
            g,
            request
                .and_then(|r| r.schedule.as_ref())
                .map(|s| &s.expiration),
            opts.durations,
            opts.now,
        );
        let kind = match g.kind {
            AssignmentKind::Eligible => BlockKind::Eligibility,
            AssignmentKind::Active => BlockKind::Assignment,
        };
        let mut text = String::new();
        let _ = writeln!(text, "{} {} {{", kind.as_str(), quote(&name));
        let _ = writeln!(text, "principal = {}", quote(&principal));
        // A group's access is member unless it says otherwise.
        if surface.default_role() != Some(g.role_id.as_str()) {
            let _ = writeln!(
                text,
                "{} = {}",
                surface.role_attribute(),
                quote(&surface.role_name(current, &g.role_id))
            );
        }
        if let Some(scope) = scope_of(g) {
            let _ = writeln!(text, "{} = {}", surface.scope_attribute(), quote(&scope));
        }
        let (attribute, value) = end.attribute();
        let _ = writeln!(text, "{attribute} = {value}");
        if let Some(j) = request
            .and_then(|r| r.justification.as_deref())
            .and_then(justification_text)
        {
            let _ = writeln!(text, "justification = {}", quote(&j));
        }
        if let Some(t) = request
            .and_then(|r| r.ticket.as_ref())
            .and_then(ticket_text)
        {
            let _ = writeln!(text, "ticket = {}", quote(&t));
        }
        // Written as read: the planner compares it as it stands.
        if let Some(c) = &g.condition {
            let _ = writeln!(text, "condition = {}", quote(c));
        }
        text.push_str("}\n");
        if g.kind == AssignmentKind::Active
            && g.end().is_none()
            && g.surface == SurfaceKind::DirectoryRole
            && tier0.contains(&g.role_id)
        {
            protected
                .entry(g.role_id.clone())
                .or_default()
                .insert(principal.clone());
        }
        if g.kind == AssignmentKind::Active
            && g.end().is_none()
            && g.surface == SurfaceKind::AzureRole
            && azure_tier0.contains(&g.role_id)
        {
            azure_protected
                .entry(g.key())
                .or_default()
                .insert(principal.clone());
        }
        state.resources.push(Resource::of_grant(
            Address::new(kind, name.clone()),
            g,
            json!({ "duration": end.recorded(), "exported": true }),
        ));
        by_role.entry(g.key()).or_default().push(Block {
            name,
            kind: g.kind,
            text,
        });
    }

    let mut files = BTreeMap::new();
    let mut tenant = String::from("tenant {\n");
    for (k, v) in &opts.tenant_block {
        let _ = writeln!(tenant, "  {k} = {v}");
    }
    tenant.push_str("}\n");
    files.insert("tenant.pim.hcl".to_string(), tenant);

    let mut role_ids: BTreeSet<PolicyKey> = by_role.keys().cloned().collect();
    if let Some(w) = &wanted {
        role_ids.extend(
            w.iter()
                .map(|id| PolicyKey::directory(id.clone()))
                .filter(|k| current.policies.contains_key(k)),
        );
    }
    // A group's accesses share its file: both policies beside its grants.
    if wanted.is_none() {
        let groups: BTreeSet<String> = role_ids
            .iter()
            .filter(|k| k.surface == SurfaceKind::Group)
            .map(|k| k.scope_id.clone())
            .collect();
        role_ids.extend(
            current
                .policies
                .keys()
                .filter(|k| k.surface == SurfaceKind::Group && groups.contains(&k.scope_id))
                .cloned(),
        );
    }
    // The Azure policies read are those of the roles held at the scopes
    // exported and those the source configuration names: all are wanted.
    role_ids.extend(
        current
            .policies
            .keys()
            .filter(|k| k.surface == SurfaceKind::AzureRole && is_wanted(&k.role_id))
            .cloned(),
    );
    let group_defaults = crate::surface::get(SurfaceKind::Group).default_rules();
    let azure_defaults = crate::surface::get(SurfaceKind::AzureRole).default_rules();
    // Each Azure scope's grants, then its role and policy blocks, for a
    // file of its own.
    let mut azure: BTreeMap<String, (Vec<Block>, Vec<String>)> = BTreeMap::new();
    // Custom roles' blocks, by name: one file declares them all.
    let mut custom: BTreeMap<String, String> = BTreeMap::new();
    for key in role_ids {
        if key.surface == SurfaceKind::AzureRole {
            let surface = crate::surface::get(key.surface);
            let (blocks, others) = azure.entry(key.scope_id.clone()).or_default();
            blocks.extend(by_role.remove(&key).unwrap_or_default());
            let label = format!("azure:{}", surface.role_name(current, &key.role_id));
            let scope = naming::azure_scope_text(&key.scope_id);
            let role = role_block(
                &label,
                Some(("scope", &scope)),
                false,
                azure_protected.get(&key),
            );
            if !role.is_empty() {
                others.push(role);
            }
            if let Some(p) = current.policies.get(&key) {
                let base = if opts.all_policy_settings {
                    RuleSet::default()
                } else {
                    azure_defaults.clone()
                };
                others.extend(policy::policy_block(
                    current,
                    &label,
                    Some(("scope", &scope)),
                    &p.rules,
                    &base,
                ));
            }
            continue;
        }
        let group = key.surface == SurfaceKind::Group;
        let surface = crate::surface::get(key.surface);
        let name = if group {
            surface.scope_name(current, &key.scope_id)
        } else {
            role_name(&key.role_id)
        };
        let is_custom = !group
            && current
                .roles
                .get(&key.role_id)
                .is_some_and(|r| !r.is_builtin);
        let mut blocks = by_role.remove(&key).unwrap_or_default();
        blocks.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
        let mut parts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
        let role = role_block(
            &name,
            None,
            is_custom,
            protected.get(&key.role_id).filter(|_| !group),
        );
        if is_custom {
            custom.insert(name.clone(), role);
        } else if !role.is_empty() {
            parts.push(role);
        }
        if let Some(p) = current.policies.get(&key) {
            let base = if opts.all_policy_settings {
                RuleSet::default()
            } else if group {
                group_defaults.clone()
            } else {
                defaults.clone()
            };
            let access = (group && surface.default_role() != Some(key.role_id.as_str()))
                .then_some(key.role_id.as_str());
            parts.extend(policy::policy_block(
                current,
                &name,
                access.map(|a| ("access", a)),
                &p.rules,
                &base,
            ));
        }
        if !parts.is_empty() {
            let file = format!("{}.pim.hcl", naming::slug(&name));
            match files.get_mut(&file) {
                Some(text) => {
                    text.push('\n');
                    text.push_str(&parts.join("\n"));
                }
                None => {
                    files.insert(file, parts.join("\n"));
                }
            }
        }
    }
    for (scope, (mut blocks, others)) in azure {
        blocks.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
        let parts: Vec<String> = blocks.into_iter().map(|b| b.text).chain(others).collect();
        if !parts.is_empty() {
            let name = subscription_of(&scope)
                .and_then(|id| subscriptions.get(id))
                .map(|n| format!(" (subscription {})", quote(n)))
                .unwrap_or_default();
            let text = format!(
                "# Azure roles at {}{name}\n\n{}",
                naming::azure_scope_text(&scope),
                parts.join("\n")
            );
            files
                .entry(naming::azure_file(&scope, subscriptions))
                .and_modify(|t: &mut String| {
                    t.push('\n');
                    t.push_str(&parts.join("\n"));
                })
                .or_insert(text);
        }
    }
    if !custom.is_empty() {
        let blocks: Vec<String> = custom.into_values().collect();
        files.insert("custom-roles.pim.hcl".to_string(), blocks.join("\n"));
    }
    state.resources.sort_by_key(|r| r.address.to_string());
    for text in files.values_mut() {
        if let Ok(formatted) = crate::config::fmt::format_source(text) {
            *text = formatted;
        }
    }
    Ok(Export { files, state })
}

/// The subscription id an ARM scope lies in, if any.
fn subscription_of(scope_id: &str) -> Option<&str> {
    scope_id
        .strip_prefix("/subscriptions/")
        .and_then(|rest| rest.split('/').next())
}

/// A `role` block, with the attribute that completes its label (an Azure
/// role's `scope`) if any: `custom = true` for a custom role, and the
/// principals that hold a tier-0 role permanently as `protected`, so that
/// the first plan neither warns about them (PIM001) nor can remove them.
/// Empty when there is nothing to say.
fn role_block(
    name: &str,
    attribute: Option<(&str, &str)>,
    custom: bool,
    protected: Option<&BTreeSet<String>>,
) -> String {
    let protected: Vec<String> = protected.into_iter().flatten().cloned().collect();
    if !custom && protected.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    if !protected.is_empty() {
        out.push_str(
            "# Held permanently when exported, so listed as protected: pim never\n\
             # removes them, and the baseline takes them for break-glass accounts.\n\
             # Make any that is not one eligible instead, and drop it from here.\n",
        );
    }
    let _ = writeln!(out, "role {} {{", quote(name));
    if let Some((attribute, value)) = attribute {
        let _ = writeln!(out, "{attribute} = {}", quote(value));
    }
    if custom {
        out.push_str("custom = true\n");
    }
    if !protected.is_empty() {
        let _ = writeln!(out, "protected = {}", list(&protected));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_as_hcl_reads_them() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(
            quote("say \"hi\"\\ ${x} %{y} $5 100%"),
            "\"say \\\"hi\\\"\\\\ $${x} %%{y} $5 100%\""
        );
        assert_eq!(quote("two\nlines\t\u{1b}"), "\"two\\nlines\\t\\u001b\"");
    }

    #[test]
    fn tickets_and_justifications_are_written_as_the_language_takes_them() {
        let t = |system: Option<&str>, number: &str| Ticket {
            system: system.map(str::to_string),
            number: number.into(),
        };
        assert_eq!(
            ticket_text(&t(Some("ServiceNow"), "INC0042")).as_deref(),
            Some("ServiceNow:INC0042")
        );
        assert_eq!(
            ticket_text(&t(Some(" "), "INC0042")).as_deref(),
            Some("INC0042")
        );
        assert_eq!(ticket_text(&t(None, "INC0042")).as_deref(), Some("INC0042"));
        assert_eq!(ticket_text(&t(Some("ServiceNow"), "")), None);
        assert_eq!(justification_text("  "), None);
        let long = "x".repeat(700);
        assert_eq!(
            justification_text(&long).map(|j| j.chars().count()),
            Some(crate::model::MAX_JUSTIFICATION_CHARS)
        );
    }
}
