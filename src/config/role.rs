//! `role` blocks, and the offline resolution of role names: a built-in
//! role, or a custom role that a `role` block declares.

use std::collections::HashSet;
use std::ops::Range;

use super::diagnostic::SourceFile;
use super::eval::EvalScope;
use super::fields::Fields;
use super::load::{Item, Loader, span_of};
use super::{Declared, RoleSettings};
use crate::model::{Address, BlockKind, RoleRef, closest_builtin_roles, find_builtin_role};

impl Loader<'_> {
    pub(super) fn roles(
        &mut self,
        items: &[Item<'_>],
        scope: &EvalScope,
    ) -> Vec<Declared<RoleSettings>> {
        let mut out = Vec::new();
        for item in items {
            let Some(label) = item.block.labels.first() else {
                continue;
            };
            let name = label.as_str().to_string();
            let mut b = Fields::new(self, *item, scope, None);
            let custom = b.bool("custom").unwrap_or(false);
            let exclusive = b.bool("exclusive").unwrap_or(false);
            let protected = b.principals("protected").unwrap_or_default();
            let allow_empty = b.bool("allow_empty").unwrap_or(false);
            let origin = b.origin();
            let role = if custom {
                if let Some(builtin) = find_builtin_role(&name) {
                    self.error(
                        item.file,
                        span_of(label),
                        format!("\"{name}\" is a built-in role, not a custom one"),
                    )
                    .hint = Some(format!("remove custom = true (built-in id {})", builtin.id));
                }
                RoleRef::parse(&name)
            } else {
                match self.builtin_role(item.file, span_of(label), &name, &HashSet::new()) {
                    Some(r) => r,
                    None => continue,
                }
            };
            out.push(Declared {
                address: Address::new(BlockKind::Role, role.to_string()),
                origin,
                item: RoleSettings {
                    role,
                    exclusive,
                    protected,
                    custom,
                    allow_empty,
                },
            });
        }
        out
    }

    /// Resolves a role name offline: a built-in role, or a custom role that a
    /// `role` block declares. Reports an unknown name with the closest ones.
    pub(super) fn builtin_role(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        name: &str,
        custom: &HashSet<String>,
    ) -> Option<RoleRef> {
        let r = RoleRef::parse(name);
        if let Some(b) = r.builtin() {
            return Some(RoleRef::Name(b.display_name.clone()));
        }
        if custom.contains(&name.trim().to_lowercase()) {
            return Some(r);
        }
        if let RoleRef::Id(id) = &r {
            self.error(file, span, format!("no built-in role has the id {id}"))
                .hint = Some(format!(
                "for a custom role, declare it: role \"{id}\" {{ custom = true }}"
            ));
            return None;
        }
        let close = closest_builtin_roles(name, 3);
        let mut hint = String::new();
        if !close.is_empty() {
            let quoted: Vec<String> = close.iter().map(|c| format!("\"{c}\"")).collect();
            hint = format!("did you mean {}? ", quoted.join(", "));
        }
        hint.push_str(&format!(
            "A custom role must be declared: role \"{name}\" {{ custom = true }}"
        ));
        self.error(file, span, format!("unknown role \"{name}\""))
            .hint = Some(hint);
        None
    }
}
