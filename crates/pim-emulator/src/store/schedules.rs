//! Granted schedules (eligible and active, on every surface): how they
//! end, when they are active or visible, their schedule and instance
//! renderings, and the collection that holds them with its indexes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Deref;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Kind, Store, Surface, ts};
use crate::json::{J, Obj};
use crate::odata::fold;
use pim_model::IsoDuration;

/// How a schedule ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exp {
    Never,
    At(DateTime<Utc>),
    After(IsoDuration),
}

impl Exp {
    pub fn to_json(&self) -> Value {
        self.obj().to_value()
    }

    pub fn obj(&self) -> Obj<'static> {
        let (kind, end, duration) = match self {
            Exp::Never => ("noExpiration", J::Null, J::Null),
            Exp::At(t) => ("afterDateTime", J::String(ts(*t)), J::Null),
            // Graph keeps a TimeSpan, not the text it was sent: `PT24H` comes
            // back as `P1D`.
            Exp::After(d) => (
                "afterDuration",
                J::Null,
                J::String(d.canonical().to_string()),
            ),
        };
        Obj::new(vec![
            ("type", kind.into()),
            ("endDateTime", end),
            ("duration", duration),
        ])
    }

    pub fn end(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Exp::Never => None,
            Exp::At(t) => Some(*t),
            // An overflowing duration is as good as permanent.
            Exp::After(d) => d.add_to(start),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ScheduleRec {
    pub id: String,
    pub surface: Surface,
    pub kind: Kind,
    pub principal_id: String,
    /// A role definition id, or a group's access (`member`, `owner`).
    pub role_id: String,
    /// A directory scope id, or a group id.
    pub scope: String,
    pub created_using: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<String>,
    /// `Assigned` or `Activated`, as the surface's enum members are held
    /// (see [`Surface::enum_value`] for how each writes them).
    pub assignment_type: String,
    pub member_type: String,
    /// Activations: the eligibility schedule they were made from.
    pub activated_using: Option<String>,
    pub start: DateTime<Utc>,
    pub exp: Exp,
    /// Replication delay: hidden from reads until then.
    pub visible_after: Option<Instant>,
}

impl ScheduleRec {
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.exp.end(self.start)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.end().is_some_and(|e| e <= now)
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && !self.is_expired(now)
    }

    pub fn is_visible(&self) -> bool {
        self.visible_after.is_none_or(|t| Instant::now() >= t)
    }

    /// Whether this schedule is the grant a request names.
    pub fn same_tuple(
        &self,
        surface: Surface,
        kind: Kind,
        principal: &str,
        role: &str,
        scope: &str,
    ) -> bool {
        self.surface == surface
            && self.kind == kind
            && self.principal_id.eq_ignore_ascii_case(principal)
            && self.role_id.eq_ignore_ascii_case(role)
            && self.scope.eq_ignore_ascii_case(scope)
    }

    /// `id`, `principalId` and the surface's target properties, which every
    /// rendering starts with.
    fn target_fields<'a>(&'a self, id: J<'a>) -> Vec<(&'a str, J<'a>)> {
        let mut o = Vec::with_capacity(14);
        o.push(("id", id));
        o.push(("principalId", J::Str(&self.principal_id)));
        o.push((self.surface.role_key(), J::Str(&self.role_id)));
        o.push((self.surface.scope_key(), J::Str(&self.scope)));
        if self.surface == Surface::DirectoryRole {
            o.push(("appScopeId", J::Null));
        }
        o
    }

    fn schedule_info_obj(&self) -> Obj<'static> {
        Obj::new(vec![
            ("startDateTime", J::String(ts(self.start))),
            ("recurrence", J::Null),
            ("expiration", self.exp.obj().into()),
        ])
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        self.obj(now).to_value()
    }

    /// The schedule as Graph lists it (what [`ScheduleRec::to_json`] makes
    /// a `Value` of).
    pub fn obj(&self, now: DateTime<Utc>) -> Obj<'_> {
        let mut o = self.target_fields(J::Str(&self.id));
        o.push(("createdUsing", J::from(&self.created_using)));
        o.push(("createdDateTime", J::from(self.created.map(ts))));
        o.push(("modifiedDateTime", J::from(&self.modified)));
        let status = if self.start > now {
            "Granted"
        } else {
            "Provisioned"
        };
        o.push(("status", status.into()));
        if self.kind == Kind::Assignment {
            o.push(("assignmentType", self.enum_json(&self.assignment_type)));
        }
        o.push(("memberType", self.enum_json(&self.member_type)));
        o.push(("scheduleInfo", self.schedule_info_obj().into()));
        Obj::new(o)
    }

    fn enum_json<'a>(&self, stored: &'a str) -> J<'a> {
        match self.surface.enum_value(stored) {
            Cow::Borrowed(s) => J::Str(s),
            Cow::Owned(s) => J::String(s),
        }
    }

    /// Opaque instance id, stable for the schedule. Directory roles' are not
    /// GUIDs; a group's is its schedule's id, as the group examples show for
    /// a permanent membership.
    pub fn instance_id(&self) -> String {
        if self.surface == Surface::Group {
            return self.id.clone();
        }
        let compact: String = self.id.chars().filter(|c| *c != '-').collect();
        match self.kind {
            Kind::Eligibility => format!("{compact}-1-e"),
            Kind::Assignment => format!("{compact}-1"),
        }
    }

    pub fn instance_json(&self) -> Value {
        self.instance_obj().to_value()
    }

    /// The instance as Graph lists it (see [`ScheduleRec::instance_json`]).
    pub fn instance_obj(&self) -> Obj<'_> {
        let id = self.instance_id();
        let start = if self.created_using.is_none() && self.end().is_none() {
            None
        } else {
            Some(ts(self.start))
        };
        let origin = (self.surface == Surface::DirectoryRole && self.kind == Kind::Assignment)
            .then(|| id.clone());
        let mut o = self.target_fields(J::String(id));
        o.push(("startDateTime", J::from(start)));
        o.push(("endDateTime", J::from(self.end().map(ts))));
        if self.kind == Kind::Assignment {
            o.push(("assignmentType", self.enum_json(&self.assignment_type)));
        }
        o.push(("memberType", self.enum_json(&self.member_type)));
        if let Some(origin) = origin {
            o.push(("roleAssignmentOriginId", J::String(origin)));
        }
        o.push((self.surface.schedule_ref_key(self.kind), J::Str(&self.id)));
        Obj::new(o)
    }
}

