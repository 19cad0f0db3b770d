//! The `tenant` block: which tenant, which endpoints, the tier-0 roles and
//! the principals never removed.

use std::collections::HashSet;

use super::TenantSettings;
use super::eval::EvalScope;
use super::fields::Fields;
use super::load::{Item, Loader, location, span_of};
use crate::model::Caseless;

impl Loader<'_> {
    pub(super) fn tenant(
        &mut self,
        item: Item<'_>,
        scope: &EvalScope,
        custom: &HashSet<Caseless>,
    ) -> TenantSettings {
        let mut b = Fields::new(self, item, scope, None);
        let t = TenantSettings {
            id: b.string("id"),
            emulator: b.string("emulator").map(|p| b.loader.dir.join(p)),
            graph_url: b.url("graph_url"),
            authority_host: b.url("authority_host"),
            ca_cert: b.string("ca_cert").map(|p| b.loader.dir.join(p)),
            renew_within: b.duration("renew_within"),
            tier0_roles: None,
            protected: b.principals("protected").unwrap_or_default(),
            protected_at: b
                .attr("protected")
                .map(|a| location(item.file, span_of(&a.value))),
        };
        let tier0 = b.strings("tier0_roles");
        if let Some(id) = &t.id
            && (id.trim().is_empty() || id.contains(char::is_whitespace))
        {
            let span = b.value_span("id");
            b.loader
                .error(item.file, span, format!("{id:?} is not a tenant id"))
                .hint = Some(
                "use the tenant's GUID or its primary domain, as in contoso.onmicrosoft.com".into(),
            );
        }
        let roles = tier0.map(|names| {
            names
                .into_iter()
                .filter_map(|(n, span)| self.builtin_role(item.file, span, &n, custom))
                .collect()
        });
        TenantSettings {
            tier0_roles: roles,
            ..t
        }
    }
}
