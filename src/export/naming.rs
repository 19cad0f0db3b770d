//! Block names of an export: short enough to type (`ivan_ua_paris_office`),
//! the same on every export of the same tenant, and unique.

use std::collections::{BTreeMap, BTreeSet};

use super::SubscriptionNames;
use crate::model::{AssignmentKind, Caseless};

/// Lower-case ASCII letters, digits and single underscores, starting with
/// a letter, as block labels must.
pub(super) fn slug(s: &str) -> String {
    let out = words(s);
    if out.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("x_{out}")
    }
}

/// Lower-case ASCII letters, digits and single underscores: a part of a
/// name, which may start with a digit.
fn words(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    Caseless::ascii(out.trim_matches('_')).into_string()
}

/// The initials of a role's words, lower-cased: `Global Administrator` is
/// `ga`, `Privileged Role Administrator` `pra`. A name with no ASCII
/// initial is slugged whole.
pub(super) fn role_abbreviation(role: &str) -> String {
    let initials: String = role
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(|w| w.chars().next())
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if initials.is_empty() {
        slug(role)
    } else {
        slug(&initials)
    }
}

/// What a principal's part of a name is made from: a user's UPN before the
/// `@`, otherwise the display name (or the object id when unknown).
pub(super) fn principal_part(reference: &str) -> String {
    let name = reference.split_once(':').map_or(reference, |(_, n)| n);
    let local = if reference.starts_with("user:") {
        name.split_once('@').map_or(name, |(l, _)| l)
    } else {
        name
    };
    slug(local)
}

/// A block's name before it is made unique: principal, role abbreviation
/// and, for a grant at a narrower scope, the scope's name.
pub(super) fn block_name(principal: &str, role: &str, scope: Option<&str>) -> String {
    let mut parts = vec![principal_part(principal), role_abbreviation(role)];
    if let Some(scope) = scope {
        // The scope's own name: its last segment (`Paris Office` of
        // `/administrativeUnits/Paris Office`).
        let last = scope.rsplit('/').find(|s| !s.is_empty()).unwrap_or(scope);
        parts.push(slug(last));
    }
    slug(&parts.join("_"))
}

/// A group grant's name: the principal's part and the group's name, and
/// `owner` for ownership (`alice_tier0_admins`, `victor_tier0_admins_owner`).
pub(super) fn group_block_name(principal: &str, group: &str, access: &str) -> String {
    let group = group.strip_prefix("group:").unwrap_or(group);
    let mut parts = vec![principal_part(principal), slug(group)];
    if access != "member" {
        parts.push(slug(access));
    }
    slug(&parts.join("_"))
}

/// An Azure role grant's name: the principal's part, the role (a name of
/// one or two words written out, `owner`, `key_vault_reader`; a longer one
/// by its initials, `sbdr`; a custom role's GUID by its first group of
/// digits) and the scope's own name ([`azure_scope_part`]):
/// `bob_owner_contoso_production`, `erin_reader_rg_payments`.
pub(super) fn azure_block_name(
    principal: &str,
    role: &str,
    scope_id: &str,
    subscriptions: &SubscriptionNames,
) -> String {
    let role = if crate::model::is_guid(role) {
        words(role.split('-').next().unwrap_or(role))
    } else if role.split_whitespace().count() <= 2 {
        words(role)
    } else {
        role_abbreviation(role)
    };
    slug(
        &[
            principal_part(principal),
            role,
            azure_scope_part(scope_id, subscriptions),
        ]
        .join("_"),
    )
}

/// The segments of an ARM scope id, without empty ones.
fn segments(scope_id: &str) -> Vec<&str> {
    scope_id.split('/').filter(|s| !s.is_empty()).collect()
}

/// A subscription's part of a name: its display name, or, when ARM gives
/// it none that is its own (see [`SubscriptionNames`]) or none in ASCII,
/// the first group of its id's digits.
fn subscription_part(id: &str, subscriptions: &SubscriptionNames) -> String {
    subscriptions
        .get(id)
        .map(words)
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| words(id.split('-').next().unwrap_or(id)))
}

/// What an ARM scope adds to a grant's name: a management group's,
/// resource group's or resource's own name, or a subscription's
/// [`subscription_part`].
pub(super) fn azure_scope_part(scope_id: &str, subscriptions: &SubscriptionNames) -> String {
    match segments(scope_id).as_slice() {
        ["subscriptions", sub] => subscription_part(sub, subscriptions),
        [.., last] => words(last),
        [] => String::new(),
    }
}