/// What [`Schedules`] indexes a schedule by (folded, as `$filter`'s `eq`
/// compares): the keys filtered listings, lookups by id and the requests
/// that change a grant name it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Id,
    Principal,
    Role,
    Scope,
    /// The id of its instance ([`ScheduleRec::instance_id`]).
    Instance,
}

const KEYS: [Key; 5] = [
    Key::Id,
    Key::Principal,
    Key::Role,
    Key::Scope,
    Key::Instance,
];

impl Key {
    fn of(self, s: &ScheduleRec) -> String {
        match self {
            Key::Id => fold(&s.id),
            Key::Principal => fold(&s.principal_id),
            Key::Role => fold(&s.role_id),
            Key::Scope => fold(&s.scope),
            Key::Instance => fold(&s.instance_id()),
        }
    }
}

/// Every schedule of both kinds, in the order Graph lists them (oldest
/// first), indexed by [`Key`]. It reads as a slice (`iter`, `[i]`, `len`);
/// it changes only through `push`, `remove` and `retain`, which keep the
/// indexes right. The indexes hold sequence numbers, not positions, so a
/// removal shifts nothing in them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schedules {
    recs: Vec<ScheduleRec>,
    /// One per schedule, strictly increasing: a position is found from its
    /// sequence number by binary search.
    seqs: Vec<u64>,
    next: u64,
    index: [HashMap<String, Vec<u64>>; 5],
    /// One per schedule: its collection and whether it may still be
    /// waiting to replicate ([`class`]). Listing a collection scans these
    /// bytes, not the records, which are a few hundred bytes each.
    classes: Vec<u8>,
    /// No schedule ends before this (`None`: none ends). Every read purges
    /// ended schedules; this answers most of them without a scan. It only
    /// ever errs early (a removal may leave it below the true earliest end),
    /// which costs a scan, never a schedule kept too long.
    earliest_end: Option<DateTime<Utc>>,
}

