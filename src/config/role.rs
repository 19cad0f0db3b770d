//! `role` blocks, and the offline resolution of role names: a built-in
//! role, or a custom role that a `role` block declares.

use std::collections::HashSet;
use std::ops::Range;

use super::diagnostic::SourceFile;
use super::eval::EvalScope;
use super::fields::Fields;
use super::load::{Item, Loader, span_of};
use super::{Declared, KnownHolders, RoleSettings};
use crate::model::{BlockKind, Caseless, RoleRef, Scope, SurfaceKind, find_builtin_role};
use crate::surface::Surface;

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
            let (access, access_span) = b.label_attribute(label.as_str(), "role");
            let custom = b.bool("custom").unwrap_or(false);
            let exclusive = b.bool("exclusive").unwrap_or(false);
            let protected = b.principals("protected").unwrap_or_default();
            let allow_empty = b.bool("allow_empty").unwrap_or(false);
            let known_holders = match b.strings("known_holders") {
                None => KnownHolders::None,
                Some(list) if list.iter().any(|(s, _)| s.trim() == "*") => KnownHolders::Any,
                Some(list) => KnownHolders::Listed(
                    list.into_iter()
                        .filter_map(|(s, span)| b.principal_from(&s, span))
                        .collect(),
                ),
            };
            if exclusive && known_holders != KnownHolders::None {
                let span = b.value_span("known_holders");
                b.loader
                    .error(
                        item.file,
                        span,
                        "holders of an exclusive role are always drift: known_holders cannot accept them",
                    )
                    .hint = Some(
                    "declare them (an eligibility or assignment block), or remove known_holders".into(),
                );
            }
            let origin = b.origin();
            let surface = crate::surface::for_label(&name).kind();
            let (role, role_scope) = if custom {
                if surface != SurfaceKind::DirectoryRole || access.is_some() {
                    let span = b_span(item, "custom");
                    self.error(item.file, span, "custom applies to directory roles only")
                        .hint = Some(
                        "a group's access is member or owner, and a custom Azure role is named by its GUID: remove custom = true"
                            .into(),
                    );
                    continue;
                }
                if let Some(builtin) = find_builtin_role(&name) {
                    self.error(
                        item.file,
                        span_of(label),
                        format!("\"{name}\" is a built-in role, not a custom one"),
                    )
                    .hint = Some(format!("remove custom = true (built-in id {})", builtin.id));
                }
                (RoleRef::parse(&name), Scope::Directory)
            } else {
                match self.block_target(
                    item.file,
                    label,
                    access.as_deref(),
                    access_span,
                    &HashSet::new(),
                ) {
                    Some((_, r, s)) => (r, s),
                    None => continue,
                }
            };
            let address = crate::surface::get(surface).role_block_address(
                BlockKind::Role,
                &role,
                &role_scope,
            );
            out.push(Declared {
                address,
                origin,
                item: RoleSettings {
                    surface,
                    role,
                    scope: role_scope,
                    exclusive,
                    protected,
                    custom,
                    allow_empty,
                    known_holders,
                },
            });
        }
        out
    }

    /// Resolves a role name offline, as `surface` names roles: a built-in
    /// role, or a custom role that a `role` block declares. Reports an
    /// unknown name with the closest ones.
    pub(super) fn role_name(
        &mut self,
        surface: &dyn Surface,
        file: &SourceFile,
        span: Range<usize>,
        name: &str,
        custom: &HashSet<Caseless>,
    ) -> Option<RoleRef> {
        match surface.parse_role(name, custom) {
            Ok(r) => Some(r),
            Err(problem) => {
                self.error(file, span, problem.message).hint = problem.hint;
                None
            }
        }
    }

    /// What a `policy` or `role` block's label names, on the surface its
    /// label is of: a directory role, or (`group:<name>`) a group with the
    /// block's `access`.
    pub(super) fn block_target(
        &mut self,
        file: &SourceFile,
        label: &hcl::edit::structure::BlockLabel,
        access: Option<&str>,
        access_span: Range<usize>,
        custom: &HashSet<Caseless>,
    ) -> Option<(SurfaceKind, RoleRef, Scope)> {
        let surface = crate::surface::for_label(label.as_str());
        match surface.parse_label(label.as_str(), access, custom) {
            Ok((role, scope)) => Some((surface.kind(), role, scope)),
            Err(problem) => {
                // The label is right and the access is not: said at the access.
                let at = if access.is_some()
                    && surface.parse_label(label.as_str(), None, custom).is_ok()
                {
                    access_span
                } else {
                    span_of(label)
                };
                self.error(file, at, problem.message).hint = problem.hint;
                None
            }
        }
    }

    /// A directory role's name: `tenant` blocks name directory roles.
    pub(super) fn builtin_role(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        name: &str,
        custom: &HashSet<Caseless>,
    ) -> Option<RoleRef> {
        let surface = crate::surface::get(SurfaceKind::DirectoryRole);
        self.role_name(surface, file, span, name, custom)
    }
}

/// The span of attribute `name`'s value in a block, or the block's.
fn b_span(item: &Item<'_>, name: &str) -> Range<usize> {
    item.block
        .body
        .get_attribute(name)
        .map(|a| span_of(&a.value))
        .unwrap_or_else(|| span_of(&item.block.ident))
}
