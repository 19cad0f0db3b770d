//! How an exported grant says when it ends: the rolling `duration` it was
//! made with, else its end rounded up to a whole day (`expires`), or
//! `permanent`; with `--durations`, its length in days.

use chrono::{DateTime, Duration, DurationRound as _, Utc};

use crate::model::{Expiration, IsoDuration};
use crate::snapshot::Grant;

/// The planner takes a grant for in step with a rolling duration while its
/// end is no later than now + duration, give or take this (its tolerance
/// for Graph's processing time). The export keeps within it.
const SLACK_SECONDS: i64 = 60;

const DAY_SECONDS: i64 = 86_400;

/// What an exported block declares of a grant's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Permanent,
    Duration(IsoDuration),
    Expires(DateTime<Utc>),
}

impl End {
    /// The attribute and its value, as the configuration writes them.
    pub(super) fn attribute(&self) -> (&'static str, String) {
        match self {
            End::Permanent => ("permanent", "true".into()),
            End::Duration(d) => ("duration", super::quote(&d.to_string())),
            End::Expires(t) => ("expires", super::quote(&time(*t))),
        }
    }

    /// The declaration as state records it (`attributes.duration`), the
    /// way the planner spells the same block's.
    pub(super) fn recorded(&self) -> String {
        match self {
            End::Permanent => "permanent".into(),
            End::Duration(d) => d.to_string(),
            End::Expires(t) => time(*t),
        }
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How to declare `g`'s end. `made_with` is the expiration its request
/// asked for (`createdUsing`, when Graph still has it); `rolling` asks for
/// a duration whatever the grant was made with.
pub(super) fn declared_end(
    g: &Grant,
    made_with: Option<&Expiration>,
    rolling: bool,
    now: DateTime<Utc>,
) -> End {
    let Some(end) = g.end() else {
        return End::Permanent;
    };
    let asked = match (&g.expiration, made_with) {
        (Expiration::After(d), _) | (_, Some(Expiration::After(d))) => Some(*d),
        _ => None,
    };
    // A duration counts from the run that plans it: one the grant outlasts
    // (it starts later than now) would read as a change, so it is not kept.
    if let Some(d) = asked.filter(|d| ends_within(end, *d, now)) {
        return End::Duration(d);
    }
    if rolling {
        return End::Duration(length_in_days(g.start.unwrap_or(now), end, now));
    }
    End::Expires(round_up_to_day(end))
}

fn ends_within(end: DateTime<Utc>, d: IsoDuration, now: DateTime<Utc>) -> bool {
    d.add_to(now)
        .is_some_and(|limit| end <= limit + Duration::seconds(SLACK_SECONDS))
}

/// The next midnight (UTC) at or after `t`: a date a person would write,
/// never earlier than the grant's end.
pub(super) fn round_up_to_day(t: DateTime<Utc>) -> DateTime<Utc> {
    match t.duration_trunc(Duration::days(1)) {
        Ok(day) if day == t => t,
        Ok(day) => day + Duration::days(1),
        // Out of chrono's range: nothing to round.
        Err(_) => t,
    }
}

/// A grant's length (`end - start`) in whole days, at least one: the
/// nearest, unless that would end before `end` counted from now, which the
/// planner would take for a change to shorten it.
pub(super) fn length_in_days(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> IsoDuration {
    let seconds = (end - start).num_seconds();
    let mut days = ((seconds + DAY_SECONDS / 2) / DAY_SECONDS).max(1);
    let left = (end - now).num_seconds();
    if days * DAY_SECONDS < left {
        days = (left + DAY_SECONDS - 1) / DAY_SECONDS;
    }
    IsoDuration::days(u32::try_from(days).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AssignmentKind, SurfaceKind};
    use crate::snapshot::MemberType;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    fn grant(start: &str, expiration: Expiration) -> Grant {
        Grant {
            surface: SurfaceKind::DirectoryRole,
            kind: AssignmentKind::Eligible,
            schedule_id: "s".into(),
            principal_id: "p".into(),
            role_id: "r".into(),
            scope_id: "/".into(),
            start: Some(at(start)),
            expiration,
            member_type: MemberType::Direct,
            active_type: None,
            created_using: Some("q".into()),
            created: Some(at(start)),
            status: "Provisioned".into(),
            condition: None,
        }
    }

    #[test]
    fn ends_round_up_to_the_next_midnight() {
        for (end, rounded) in [
            ("2027-03-31T21:47:55Z", "2027-04-01T00:00:00Z"),
            ("2027-03-31T00:00:01Z", "2027-04-01T00:00:00Z"),
            ("2027-03-31T00:00:00Z", "2027-03-31T00:00:00Z"),
            ("2027-12-31T23:59:59.500Z", "2028-01-01T00:00:00Z"),
        ] {
            assert_eq!(round_up_to_day(at(end)), at(rounded), "{end}");
        }
    }

    #[test]
    fn lengths_are_whole_days_that_cover_what_is_left() {
        let cases = [
            // 90 days and 5 hours, begun long ago: the nearest day.
            ("2026-11-01T05:00:00Z", "2027-01-30T10:00:00Z", 90),
            // 89 days and 20 hours: rounds up to 90.
            ("2026-11-01T14:00:00Z", "2027-01-30T10:00:00Z", 90),
            // An hour long: at least a day.
            ("2026-12-01T09:30:00Z", "2026-12-01T10:30:00Z", 1),
            // 30 days and 2 hours, begun an hour ago: 30 would end 1 hour
            // early counted from now, so 31.
            ("2026-12-01T09:00:00Z", "2026-12-31T11:00:00Z", 31),
            // Starting tomorrow for 10 days: what is left from now.
            ("2026-12-02T10:00:00Z", "2026-12-12T10:00:00Z", 11),
        ];
        for (start, end, days) in cases {
            assert_eq!(
                length_in_days(at(start), at(end), now()),
                IsoDuration::days(days),
                "{start} to {end}"
            );
        }
    }

    #[test]
    fn the_duration_a_grant_was_made_with_is_kept() {
        let end = Expiration::At(at("2027-05-21T14:17:03Z"));
        let g = grant("2026-11-22T14:17:03Z", end.clone());
        let p180 = Expiration::After(IsoDuration::days(180));
        assert_eq!(
            declared_end(&g, Some(&p180), false, now()),
            End::Duration(IsoDuration::days(180))
        );
        assert_eq!(
            declared_end(&g, Some(&end), false, now()),
            End::Expires(at("2027-05-22T00:00:00Z")),
            "made with a date"
        );
        assert_eq!(
            declared_end(&g, None, false, now()),
            End::Expires(at("2027-05-22T00:00:00Z")),
            "its request is gone"
        );
        assert_eq!(
            declared_end(&g, None, true, now()),
            End::Duration(IsoDuration::days(180)),
            "--durations"
        );
        let later = grant(
            "2026-12-20T00:00:00Z",
            Expiration::After(IsoDuration::days(30)),
        );
        assert_eq!(
            declared_end(&later, None, false, now()),
            End::Expires(at("2027-01-19T00:00:00Z")),
            "starts later: P30D from now would end before it does"
        );
        let permanent = grant("2025-01-01T00:00:00Z", Expiration::Permanent);
        assert_eq!(
            declared_end(&permanent, Some(&p180), true, now()),
            End::Permanent
        );
    }

    #[test]
    fn ends_are_written_as_the_configuration_and_the_state_spell_them() {
        let e = End::Expires(at("2027-04-01T00:00:00Z"));
        assert_eq!(
            e.attribute(),
            ("expires", "\"2027-04-01T00:00:00Z\"".to_string())
        );
        assert_eq!(e.recorded(), "2027-04-01T00:00:00Z");
        let d = End::Duration(IsoDuration::days(180));
        assert_eq!(d.attribute(), ("duration", "\"P180D\"".to_string()));
        assert_eq!(d.recorded(), "P180D");
        assert_eq!(End::Permanent.recorded(), "permanent");
    }
}
