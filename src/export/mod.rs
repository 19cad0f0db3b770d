//! Export: an existing tenant as configuration and a matching state file,
//! so it comes under management in one step (`pim export`, then `pim plan`
//! shows no changes). Principals are named by UPN or display name; policy
//! settings are written only where they differ from Microsoft's defaults
//! unless every setting is asked for.

mod io;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::json;

use crate::model::{
    Address, ApprovalSetting, AssignmentKind, BlockKind, Caseless, EnablementFactor, Expiration,
    NotificationEvent, NotificationLevel, ObjectId, PrincipalKind, RuleId, RuleSet, RuleValue,
};
use crate::snapshot::{ActiveType, Current, Grant, MemberType};
use crate::state::{Resource, StateFile};

pub use io::{ExportError, ensure_empty, export_to, read, tenant_block};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Role display names to export (all roles with grants when empty).
    pub roles: Vec<String>,
    /// Write every policy setting, not just those that differ from the defaults.
    pub all_policy_settings: bool,
    /// The `tenant` block to write, as HCL attribute lines.
    pub tenant_block: Vec<(String, String)>,
    /// Grants that ended by then are not exported.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The exported configuration: file name → HCL text (formatted), and the state.
pub struct Export {
    pub files: BTreeMap<String, String>,
    pub state: StateFile,
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = Caseless::ascii(out.trim_matches('_')).into_string();
    if out.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("x_{out}")
    }
}

fn quote(s: &str) -> String {
    // HCL strings: escape backslashes, quotes and template openers.
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "$${")
        .replace("%{", "%%{");
    format!("\"{escaped}\"")
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

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The tenant as configuration. `defaults` are Microsoft's default rules.
pub fn export(current: &Current, defaults: &RuleSet, opts: &ExportOptions) -> Export {
    let role_name = |id: &str| {
        current
            .roles
            .get(id)
            .map_or_else(|| id.to_string(), |r| r.display_name.clone())
    };
    let wanted = |id: &str| {
        opts.roles.is_empty() || opts.roles.iter().any(|r| Caseless::same(r, &role_name(id)))
    };
    let mut by_role: BTreeMap<ObjectId, Vec<&Grant>> = BTreeMap::new();
    for g in &current.grants {
        if g.member_type == MemberType::Direct
            && g.active_type != Some(ActiveType::Activated)
            && wanted(&g.role_id)
        {
            by_role.entry(g.role_id.clone()).or_default().push(g);
        }
    }
    let mut files = BTreeMap::new();
    let mut state = StateFile::new(uuid::Uuid::new_v4().to_string());
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut custom: BTreeSet<String> = BTreeSet::new();

    let mut tenant = String::from("tenant {\n");
    for (k, v) in &opts.tenant_block {
        let _ = writeln!(tenant, "  {k} = {v}");
    }
    tenant.push_str("}\n");
    files.insert("tenant.pim.hcl".to_string(), tenant);

    let mut role_ids: BTreeSet<ObjectId> = by_role.keys().cloned().collect();
    role_ids.extend(
        current
            .policies
            .keys()
            .filter(|id| wanted(id) && !opts.roles.is_empty())
            .cloned(),
    );
    for role_id in role_ids {
        let name = role_name(&role_id);
        if current.roles.get(&role_id).is_some_and(|r| !r.is_builtin) {
            custom.insert(name.clone());
        }
        let mut text = String::new();
        let mut grants = by_role.remove(&role_id).unwrap_or_default();
        grants.sort_by(|a, b| {
            (a.kind, principal_ref(current, &a.principal_id))
                .cmp(&(b.kind, principal_ref(current, &b.principal_id)))
        });
        for g in grants {
            let principal = principal_ref(current, &g.principal_id);
            let mut block = format!(
                "{}__{}",
                slug(principal.split_once(':').map_or(&principal, |(_, n)| n)),
                slug(&name)
            );
            // The target as its surface writes it in configuration.
            let surface = crate::surface::get(g.surface);
            if g.scope_id != "/" {
                let scope = surface.scope_name(current, &g.scope_id);
                block = format!("{block}__{}", slug(&scope));
            }
            while !used.insert(format!("{}.{block}", g.kind)) {
                block.push('_');
            }
            let kind = match g.kind {
                AssignmentKind::Eligible => BlockKind::Eligibility,
                AssignmentKind::Active => BlockKind::Assignment,
            };
            let _ = writeln!(text, "{} {} {{", kind.as_str(), quote(&block));
            let _ = writeln!(text, "principal = {}", quote(&principal));
            let _ = writeln!(text, "{} = {}", surface.role_attribute(), quote(&name));
            if g.scope_id != "/" {
                let scope = surface.scope_name(current, &g.scope_id);
                let _ = writeln!(text, "{} = {}", surface.scope_attribute(), quote(&scope));
            }
            let declared = match (&g.expiration, g.end()) {
                (Expiration::Permanent, _) | (_, None) => {
                    let _ = writeln!(text, "permanent = true");
                    "permanent".to_string()
                }
                (_, Some(end)) => {
                    let _ = writeln!(text, "expires = {}", quote(&time(end)));
                    time(end)
                }
            };
            text.push_str("}\n\n");
            state.resources.push(Resource::of_grant(
                Address::new(kind, block),
                g,
                json!({ "duration": declared, "exported": true }),
            ));
        }
        if let Some(p) = current.policies.get(&role_id) {
            let base = if opts.all_policy_settings {
                RuleSet::default()
            } else {
                defaults.clone()
            };
            if let Some(block) = policy_block(current, &name, &p.rules, &base) {
                text.push_str(&block);
            }
        }
        if !text.is_empty() {
            files.insert(format!("{}.pim.hcl", slug(&name)), text);
        }
    }
    if !custom.is_empty() {
        let mut text = String::new();
        for name in custom {
            let _ = writeln!(text, "role {} {{\ncustom = true\n}}\n", quote(&name));
        }
        files.insert("custom-roles.pim.hcl".to_string(), text);
    }
    state.resources.sort_by_key(|r| r.address.to_string());
    for text in files.values_mut() {
        if let Ok(formatted) = crate::config::fmt::format_source(text) {
            *text = formatted;
        }
    }
    Export { files, state }
}

