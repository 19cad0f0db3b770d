//! Block names of an export: short enough to type (`ivan_ua_paris_office`),
//! the same on every export of the same tenant, and unique.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{AssignmentKind, Caseless};

/// Lower-case ASCII letters, digits and single underscores, starting with
/// a letter, as block labels must.
pub(super) fn slug(s: &str) -> String {
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