/// A schedule's byte in [`Schedules::classes`]: the surface and kind of the
/// collection that lists it, and [`PENDING`] while it may be hidden.
fn class(surface: Surface, kind: Kind) -> u8 {
    let surface = match surface {
        Surface::DirectoryRole => 0,
        Surface::Group => 2,
    };
    surface
        | match kind {
            Kind::Eligibility => 0,
            Kind::Assignment => 1,
        }
}

/// Set in a class byte when the schedule has a replication delay: reads
/// then ask the record whether the delay is over.
const PENDING: u8 = 4;

fn class_of(s: &ScheduleRec) -> u8 {
    class(s.surface, s.kind)
        | if s.visible_after.is_some() {
            PENDING
        } else {
            0
        }
}

impl Deref for Schedules {
    type Target = [ScheduleRec];
    fn deref(&self) -> &[ScheduleRec] {
        &self.recs
    }
}

impl<'a> IntoIterator for &'a Schedules {
    type Item = &'a ScheduleRec;
    type IntoIter = std::slice::Iter<'a, ScheduleRec>;
    fn into_iter(self) -> Self::IntoIter {
        self.recs.iter()
    }
}

impl Schedules {
    pub fn push(&mut self, s: ScheduleRec) {
        let seq = self.next;
        self.next += 1;
        for (key, map) in KEYS.iter().zip(&mut self.index) {
            map.entry(key.of(&s)).or_default().push(seq);
        }
        if let Some(end) = s.end() {
            self.earliest_end = Some(self.earliest_end.map_or(end, |e| e.min(end)));
        }
        self.classes.push(class_of(&s));
        self.recs.push(s);
        self.seqs.push(seq);
    }

    /// Remove and return the schedule at position `i`, as `Vec::remove`.
    pub fn remove(&mut self, i: usize) -> ScheduleRec {
        let seq = self.seqs.remove(i);
        self.classes.remove(i);
        let s = self.recs.remove(i);
        self.unindex(&s, seq);
        s
    }

    /// Keep the schedules `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&ScheduleRec) -> bool) {
        // Called on every read (to purge ended schedules) and seldom
        // removing any: find what goes before moving anything.
        let gone: Vec<usize> = (0..self.recs.len())
            .filter(|&i| !keep(&self.recs[i]))
            .collect();
        for &i in gone.iter().rev() {
            self.remove(i);
        }
    }

    /// Forget the schedules that ended at `cutoff` or before.
    pub fn purge_ended(&mut self, cutoff: DateTime<Utc>) {
        if self.earliest_end.is_none_or(|e| e > cutoff) {
            return;
        }
        self.retain(|s| s.end().is_none_or(|e| e > cutoff));
        self.earliest_end = self.recs.iter().filter_map(ScheduleRec::end).min();
    }

    /// Positions of the schedules that `surface`'s `kind` collection lists
    /// now (replicated ones), in order.
    pub fn listed(&self, surface: Surface, kind: Kind) -> impl Iterator<Item = usize> + '_ {
        let want = class(surface, kind);
        self.classes
            .iter()
            .enumerate()
            .filter(move |&(i, &c)| {
                c & !PENDING == want && (c & PENDING == 0 || self.recs[i].is_visible())
            })
            .map(|(i, _)| i)
    }

    fn unindex(&mut self, s: &ScheduleRec, seq: u64) {
        for (key, map) in KEYS.iter().zip(&mut self.index) {
            let k = key.of(s);
            if let Some(seqs) = map.get_mut(&k) {
                seqs.retain(|x| *x != seq);
                if seqs.is_empty() {
                    map.remove(&k);
                }
            }
        }
    }

    /// The sequence numbers of the schedules whose `key` folds to
    /// `folded`, ascending.
    pub fn keyed(&self, key: Key, folded: &str) -> &[u64] {
        self.index[key as usize]
            .get(folded)
            .map_or(&[][..], Vec::as_slice)
    }

    /// Positions of the schedules with these sequence numbers (ascending
    /// in, ascending out).
    pub fn positions<'a>(&'a self, seqs: &'a [u64]) -> impl Iterator<Item = usize> + 'a {
        seqs.iter()
            .filter_map(|seq| self.seqs.binary_search(seq).ok())
    }

    /// The position of the first schedule that `pred` accepts, when `pred`
    /// accepts only schedules whose `key` is `value` (without ASCII case,
    /// or as `$filter` compares): what a scan with `pred` finds.
    pub fn position_keyed(
        &self,
        key: Key,
        value: &str,
        pred: impl Fn(&ScheduleRec) -> bool,
    ) -> Option<usize> {
        self.positions(self.keyed(key, &fold(value)))
            .find(|&i| pred(&self.recs[i]))
    }

    /// The first schedule that `pred` accepts (see [`Schedules::position_keyed`]).
    pub fn find_keyed(
        &self,
        key: Key,
        value: &str,
        pred: impl Fn(&ScheduleRec) -> bool,
    ) -> Option<&ScheduleRec> {
        self.position_keyed(key, value, pred).map(|i| &self.recs[i])
    }
}