/// A `policy` block with the settings of `rules` that differ from `base`
/// (every setting when `base` is empty).
fn policy_block(current: &Current, role: &str, rules: &RuleSet, base: &RuleSet) -> Option<String> {
    let differs = |id: RuleId| rules.get(id).is_some() && rules.get(id) != base.get(id);
    let mut activation = Vec::new();
    let mut eligibility = Vec::new();
    let mut active = Vec::new();
    let mut notifications = Vec::new();
    let dur = |d: Option<crate::model::IsoDuration>| d.map(|d| quote(&d.to_string()));
    if differs(RuleId::ExpirationEndUserAssignment)
        && let Some((_, Some(max))) = rules.expiration(RuleId::ExpirationEndUserAssignment)
    {
        activation.push(format!("max_duration = {}", quote(&max.to_string())));
    }
    if differs(RuleId::EnablementEndUserAssignment) {
        let f = rules.factors(RuleId::EnablementEndUserAssignment);
        activation.push(format!(
            "require_mfa = {}",
            f.contains(&EnablementFactor::MultiFactorAuthentication)
        ));
        activation.push(format!(
            "require_justification = {}",
            f.contains(&EnablementFactor::Justification)
        ));
        activation.push(format!(
            "require_ticket = {}",
            f.contains(&EnablementFactor::Ticketing)
        ));
    }
    if differs(RuleId::AuthenticationContextEndUserAssignment)
        && let Some(RuleValue::AuthenticationContext { enabled, claim }) =
            rules.get(RuleId::AuthenticationContextEndUserAssignment)
    {
        let v = if *enabled {
            claim.clone().unwrap_or_default()
        } else {
            String::new()
        };
        activation.push(format!("authentication_context = {}", quote(&v)));
    }
    let mut approval = None;
    if differs(RuleId::ApprovalEndUserAssignment)
        && let Some(a) = rules.approval()
    {
        approval = Some(approval_block(current, a));
    }
    for (id, lines) in [
        (RuleId::ExpirationAdminEligibility, &mut eligibility),
        (RuleId::ExpirationAdminAssignment, &mut active),
    ] {
        if differs(id)
            && let Some((required, max)) = rules.expiration(id)
        {
            lines.push(format!("allow_permanent = {}", !required));
            if let Some(m) = dur(max) {
                lines.push(format!("max_duration = {m}"));
            }
        }
    }
    if differs(RuleId::EnablementAdminAssignment) {
        let f = rules.factors(RuleId::EnablementAdminAssignment);
        active.push(format!(
            "require_mfa = {}",
            f.contains(&EnablementFactor::MultiFactorAuthentication)
        ));
        active.push(format!(
            "require_justification = {}",
            f.contains(&EnablementFactor::Justification)
        ));
    }
    for e in NotificationEvent::ALL {
        if differs(e.rule_id())
            && let Some(RuleValue::Notification {
                level,
                default_recipients,
                recipients,
            }) = rules.get(e.rule_id())
        {
            let level = match level {
                NotificationLevel::All => "all",
                NotificationLevel::Critical => "critical",
                NotificationLevel::None => "none",
            };
            notifications.push(format!(
                "notification {} {{\nrecipients = {}\ndefault_recipients = {default_recipients}\nlevel = {}\n}}\n",
                quote(e.as_str()),
                list(recipients),
                quote(level)
            ));
        }
    }
    if activation.is_empty()
        && approval.is_none()
        && eligibility.is_empty()
        && active.is_empty()
        && notifications.is_empty()
    {
        return None;
    }
    let mut out = format!("policy {} {{\n", quote(role));
    if !activation.is_empty() || approval.is_some() {
        out.push_str("activation {\n");
        for l in activation {
            out.push_str(&l);
            out.push('\n');
        }
        if let Some(a) = approval {
            out.push_str(&a);
        }
        out.push_str("}\n");
    }
    for (name, lines) in [("eligibility", eligibility), ("active_assignment", active)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "{name} {{\n{}\n}}", lines.join("\n"));
        }
    }
    for n in notifications {
        out.push_str(&n);
    }
    out.push_str("}\n\n");
    Some(out)
}

fn approval_block(current: &Current, a: &ApprovalSetting) -> String {
    let approvers: Vec<String> = a
        .stages
        .first()
        .map(|s| {
            s.primary_approvers
                .iter()
                .map(|ap| principal_ref(current, ap.id()))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "approval {{\nrequired = {}\napprovers = {}\nrequire_for_extension = {}\n}}\n",
        a.required,
        list(&approvers),
        a.required_for_extension
    )
}
