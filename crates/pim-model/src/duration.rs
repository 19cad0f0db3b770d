//! ISO 8601 durations as Graph's `Edm.Duration` holds them: days, hours,
//! minutes and seconds (`P90D`, `PT8H`, `P1DT12H`).
//!
//! Years, months and weeks are ISO 8601 but not `Edm.Duration` (OData's ABNF
//! has only D, H, M and S after P, and Graph refuses `P1Y` or `P6M` asking for
//! `P365D`): this type cannot hold them, so nothing pim sends can carry one.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration, kept field by field so that it prints back as
/// written (`PT24H` stays `PT24H`), yet equal to any other spelling of the
/// same length (`PT24H == P1D`): Graph stores a length, not the spelling.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsoDuration {
    days: u32,
    hours: u32,
    minutes: u32,
    seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration must not be negative: {0:?}")]
    Negative(String),
    #[error("{0:?} is not an ISO 8601 duration ({1})")]
    Malformed(String, &'static str),
    /// Years, months or weeks: well-formed ISO 8601 that Graph refuses.
    /// `days` is the same length counted in days.
    #[error("{text:?} counts {units}, which Graph's durations cannot hold; write \"{days}\"")]
    Calendar {
        text: String,
        units: String,
        days: IsoDuration,
    },
}

/// Days in a year and in a month when a calendar duration is written in
/// days: Entra's own defaults label `P365D` a year and `P180D` six months.
/// UNVERIFIED that Entra counts a month as exactly 30 days everywhere.
pub const DAYS_PER_YEAR: u64 = 365;
pub const DAYS_PER_MONTH: u64 = 30;

impl PartialEq for IsoDuration {
    fn eq(&self, other: &Self) -> bool {
        self.as_seconds() == other.as_seconds()
    }
}

impl Eq for IsoDuration {}

impl Hash for IsoDuration {
    // Equal lengths must hash alike, whatever their spelling.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_seconds().hash(state);
    }
}

impl IsoDuration {
    pub const fn hours(h: u32) -> Self {
        IsoDuration {
            days: 0,
            hours: h,
            minutes: 0,
            seconds: 0,
        }
    }

    pub const fn days(d: u32) -> Self {
        IsoDuration {
            days: d,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }

    /// The length in seconds: exact, as every unit this type holds is fixed.
    pub fn as_seconds(&self) -> i64 {
        i64::from(self.days) * 86_400
            + i64::from(self.hours) * 3_600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds)
    }

    pub fn is_zero(&self) -> bool {
        self.as_seconds() == 0
    }

    /// `start` plus this duration. `None` on overflow.
    pub fn add_to(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        start.checked_add_signed(TimeDelta::try_seconds(self.as_seconds())?)
    }

    /// The duration of a whole number of seconds, in days, hours, minutes and
    /// seconds (`PT90M` becomes `PT1H30M`).
    pub fn from_seconds(total: u64) -> Self {
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        IsoDuration {
            days: clamp(total / 86_400),
            hours: clamp(total % 86_400 / 3_600),
            minutes: clamp(total % 3_600 / 60),
            seconds: clamp(total % 60),
        }
    }

    /// The same length as Graph writes it back: days, then hours, minutes
    /// and seconds, largest units first (`PT24H` is `P1D`, `PT90M` is
    /// `PT1H30M`), as .NET writes a TimeSpan.
    pub fn canonical(&self) -> Self {
        IsoDuration::from_seconds(u64::try_from(self.as_seconds()).unwrap_or(0))
    }

    /// Reads a duration pim may have recorded before it refused years,
    /// months and weeks (a state file of an earlier pim): those count as the
    /// days the refusal's hint names, so a configuration that followed the
    /// hint matches what was recorded.
    pub fn parse_recorded(s: &str) -> Result<Self, DurationError> {
        match s.parse() {
            Err(DurationError::Calendar { days, .. }) => Ok(days),
            other => other,
        }
    }
}

