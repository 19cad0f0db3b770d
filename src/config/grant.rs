//! `eligibility` and `assignment` blocks: `for_each` expansion, schedules,
//! and the check that no principal holds the same role twice.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use hcl::Value;
use hcl::edit::structure::Attribute;

use super::Declared;
use super::diagnostic::{Diagnostic, Location, SourceFile};
use super::eval::{EvalScope, type_name};
use super::fields::Fields;
use super::load::{HIDDEN_HINT, Item, Loader, offset_of, span_of};
use crate::model::{
    Address, Assignment, AssignmentKind, BlockKind, Caseless, Expiration, PrincipalKind,
    PrincipalRef, Schedule, Scope as DirScope, SurfaceKind, Ticket,
};
use crate::render::escape;

impl Loader<'_> {
    pub(super) fn grants(
        &mut self,
        item: Item<'_>,
        kind: AssignmentKind,
        scope: &EvalScope,
        custom: &HashSet<Caseless>,
        addresses: &mut HashMap<Address, Location>,
    ) -> Vec<Declared<Assignment>> {
        let Some(label) = item.block.labels.first() else {
            return Vec::new();
        };
        let name = label.as_str().to_string();
        let block_kind = if kind == AssignmentKind::Eligible {
            BlockKind::Eligibility
        } else {
            BlockKind::Assignment
        };
        if !is_identifier(&name) {
            self.error(
                item.file,
                span_of(label),
                format!("\"{name}\" is not a valid block name"),
            )
            .hint =
                Some("use letters, digits, _ and -, starting with a letter, as in alice_ga".into());
            return Vec::new();
        }
        let instances: Vec<(Option<String>, Value)> =
            match item.block.body.get_attribute("for_each") {
                None => vec![(None, Value::Null)],
                Some(attr) => match self.for_each(item.file, attr, scope) {
                    Some(list) => list.into_iter().map(|(k, v)| (Some(k), v)).collect(),
                    None => return Vec::new(),
                },
            };
        let has_for_each = item.block.body.get_attribute("for_each").is_some();
        let mut out = Vec::new();
        for (key, value) in instances {
            let each_scope;
            let s = match &key {
                Some(k) => {
                    each_scope = scope.with_each(k, &value);
                    &each_scope
                }
                None => scope,
            };
            let mut address = Address::new(block_kind, name.clone());
            if let Some(k) = &key {
                address = address.with_key(k.clone());
            }
            // Only this instance's diagnostics: counting all of them per
            // instance would make a file with many errors quadratic.
            let before = self.diags.0.len();
            let surface = crate::surface::for_block(|a| item.block.body.get_attribute(a).is_some());
            let mut b = Fields::new(self, item, s, Some(has_for_each));
            let principal = b.principal("principal", true);
            let role_name = match surface.default_role() {
                Some(d) => Some(
                    b.string(surface.role_attribute())
                        .unwrap_or_else(|| d.to_string()),
                ),
                None => b.required_string(surface.role_attribute()),
            };
            let dir_scope = b.scope(surface);
            // Another surface's target attributes do not mix with this one's.
            for other in crate::surface::all().filter(|o| o.kind() != surface.kind()) {
                for attr in [other.role_attribute(), other.scope_attribute()] {
                    if attr == surface.role_attribute()
                        || attr == surface.scope_attribute()
                        || item.block.body.get_attribute(attr).is_none()
                    {
                        continue;
                    }
                    let span = b.value_span(attr);
                    b.loader
                        .error(
                            item.file,
                            span,
                            format!(
                                "{attr} is not an attribute of a {} grant",
                                surface.kind()
                            ),
                        )
                        .hint = Some(match surface.kind() {
                        SurfaceKind::Group => "a group grant names group and access (member or owner); a directory role grant names role and scope".into(),
                        SurfaceKind::AzureRole => "an Azure role grant names azure_role and scope; a directory role grant names role and scope".into(),
                        _ => format!("{attr} belongs to {} grants, which name {} instead of role", other.kind(), other.marker_attribute()),
                    });
                }
            }
            let schedule = b.schedule(kind);
            let condition = b.string("condition");
            if condition.is_some() && surface.kind() != SurfaceKind::AzureRole {
                let span = b.value_span("condition");
                b.loader
                    .error(
                        item.file,
                        span,
                        format!("a {} grant takes no condition", surface.kind()),
                    )
                    .hint = Some(
                    "conditions (ABAC) apply to Azure role grants, which name azure_role and scope"
                        .into(),
                );
            }
            let condition = condition.filter(|c| !c.trim().is_empty());
            let justification = b.string("justification");
            if let Some(j) = &justification
                && j.chars().count() > crate::model::MAX_JUSTIFICATION_CHARS
            {
                let span = b.value_span("justification");
                b.loader
                    .error(
                        item.file,
                        span,
                        format!(
                            "justification is {} characters long; pim sends at most {}",
                            j.chars().count(),
                            crate::model::MAX_JUSTIFICATION_CHARS
                        ),
                    )
                    .hint =
                    Some("say why in a sentence or two, and put the rest in the ticket".into());
            }
            let ticket = b.string("ticket").map(|t| match t.split_once(':') {
                Some((sys, num)) => Ticket {
                    system: Some(sys.trim().to_string()),
                    number: num.trim().to_string(),
                },
                None => Ticket {
                    system: None,
                    number: t,
                },
            });
            let origin = b.origin();
            let role_span = b.value_span(surface.role_attribute());
            let principal_span = b.value_span("principal");
            let role =
                role_name.and_then(|n| self.role_name(surface, item.file, role_span, &n, custom));
            if kind == AssignmentKind::Eligible
                && principal
                    .as_ref()
                    .is_some_and(|p| p.kind() == Some(PrincipalKind::ServicePrincipal))
            {
                self.error(
                    item.file,
                    principal_span,
                    "a service principal cannot be made eligible",
                )
                .hint = Some(
                    "service principals can only hold active assignments: use an assignment block"
                        .into(),
                );
            }
            if self.diags.0[before..].iter().any(Diagnostic::is_error) {
                continue;
            }
            let (Some(principal), Some(role), Some(schedule)) = (principal, role, schedule) else {
                continue;
            };
            self.claim_address(addresses, &address, &origin.block);
            out.push(Declared {
                address,
                origin,
                item: Assignment {
                    surface: surface.kind(),
                    kind,
                    principal,
                    role,
                    scope: dir_scope,
                    schedule,
                    justification,
                    ticket,
                    condition,
                },
            });
        }
        out
    }

    fn for_each(
        &mut self,
        file: &SourceFile,
        attr: &Attribute,
        scope: &EvalScope,
    ) -> Option<Vec<(String, Value)>> {
        let span = span_of(&attr.value);
        if !self.check_refs_scoped(file, &attr.value, scope, false) {
            return None;
        }
        let v = match scope.eval(&attr.value) {
            Ok(v) => v,
            Err(e) => {
                self.error(file, span, format!("cannot evaluate for_each: {e}"));
                return None;
            }
        };
        let hint = "for_each takes a set or list of strings, as in toset([\"user:a@contoso.com\"]), or a map";
        match v {
            Value::Array(items) => {
                let mut out: Vec<(String, Value)> = Vec::new();
                let mut seen: HashSet<String> = HashSet::new();
                for it in items {
                    let Value::String(s) = &it else {
                        self.error(
                            file,
                            span.clone(),
                            format!("for_each over a list of {}s", type_name(&it)),
                        )
                        .hint = Some(hint.into());
                        return None;
                    };
                    if !self.visible_key(file, &span, s) {
                        return None;
                    }
                    if !seen.insert(s.clone()) {
                        self.error(file, span.clone(), format!("for_each lists \"{s}\" twice"))
                            .hint = Some("wrap the list in toset(…) to drop duplicates".into());
                        return None;
                    }
                    out.push((s.clone(), it.clone()));
                }
                Some(out)
            }
            Value::Object(map) => {
                if map.keys().any(|k| !self.visible_key(file, &span, k)) {
                    return None;
                }
                Some(map.into_iter().collect())
            }
            other => {
                self.error(
                    file,
                    span,
                    format!("for_each must be a collection, not a {}", type_name(&other)),
                )
                .hint = Some(hint.into());
                None
            }
        }
    }

    /// A `for_each` key becomes part of an address, printed in plans and
    /// kept in state: it must not hold control characters.
    fn visible_key(&mut self, file: &SourceFile, span: &Range<usize>, key: &str) -> bool {
        if !escape::has_hidden(key) {
            return true;
        }
        self.error(
            file,
            span.clone(),
            format!(
                "the for_each key {} holds a control character",
                escape::quoted(key)
            ),
        )
        .hint = Some(HIDDEN_HINT.into());
        false
    }

    pub(super) fn check_duplicate_grants(&mut self, grants: &[Declared<Assignment>]) {
        let mut seen: HashMap<
            (
                SurfaceKind,
                AssignmentKind,
                PrincipalRef,
                Caseless,
                DirScope,
            ),
            &Declared<Assignment>,
        > = HashMap::new();
        for g in grants {
            let a = &g.item;
            let key = (
                a.surface,
                a.kind,
                a.principal.normalized(),
                Caseless::new(&a.role.to_string()),
                a.scope.clone(),
            );
            if let Some(first) = seen.get(&key) {
                let what = if a.kind == AssignmentKind::Eligible {
                    "eligible for"
                } else {
                    "assigned"
                };
                let msg = format!(
                    "{} is {what} \"{}\" at {} twice: by {} and {}",
                    a.principal, a.role, a.scope, first.address, g.address
                );
                let hint = format!(
                    "{} is declared at {}; keep one of them",
                    first.address, first.origin.block
                );
                let mut d = Diagnostic::error(msg).with_hint(hint);
                if let Some(file) = self.file_for(&g.origin.block) {
                    let o = offset_of(&file, g.origin.attribute("principal"));
                    d = d.at(&file, o..o + 1);
                }
                self.diags.push(d);
            } else {
                seen.insert(key, g);
            }
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Fields<'_, '_, '_, '_> {
    fn schedule(&mut self, kind: AssignmentKind) -> Option<Schedule> {
        let start = self.datetime("start");
        let permanent_set = self.attr("permanent").is_some();
        let permanent = self.bool("permanent");
        let present: Vec<&str> = ["duration", "expires"]
            .into_iter()
            .filter(|n| self.attr(n).is_some())
            .chain(permanent.filter(|p| *p).map(|_| "permanent"))
            .collect();
        if present.len() > 1 {
            let span = self.value_span(present[1]);
            self.loader
                .error(
                    self.item.file,
                    span,
                    format!(
                        "\"{}\" cannot be combined with \"{}\"",
                        present[1], present[0]
                    ),
                )
                .hint = Some(
                "a grant ends one way: set only one of duration, expires or permanent = true"
                    .into(),
            );
            return None;
        }
        let expiration = match present.first().copied() {
            Some("duration") => Expiration::After(self.duration("duration")?),
            Some("expires") => {
                let at = self.datetime("expires")?;
                let now = self.loader.opts.now;
                let span = self.value_span("expires");
                // A date that has passed is the normal end of a grant, not a
                // broken file: the plan forgets or leaves such a grant, and
                // refuses only to create it.
                if at <= now {
                    let mut d = Diagnostic::warning(format!(
                        "expires {} has passed: the grant has ended, and pim will not create it",
                        at.format("%Y-%m-%dT%H:%M:%SZ")
                    ))
                    .at(self.item.file, span.clone());
                    d.hint = Some(format!(
                        "it is now {}; remove the block, or pick a later date or a duration",
                        now.format("%Y-%m-%dT%H:%M:%SZ")
                    ));
                    self.loader.diags.push(d);
                }
                if start.is_some_and(|s| at <= s) {
                    self.loader
                        .error(self.item.file, span, "expires is not after start");
                    return None;
                }
                Expiration::At(at)
            }
            Some(_) => Expiration::Permanent,
            None => {
                let span = if permanent_set {
                    self.value_span("permanent")
                } else {
                    span_of(&self.item.block.ident)
                };
                let block = kind.block_name();
                self.loader.error(self.item.file, span, format!("\"{block}\" block does not say when it ends")).hint =
                    Some("set one of duration = \"P180D\", expires = \"2027-06-01T00:00:00Z\" or permanent = true".into());
                return None;
            }
        };
        Some(Schedule { start, expiration })
    }
}