impl Store {
    /// Schedules visible to reads now (replicated), ended ones included:
    /// Entra lists an ended schedule until [`Store::purge_schedules`]
    /// forgets it.
    pub fn visible_schedules(
        &self,
        surface: Surface,
        kind: Kind,
    ) -> impl Iterator<Item = &ScheduleRec> {
        self.schedules
            .listed(surface, kind)
            .map(|i| &self.schedules[i])
    }

    /// Forget schedules that ended at `cutoff` or before.
    pub fn purge_schedules(&mut self, cutoff: DateTime<Utc>) {
        self.schedules.purge_ended(cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(id: &str, kind: Kind, principal: &str) -> ScheduleRec {
        ScheduleRec {
            id: id.into(),
            surface: Surface::DirectoryRole,
            kind,
            principal_id: principal.into(),
            role_id: "r".into(),
            scope: "/".into(),
            created_using: None,
            created: None,
            modified: None,
            assignment_type: "Assigned".into(),
            member_type: "Direct".into(),
            activated_using: None,
            start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            exp: Exp::Never,
            visible_after: None,
        }
    }

    /// What the index finds for `principal`, against a scan.
    fn agree(all: &Schedules, principal: &str) -> Vec<String> {
        let indexed: Vec<String> = all
            .positions(all.keyed(Key::Principal, &fold(principal)))
            .map(|i| all[i].id.clone())
            .collect();
        let scanned: Vec<String> = all
            .iter()
            .filter(|s| fold(&s.principal_id) == fold(principal))
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(indexed, scanned);
        indexed
    }

    #[test]
    fn the_index_follows_pushes_removals_and_retains() {
        let mut all = Schedules::default();
        for (i, p) in ["P1", "p2", "p1", "P2", "p1"].iter().enumerate() {
            all.push(rec(&format!("s{i}"), Kind::Eligibility, p));
        }
        assert_eq!(agree(&all, "p1"), ["s0", "s2", "s4"]);
        let gone = all.remove(2);
        assert_eq!(gone.id, "s2");
        assert_eq!(agree(&all, "P1"), ["s0", "s4"]);
        assert_eq!(agree(&all, "p2"), ["s1", "s3"]);
        all.push(rec("s5", Kind::Assignment, "p1"));
        all.retain(|s| s.id != "s0" && s.id != "s3");
        assert_eq!(agree(&all, "p1"), ["s4", "s5"]);
        assert_eq!(agree(&all, "p2"), ["s1"]);
        assert_eq!(
            all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["s1", "s4", "s5"]
        );
        let at = all.position_keyed(Key::Id, "S5", |s| s.id.eq_ignore_ascii_case("s5"));
        assert_eq!(at, Some(2));
        assert!(all.find_keyed(Key::Id, "s0", |_| true).is_none());
        let instance = all[1].instance_id();
        assert_eq!(
            all.find_keyed(Key::Instance, &instance, |_| true)
                .map(|s| s.id.as_str()),
            Some("s4")
        );
    }

    /// The renderings as they were built before they were streamed: one
    /// `Value` tree per schedule, key by key.
    mod tree {
        use super::super::*;
        use serde_json::{Map, json};

        fn exp(e: &Exp) -> Value {
            match e {
                Exp::Never => {
                    json!({ "type": "noExpiration", "endDateTime": null, "duration": null })
                }
                Exp::At(t) => {
                    json!({ "type": "afterDateTime", "endDateTime": ts(*t), "duration": null })
                }
                Exp::After(d) => json!({
                    "type": "afterDuration",
                    "endDateTime": null,
                    "duration": d.canonical().to_string()
                }),
            }
        }

        fn target(s: &ScheduleRec, id: &str) -> Map<String, Value> {
            let mut o = Map::new();
            o.insert("id".into(), json!(id));
            o.insert("principalId".into(), json!(s.principal_id));
            o.insert(s.surface.role_key().into(), json!(s.role_id));
            o.insert(s.surface.scope_key().into(), json!(s.scope));
            if s.surface == Surface::DirectoryRole {
                o.insert("appScopeId".into(), Value::Null);
            }
            o
        }

        pub fn schedule(s: &ScheduleRec, now: DateTime<Utc>) -> Value {
            let mut o = target(s, &s.id);
            o.insert("createdUsing".into(), json!(s.created_using));
            o.insert("createdDateTime".into(), json!(s.created.map(ts)));
            o.insert("modifiedDateTime".into(), json!(s.modified));
            let status = if s.start > now {
                "Granted"
            } else {
                "Provisioned"
            };
            o.insert("status".into(), json!(status));
            if s.kind == Kind::Assignment {
                o.insert(
                    "assignmentType".into(),
                    json!(s.surface.enum_value(&s.assignment_type)),
                );
            }
            o.insert(
                "memberType".into(),
                json!(s.surface.enum_value(&s.member_type)),
            );
            o.insert(
                "scheduleInfo".into(),
                json!({ "startDateTime": ts(s.start), "recurrence": null, "expiration": exp(&s.exp) }),
            );
            Value::Object(o)
        }

        pub fn instance(s: &ScheduleRec) -> Value {
            let id = s.instance_id();
            let start = if s.created_using.is_none() && s.end().is_none() {
                None
            } else {
                Some(ts(s.start))
            };
            let mut o = target(s, &id);
            o.insert("startDateTime".into(), json!(start));
            o.insert("endDateTime".into(), json!(s.end().map(ts)));
            if s.kind == Kind::Assignment {
                o.insert(
                    "assignmentType".into(),
                    json!(s.surface.enum_value(&s.assignment_type)),
                );
            }
            o.insert(
                "memberType".into(),
                json!(s.surface.enum_value(&s.member_type)),
            );
            if s.surface == Surface::DirectoryRole && s.kind == Kind::Assignment {
                o.insert("roleAssignmentOriginId".into(), json!(id));
            }
            o.insert(s.surface.schedule_ref_key(s.kind).into(), json!(s.id));
            Value::Object(o)
        }
    }

    /// Schedules of every shape: both surfaces and kinds, the three ends,
    /// made by a request or seeded, starting before or after `now`.
    fn variety(now: DateTime<Utc>) -> Vec<ScheduleRec> {
        let mut out = Vec::new();
        let ends = [
            Exp::Never,
            Exp::At(now + chrono::TimeDelta::days(30) + chrono::TimeDelta::milliseconds(343)),
            Exp::After("PT24H".parse().unwrap()),
        ];
        for surface in [Surface::DirectoryRole, Surface::Group] {
            for kind in [Kind::Eligibility, Kind::Assignment] {
                for (n, exp) in ends.iter().enumerate() {
                    let mut s = rec(
                        &format!("5ec0a7e1-0000-4000-8000-00000000000{n}"),
                        kind,
                        "P1",
                    );
                    s.surface = surface;
                    s.exp = exp.clone();
                    if n > 0 {
                        s.created_using = Some(s.id.clone());
                        s.created = Some(now - chrono::TimeDelta::hours(1));
                        s.modified = Some("2026-01-02T03:04:05.123Z".into());
                        s.assignment_type = "Activated".into();
                        s.member_type = "Inherited".into();
                    }
                    if n == 2 {
                        s.start = now + chrono::TimeDelta::minutes(5);
                    }
                    out.push(s);
                }
            }
        }
        out
    }

    #[test]
    fn streamed_renderings_write_what_the_value_trees_wrote() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        for s in variety(now) {
            let old = tree::schedule(&s, now);
            assert_eq!(s.to_json(now), old, "{s:?}");
            assert_eq!(s.obj(now).to_vec(), serde_json::to_vec(&old).unwrap());
            let old = tree::instance(&s);
            assert_eq!(s.instance_json(), old, "{s:?}");
            assert_eq!(s.instance_obj().to_vec(), serde_json::to_vec(&old).unwrap());
        }
    }

    #[test]
    fn a_collection_lists_its_own_replicated_schedules_in_order() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let mut all = Schedules::default();
        for s in variety(now) {
            all.push(s);
        }
        let mut hidden = rec("hidden", Kind::Eligibility, "p9");
        hidden.visible_after = Some(Instant::now() + std::time::Duration::from_secs(3600));
        all.push(hidden);
        let mut shown = rec("shown", Kind::Eligibility, "p9");
        shown.visible_after = Some(Instant::now());
        all.push(shown);
        for surface in [Surface::DirectoryRole, Surface::Group] {
            for kind in [Kind::Eligibility, Kind::Assignment] {
                let listed: Vec<&str> = all
                    .listed(surface, kind)
                    .map(|i| all[i].id.as_str())
                    .collect();
                let scanned: Vec<&str> = all
                    .iter()
                    .filter(|s| s.surface == surface && s.kind == kind && s.is_visible())
                    .map(|s| s.id.as_str())
                    .collect();
                assert_eq!(listed, scanned);
                assert_eq!(
                    listed.len(),
                    3 + usize::from(surface == Surface::DirectoryRole && kind == Kind::Eligibility)
                );
            }
        }
        // Removals keep the classes beside their records.
        all.retain(|s| !s.id.ends_with('1'));
        let listed: Vec<&str> = all
            .listed(Surface::Group, Kind::Assignment)
            .map(|i| all[i].id.as_str())
            .collect();
        assert_eq!(
            listed,
            [
                "5ec0a7e1-0000-4000-8000-000000000000",
                "5ec0a7e1-0000-4000-8000-000000000002"
            ]
        );
    }