/// The file an ARM scope's grants and policies are written to, named by
/// the path down to it so that resource groups of the same name in two
/// subscriptions stay apart: `azure_contoso_production.pim.hcl`,
/// `azure_contoso_production_rg_payments.pim.hcl`,
/// `azure_mg_contoso.pim.hcl`, and for a resource its group and its own
/// name.
pub(super) fn azure_file(scope_id: &str, subscriptions: &SubscriptionNames) -> String {
    let s = segments(scope_id);
    let mut parts = vec!["azure".to_string()];
    match s.as_slice() {
        ["providers", _, "managementgroups", id, ..] => {
            parts.push("mg".into());
            parts.push(words(id));
        }
        ["subscriptions", sub, rest @ ..] => {
            parts.push(subscription_part(sub, subscriptions));
            if let ["resourcegroups", rg, deeper @ ..] = rest {
                parts.push(words(rg));
                if let [.., last] = deeper {
                    parts.push(words(last));
                }
            }
        }
        _ => parts.push(words(scope_id)),
    }
    format!("{}.pim.hcl", slug(&parts.join("_")))
}

/// An ARM scope as configuration writes it: the model's lower-case id with
/// ARM's own spelling of the segments every scope shares
/// (`resourceGroups`, `Microsoft.Management/managementGroups`); pim
/// compares scopes without regard to case, so this is for the reader.
pub(super) fn azure_scope_text(scope_id: &str) -> String {
    scope_id
        .split('/')
        .map(|s| match s {
            "resourcegroups" => "resourceGroups",
            "microsoft.management" => "Microsoft.Management",
            "managementgroups" => "managementGroups",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One grant to name: its kind (names are unique per kind, as addresses
/// are), the name it would have, and what orders grants sharing that name.
pub(super) struct Candidate {
    pub kind: AssignmentKind,
    pub name: String,
    /// Principal, role and scope ids: stable across exports, unlike the
    /// order Graph lists schedules in.
    pub key: (String, String, String),
}

/// Final names, in the order of `candidates`. The first of grants sharing a
/// name (by `key`) keeps it; the others get `_2`, `_3`, … skipping any
/// name another grant has by itself.
pub(super) fn unique_names(candidates: &[Candidate]) -> Vec<String> {
    let mut taken: BTreeSet<(AssignmentKind, String)> = candidates
        .iter()
        .map(|c| (c.kind, c.name.clone()))
        .collect();
    let mut groups: BTreeMap<(AssignmentKind, &str), Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        groups.entry((c.kind, &c.name)).or_default().push(i);
    }
    let mut out = vec![String::new(); candidates.len()];
    for ((kind, name), mut members) in groups {
        members.sort_by(|a, b| candidates[*a].key.cmp(&candidates[*b].key));
        let mut n = 1;
        for (rank, i) in members.into_iter().enumerate() {
            if rank == 0 {
                out[i] = name.to_string();
                continue;
            }
            out[i] = loop {
                n += 1;
                let numbered = format!("{name}_{n}");
                if taken.insert((kind, numbered.clone())) {
                    break numbered;
                }
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_abbreviated_by_their_initials() {
        for (role, abbr) in [
            ("Global Administrator", "ga"),
            ("Privileged Role Administrator", "pra"),
            ("User Administrator", "ua"),
            ("Exchange Recipient Administrator", "era"),
            ("Microsoft 365 Migration Administrator", "m3ma"),
            ("Contoso Access Reviewer", "car"),
            ("Azure AD Joined Device Local Administrator", "aajdla"),
        ] {
            assert_eq!(role_abbreviation(role), abbr, "{role}");
        }
        assert_eq!(
            role_abbreviation("Équipe"),
            "quipe",
            "no ASCII initial: slugged"
        );
    }

    #[test]
    fn names_take_the_local_part_the_role_and_the_scope() {
        assert_eq!(
            block_name(
                "user:ivan@contoso.com",
                "User Administrator",
                Some("/administrativeUnits/Paris Office")
            ),
            "ivan_ua_paris_office"
        );
        assert_eq!(
            block_name("user:priya.bernard@contoso.com", "Global Reader", None),
            "priya_bernard_gr"
        );
        assert_eq!(
            block_name("group:Tier0 Admins", "Security Administrator", None),
            "tier0_admins_sa"
        );
        assert_eq!(
            block_name("sp:365 Sync", "Global Administrator", None),
            "x_365_sync_ga"
        );
        assert_eq!(
            block_name(
                "user:john_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                "Global Reader",
                None
            ),
            "john_fabrikam_com_ext_gr"
        );
        assert_eq!(
            block_name(
                "9e4cc469-d3bb-568c-a936-b6df3f4a4e8a",
                "Global Reader",
                None
            ),
            "x_9e4cc469_d3bb_568c_a936_b6df3f4a4e8a_gr"
        );
    }

    const SUB: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";

    fn named() -> SubscriptionNames {
        [(
            "3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34".to_string(),
            "Contoso Production".to_string(),
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn azure_names_take_the_role_and_the_scopes_own_name() {
        let none = SubscriptionNames::default();
        let bob = "user:bob@contoso.com";
        assert_eq!(
            azure_block_name(bob, "Owner", SUB, &named()),
            "bob_owner_contoso_production"
        );
        assert_eq!(
            azure_block_name(bob, "Owner", SUB, &none),
            "bob_owner_3f2a8c41",
            "no name from ARM: the id's first digits"
        );
        assert_eq!(
            azure_block_name(
                "user:carol@contoso.com",
                "Storage Blob Data Reader",
                &format!("{SUB}/resourcegroups/rg-data"),
                &none
            ),
            "carol_sbdr_rg_data"
        );
        assert_eq!(
            azure_block_name(
                "group:Platform Team",
                "Key Vault",
                "/providers/microsoft.management/managementgroups/contoso",
                &none
            ),
            "platform_team_key_vault_contoso"
        );
        assert_eq!(
            azure_block_name(
                bob,
                "9980E02C-C2BE-4D73-94E8-173B1DC7CF3C",
                &format!(
                    "{SUB}/resourcegroups/rg/providers/microsoft.storage/storageaccounts/logs01"
                ),
                &named()
            ),
            "bob_9980e02c_logs01",
            "a custom role by its GUID, a resource by its name"
        );
    }

    #[test]
    fn each_azure_scope_has_a_file_named_by_its_path() {
        let none = SubscriptionNames::default();
        assert_eq!(azure_file(SUB, &none), "azure_3f2a8c41.pim.hcl");
        assert_eq!(
            azure_file(SUB, &named()),
            "azure_contoso_production.pim.hcl"
        );
        assert_eq!(
            azure_file(&format!("{SUB}/resourcegroups/rg-payments"), &named()),
            "azure_contoso_production_rg_payments.pim.hcl"
        );
        assert_eq!(
            azure_file(
                &format!(
                    "{SUB}/resourcegroups/rg/providers/microsoft.storage/storageaccounts/logs01"
                ),
                &none
            ),
            "azure_3f2a8c41_rg_logs01.pim.hcl"
        );
        assert_eq!(
            azure_file(
                "/providers/microsoft.management/managementgroups/contoso",
                &none
            ),
            "azure_mg_contoso.pim.hcl"
        );
    }

    #[test]
    fn azure_scopes_are_written_as_arm_spells_them() {
        assert_eq!(
            azure_scope_text(&format!("{SUB}/resourcegroups/rg-data")),
            format!("{SUB}/resourceGroups/rg-data")
        );
        assert_eq!(
            azure_scope_text("/providers/microsoft.management/managementgroups/contoso"),
            "/providers/Microsoft.Management/managementGroups/contoso"
        );
    }

    fn candidate(kind: AssignmentKind, name: &str, principal: &str) -> Candidate {
        Candidate {
            kind,
            name: name.into(),
            key: (principal.into(), "r".into(), "/".into()),
        }
    }

    #[test]
    fn shared_names_are_numbered_by_ids_not_by_listing_order() {
        use AssignmentKind::{Active, Eligible};
        let listed = [
            candidate(Eligible, "alice_ga", "p3"),
            candidate(Eligible, "alice_ga", "p1"),
            candidate(Active, "alice_ga", "p2"),
            candidate(Eligible, "alice_ga_2", "p9"),
            candidate(Eligible, "alice_ga", "p2"),
        ];
        assert_eq!(
            unique_names(&listed),
            [
                "alice_ga_4",
                "alice_ga",
                "alice_ga",
                "alice_ga_2",
                "alice_ga_3"
            ],
            "p1 first; _2 is another grant's own name, so p2 and p3 get _3 and _4; the assignment has its own"
        );
        let backwards: Vec<Candidate> = listed
            .iter()
            .rev()
            .map(|c| candidate(c.kind, &c.name, &c.key.0))
            .collect();
        let mut names = unique_names(&backwards);
        names.reverse();
        assert_eq!(names, unique_names(&listed), "the same whatever the order");
    }
}