impl FromStr for IsoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.starts_with('-') {
            return Err(DurationError::Negative(s.to_string()));
        }
        let malformed = |why| DurationError::Malformed(s.to_string(), why);
        let rest = text
            .strip_prefix('P')
            .or_else(|| text.strip_prefix('p'))
            .ok_or_else(|| malformed("it must start with P, as in P90D or PT8H"))?;
        if rest.is_empty() {
            return Err(malformed("nothing follows P"));
        }
        let mut d = IsoDuration::default();
        // Years, months and weeks are read only to say what they come to in days.
        let mut calendar = [None::<u32>; 3];
        let mut in_time = false;
        let mut number = String::new();
        let mut seen_any = false;
        let mut last_rank = 0u8;
        for ch in rest.chars() {
            match ch {
                '0'..='9' => number.push(ch),
                'T' | 't' => {
                    if in_time || !number.is_empty() {
                        return Err(malformed("T appears twice or after a number"));
                    }
                    in_time = true;
                    last_rank = 4;
                }
                _ => {
                    if number.is_empty() {
                        return Err(malformed("a designator has no number before it"));
                    }
                    let value: u32 = number
                        .parse()
                        .map_err(|_| malformed("a number is too large"))?;
                    number.clear();
                    let [years, months, weeks] = &mut calendar;
                    let (slot, rank) = match (in_time, ch.to_ascii_uppercase()) {
                        (false, 'Y') => (years.insert(0), 1),
                        (false, 'M') => (months.insert(0), 2),
                        (false, 'W') => (weeks.insert(0), 3),
                        (false, 'D') => (&mut d.days, 4),
                        (true, 'H') => (&mut d.hours, 5),
                        (true, 'M') => (&mut d.minutes, 6),
                        (true, 'S') => (&mut d.seconds, 7),
                        (false, 'H' | 'S') => {
                            return Err(malformed(
                                "hours, minutes and seconds go after T, as in PT8H",
                            ));
                        }
                        _ => {
                            return Err(malformed("unknown designator; use D, then T and H, M, S"));
                        }
                    };
                    if rank <= last_rank {
                        return Err(malformed("designators are out of order or repeated"));
                    }
                    last_rank = rank;
                    *slot = value;
                    seen_any = true;
                }
            }
        }
        if !number.is_empty() {
            return Err(malformed("a number has no designator after it"));
        }
        if !seen_any {
            return Err(malformed("no value after T"));
        }
        if calendar.iter().any(Option::is_some) {
            return Err(calendar_error(s, calendar, d));
        }
        Ok(d)
    }
}

