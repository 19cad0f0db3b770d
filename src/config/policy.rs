//! `policy` blocks and their nested `activation`, `approval`, `eligibility`,
//! `active_assignment` and `notification` blocks.

use std::collections::{HashMap, HashSet};

use super::diagnostic::Location;
use super::eval::EvalScope;
use super::fields::Fields;
use super::load::{Item, Loader, location, span_of, suggest};
use super::{Declared, PolicySettings};
use crate::model::{
    ActivationRules, Approval, AssignmentRules, BlockKind, Caseless, EligibilityRules, IsoDuration,
    NotificationEvent, NotificationLevel, NotificationRules, PolicyRules,
};

/// Entra's upper bound on a single activation.
const MAX_ACTIVATION: IsoDuration = IsoDuration::hours(8);

impl Loader<'_> {
    pub(super) fn policy(
        &mut self,
        item: Item<'_>,
        scope: &EvalScope,
        custom: &HashSet<Caseless>,
    ) -> Option<Declared<PolicySettings>> {
        let label = item.block.labels.first()?;
        let mut rules = PolicyRules::default();
        let mut b = Fields::new(self, item, scope, None);
        let (access, access_span) = b.label_attribute(label.as_str(), "policy");
        let origin = b.origin();
        let target = self.block_target(item.file, label, access.as_deref(), access_span, custom);
        let mut notified: HashMap<NotificationEvent, Location> = HashMap::new();
        for inner in item.block.body.blocks() {
            let sub = Item {
                file: item.file,
                block: inner,
            };
            match inner.ident.as_str() {
                "activation" => rules.activation = self.activation(sub, scope),
                "eligibility" => {
                    let mut f = Fields::new(self, sub, scope, None);
                    rules.eligibility = EligibilityRules {
                        allow_permanent: f.bool("allow_permanent"),
                        max_duration: f.duration("max_duration"),
                    };
                }
                "active_assignment" => {
                    let mut f = Fields::new(self, sub, scope, None);
                    rules.active_assignment = AssignmentRules {
                        allow_permanent: f.bool("allow_permanent"),
                        max_duration: f.duration("max_duration"),
                        require_mfa: f.bool("require_mfa"),
                        require_justification: f.bool("require_justification"),
                    };
                }
                "notification" => {
                    let Some(label) = inner.labels.first() else {
                        continue;
                    };
                    let Some(event) = NotificationEvent::parse(label.as_str()) else {
                        let names: Vec<&str> =
                            NotificationEvent::ALL.iter().map(|e| e.as_str()).collect();
                        self.error(
                            item.file,
                            span_of(label),
                            format!("unknown notification \"{}\"", label.as_str()),
                        )
                        .hint = suggest(label.as_str(), &names)
                            .or_else(|| Some(format!("expected one of: {}", names.join(", "))));
                        continue;
                    };
                    let at = location(item.file, span_of(label));
                    if let Some(first) = notified.insert(event, at) {
                        self.error(
                            item.file,
                            span_of(label),
                            format!("notification \"{}\" is configured twice", event.as_str()),
                        )
                        .hint = Some(format!("the first is at {first}"));
                        continue;
                    }
                    let mut f = Fields::new(self, sub, scope, None);
                    let recipients = f.emails("recipients");
                    let default_recipients = f.bool("default_recipients");
                    let level = f.string("level").and_then(|l| {
                        let parsed = NotificationLevel::parse(&l);
                        if parsed.is_none() {
                            let span = f.value_span("level");
                            f.loader
                                .error(
                                    item.file,
                                    span,
                                    format!("unknown notification level \"{l}\""),
                                )
                                .hint = Some("use \"all\", \"critical\" or \"none\"".into());
                        }
                        parsed
                    });
                    rules.notifications.push(NotificationRules {
                        event,
                        recipients,
                        default_recipients,
                        level,
                    });
                }
                _ => {}
            }
        }
        rules.notifications.sort_by_key(|n| n.event);
        let (surface, role, scope) = target?;
        Some(Declared {
            address: crate::surface::get(surface).role_block_address(
                BlockKind::Policy,
                &role,
                &scope,
            ),
            origin,
            item: PolicySettings {
                surface,
                role,
                scope,
                rules,
            },
        })
    }

    fn activation(&mut self, item: Item<'_>, scope: &EvalScope) -> ActivationRules {
        let mut f = Fields::new(self, item, scope, None);
        let max_duration = f.duration("max_duration");
        if let Some(d) = max_duration.filter(|d| d.as_seconds() > MAX_ACTIVATION.as_seconds()) {
            let span = f.value_span("max_duration");
            f.loader
                .error(
                    item.file,
                    span,
                    format!("activation max_duration {d} is longer than Entra allows"),
                )
                .hint = Some(format!("activations last at most {MAX_ACTIVATION}"));
        }
        let rules = ActivationRules {
            max_duration,
            require_mfa: f.bool("require_mfa"),
            require_justification: f.bool("require_justification"),
            require_ticket: f.bool("require_ticket"),
            authentication_context: f.string("authentication_context"),
            approval: None,
        };
        let approval = item
            .block
            .body
            .blocks()
            .find(|b| b.ident.as_str() == "approval")
            .map(|b| {
                let mut a = Fields::new(
                    self,
                    Item {
                        file: item.file,
                        block: b,
                    },
                    scope,
                    None,
                );
                let listed = a.principals("approvers");
                let unreadable = listed.is_none() && a.attr("approvers").is_some();
                let approvers = listed.unwrap_or_default();
                let required = a.bool("required").unwrap_or(true);
                let require_for_extension = a.bool("require_for_extension");
                if required && approvers.is_empty() && !unreadable {
                    let span = a.value_span("approvers");
                    let span = if span.is_empty() {
                        span_of(&b.ident)
                    } else {
                        span
                    };
                    a.loader
                        .error(
                            item.file,
                            span,
                            "approval is required but names no approvers",
                        )
                        .hint =
                        Some("list at least one: approvers = [\"group:PIM Approvers\"]".into());
                }
                Approval {
                    required,
                    approvers,
                    require_for_extension,
                }
            });
        ActivationRules { approval, ..rules }
    }
}