    #[test]
    fn purging_forgets_exactly_what_ended_by_the_cutoff() {
        let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let day = chrono::TimeDelta::days(1);
        let mut all = Schedules::default();
        for (i, exp) in [
            Exp::At(t0 + day * 3),
            Exp::Never,
            Exp::At(t0 + day),
            Exp::After("P2D".parse().unwrap()),
        ]
        .into_iter()
        .enumerate()
        {
            let mut s = rec(&format!("s{i}"), Kind::Eligibility, "p");
            s.start = t0;
            s.exp = exp;
            all.push(s);
        }
        let ids = |all: &Schedules| all.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        all.purge_ended(t0);
        assert_eq!(ids(&all), ["s0", "s1", "s2", "s3"]);
        all.purge_ended(t0 + day);
        assert_eq!(ids(&all), ["s0", "s1", "s3"]);
        // The earliest end is now the duration's, two days in.
        all.purge_ended(t0 + day + chrono::TimeDelta::hours(23));
        assert_eq!(ids(&all), ["s0", "s1", "s3"]);
        all.purge_ended(t0 + day * 2);
        assert_eq!(ids(&all), ["s0", "s1"]);
        // A schedule pushed after a purge lowers the mark again.
        let mut late = rec("s4", Kind::Assignment, "p");
        late.start = t0;
        late.exp = Exp::At(t0 + day * 2 + chrono::TimeDelta::hours(1));
        all.push(late);
        all.purge_ended(t0 + day * 2 + chrono::TimeDelta::hours(2));
        assert_eq!(ids(&all), ["s0", "s1"]);
        all.purge_ended(t0 + day * 400);
        assert_eq!(ids(&all), ["s1"]);
    }
}