/// The refusal of a duration with years, months or weeks, naming them and
/// the same length in days.
fn calendar_error(text: &str, calendar: [Option<u32>; 3], rest: IsoDuration) -> DurationError {
    let [years, months, weeks] = calendar.map(|v| u64::from(v.unwrap_or(0)));
    let days = years * DAYS_PER_YEAR + months * DAYS_PER_MONTH + weeks * 7 + u64::from(rest.days);
    let Ok(days) = u32::try_from(days) else {
        return DurationError::Malformed(text.to_string(), "a number is too large");
    };
    let names: Vec<&str> = ["years", "months", "weeks"]
        .into_iter()
        .zip(calendar)
        .filter_map(|(name, v)| v.map(|_| name))
        .collect();
    let units = match names.as_slice() {
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => String::new(),
    };
    DurationError::Calendar {
        text: text.to_string(),
        units,
        days: IsoDuration { days, ..rest },
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        if self.days > 0 {
            write!(f, "{}D", self.days)?;
        }
        if self.hours > 0 || self.minutes > 0 || self.seconds > 0 {
            f.write_str("T")?;
            for (v, c) in [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')] {
                if v > 0 {
                    write!(f, "{v}{c}")?;
                }
            }
        } else if self.is_zero() {
            f.write_str("T0S")?;
        }
        Ok(())
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> IsoDuration {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_graph_durations() {
        for s in [
            "P90D", "PT8H", "PT1H45M", "P1DT12H", "PT30S", "P365D", "PT24H",
        ] {
            assert_eq!(d(s).to_string(), s);
        }
        assert_eq!(d("PT8H").as_seconds(), 8 * 3600);
        assert_eq!(d("P1DT1M").as_seconds(), 86_400 + 60);
        assert_eq!(IsoDuration::default().to_string(), "PT0S");
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(matches!(
            "-P1D".parse::<IsoDuration>(),
            Err(DurationError::Negative(_))
        ));
        for s in [
            "", "P", "PT", "90D", "P8H", "PT8D", "P1D2Y", "P1DD", "P1.5D", "PXD", "P1", "P1YX",
            "PT1W",
        ] {
            assert!(
                matches!(s.parse::<IsoDuration>(), Err(DurationError::Malformed(..))),
                "{s}"
            );
        }
    }

    #[test]
    fn years_months_and_weeks_are_refused_with_their_days() {
        for (s, units, days) in [
            ("P1Y", "years", "P365D"),
            ("P6M", "months", "P180D"),
            ("P2W", "weeks", "P14D"),
            ("P1Y2M", "years and months", "P425D"),
            ("P1Y2M3W4DT5H", "years, months and weeks", "P450DT5H"),
            ("P0Y", "years", "PT0S"),
        ] {
            match s.parse::<IsoDuration>() {
                Err(DurationError::Calendar {
                    text,
                    units: u,
                    days: dd,
                }) => {
                    assert_eq!((text.as_str(), u.as_str()), (s, units));
                    assert_eq!(dd.to_string(), days, "{s}");
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        assert_eq!(
            "P1Y".parse::<IsoDuration>().unwrap_err().to_string(),
            "\"P1Y\" counts years, which Graph's durations cannot hold; write \"P365D\""
        );
        assert!(matches!(
            "P4294967295Y".parse::<IsoDuration>(),
            Err(DurationError::Malformed(..))
        ));
        assert!("P1Y".parse::<IsoDuration>().is_err());
        assert!(serde_json::from_str::<IsoDuration>("\"P6M\"").is_err());
    }

    #[test]
    fn recorded_calendar_durations_read_as_days() {
        assert_eq!(
            IsoDuration::parse_recorded("P1Y"),
            Ok(IsoDuration::days(365))
        );
        assert_eq!(
            IsoDuration::parse_recorded("P2W").unwrap().to_string(),
            "P14D"
        );
        assert_eq!(
            IsoDuration::parse_recorded("PT8H"),
            Ok(IsoDuration::hours(8))
        );
        assert!(IsoDuration::parse_recorded("8 hours").is_err());
    }

    #[test]
    fn equal_lengths_are_equal_whatever_the_spelling() {
        use std::collections::HashSet;
        assert_eq!(d("PT24H"), d("P1D"));
        assert_eq!(d("PT90M"), d("PT1H30M"));
        assert_eq!(d("PT3600S"), IsoDuration::hours(1));
        assert_ne!(d("PT24H"), d("P1DT1S"));
        let set: HashSet<IsoDuration> = [d("PT24H"), d("P1D"), d("PT1440M")].into();
        assert_eq!(set.len(), 1);
        // Spelling survives for display.
        assert_eq!(d("PT24H").to_string(), "PT24H");
    }

    #[test]
    fn canonical_form_is_days_then_time_largest_first() {
        for (s, want) in [
            ("PT24H", "P1D"),
            ("PT90M", "PT1H30M"),
            ("PT36H", "P1DT12H"),
            ("PT86461S", "P1DT1M1S"),
            ("P365D", "P365D"),
            ("PT1H45M", "PT1H45M"),
            ("PT0M", "PT0S"),
        ] {
            assert_eq!(d(s).canonical().to_string(), want, "{s}");
        }
    }

    #[test]
    fn adds_exactly() {
        let start = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
        assert_eq!(
            d("P30DT1H").add_to(start).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
        );
        assert_eq!(IsoDuration::from_seconds(5400).to_string(), "PT1H30M");
    }
}
