//! Granted schedules (eligible and active, on every surface): how they
//! end, when they are active or visible, their schedule and instance
//! renderings, and the collection that holds them with its indexes.

use std::collections::HashMap;
use std::ops::Deref;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Kind, Store, Surface, ts};
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
        match self {
            Exp::Never => json!({ "type": "noExpiration", "endDateTime": null, "duration": null }),
            Exp::At(t) => {
                json!({ "type": "afterDateTime", "endDateTime": ts(*t), "duration": null })
            }
            // Graph keeps a TimeSpan, not the text it was sent: `PT24H` comes
            // back as `P1D`.
            Exp::After(d) => json!({
                "type": "afterDuration",
                "endDateTime": null,
                "duration": d.canonical().to_string()
            }),
        }
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
    fn target_json(&self, id: &str) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("id".into(), json!(id));
        o.insert("principalId".into(), json!(self.principal_id));
        o.insert(self.surface.role_key().into(), json!(self.role_id));
        o.insert(self.surface.scope_key().into(), json!(self.scope));
        if self.surface == Surface::DirectoryRole {
            o.insert("appScopeId".into(), Value::Null);
        }
        o
    }

    pub fn schedule_info(&self) -> Value {
        json!({ "startDateTime": ts(self.start), "recurrence": null, "expiration": self.exp.to_json() })
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let mut o = self.target_json(&self.id);
        o.insert("createdUsing".into(), json!(self.created_using));
        o.insert("createdDateTime".into(), json!(self.created.map(ts)));
        o.insert("modifiedDateTime".into(), json!(self.modified));
        o.insert(
            "status".into(),
            json!(if self.start > now {
                "Granted"
            } else {
                "Provisioned"
            }),
        );
        if self.kind == Kind::Assignment {
            o.insert(
                "assignmentType".into(),
                self.enum_json(&self.assignment_type),
            );
        }
        o.insert("memberType".into(), self.enum_json(&self.member_type));
        o.insert("scheduleInfo".into(), self.schedule_info());
        Value::Object(o)
    }

    fn enum_json(&self, stored: &str) -> Value {
        json!(self.surface.enum_value(stored))
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
        let id = self.instance_id();
        let start = if self.created_using.is_none() && self.end().is_none() {
            None
        } else {
            Some(ts(self.start))
        };
        let mut o = self.target_json(&id);
        o.insert("startDateTime".into(), json!(start));
        o.insert("endDateTime".into(), json!(self.end().map(ts)));
        if self.kind == Kind::Assignment {
            o.insert(
                "assignmentType".into(),
                self.enum_json(&self.assignment_type),
            );
        }
        o.insert("memberType".into(), self.enum_json(&self.member_type));
        if self.surface == Surface::DirectoryRole && self.kind == Kind::Assignment {
            o.insert("roleAssignmentOriginId".into(), json!(id));
        }
        o.insert(
            self.surface.schedule_ref_key(self.kind).into(),
            json!(self.id),
        );
        Value::Object(o)
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
        self.recs.push(s);
        self.seqs.push(seq);
    }

    /// Remove and return the schedule at position `i`, as `Vec::remove`.
    pub fn remove(&mut self, i: usize) -> ScheduleRec {
        let seq = self.seqs.remove(i);
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
            .iter()
            .filter(move |s| s.surface == surface && s.kind == kind && s.is_visible())
    }

    /// Forget schedules that ended at `cutoff` or before.
    pub fn purge_schedules(&mut self, cutoff: DateTime<Utc>) {
        self.schedules
            .retain(|s| s.end().is_none_or(|e| e > cutoff));
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
}
