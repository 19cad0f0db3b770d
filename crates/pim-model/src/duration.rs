//! ISO 8601 durations as Graph uses them (`P90D`, `PT8H`, `P1Y2M`, `P2W`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Months, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative ISO 8601 duration, kept field by field so that it prints
/// back as written (`P1Y2M` stays `P1Y2M`, not a count of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration must not be negative: {0:?}")]
    Negative(String),
    #[error("{0:?} is not an ISO 8601 duration ({1})")]
    Malformed(String, &'static str),
}

impl IsoDuration {
    pub const fn hours(h: u32) -> Self {
        IsoDuration {
            years: 0,
            months: 0,
            weeks: 0,
            days: 0,
            hours: h,
            minutes: 0,
            seconds: 0,
        }
    }

    pub const fn days(d: u32) -> Self {
        IsoDuration {
            years: 0,
            months: 0,
            weeks: 0,
            days: d,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }

    /// Length in seconds with years as 365 days and months as 30 days: the
    /// measure Graph uses when it compares a request with `maximumDuration`.
    pub fn approx_seconds(&self) -> i64 {
        let days = i64::from(self.years) * 365
            + i64::from(self.months) * 30
            + i64::from(self.weeks) * 7
            + i64::from(self.days);
        days * 86_400
            + i64::from(self.hours) * 3_600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds)
    }

    pub fn is_zero(&self) -> bool {
        self.approx_seconds() == 0
    }

    /// `start` plus this duration on the calendar (months and years by
    /// calendar, the rest exactly). `None` on overflow.
    pub fn add_to(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        let t = start.checked_add_months(Months::new(months))?;
        let t = t.checked_add_days(Days::new(u64::from(self.weeks) * 7 + u64::from(self.days)))?;
        let rest =
            i64::from(self.hours) * 3_600 + i64::from(self.minutes) * 60 + i64::from(self.seconds);
        t.checked_add_signed(TimeDelta::try_seconds(rest)?)
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
            ..IsoDuration::default()
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
                    let (slot, rank) = match (in_time, ch.to_ascii_uppercase()) {
                        (false, 'Y') => (&mut d.years, 1),
                        (false, 'M') => (&mut d.months, 2),
                        (false, 'W') => (&mut d.weeks, 3),
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
                            return Err(malformed(
                                "unknown designator; use Y, M, W, D, then T and H, M, S",
                            ));
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
        Ok(d)
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        for (v, c) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if v > 0 {
                write!(f, "{v}{c}")?;
            }
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

    #[test]
    fn parses_and_prints_graph_durations() {
        for s in [
            "P90D", "PT8H", "P1Y2M", "P2W", "PT1H45M", "P1DT12H", "PT30S", "P365D",
        ] {
            let d: IsoDuration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        assert_eq!(
            "PT8H".parse::<IsoDuration>().unwrap().approx_seconds(),
            8 * 3600
        );
        assert_eq!(
            "P1Y".parse::<IsoDuration>().unwrap().approx_seconds(),
            365 * 86400
        );
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(matches!(
            "-P1D".parse::<IsoDuration>(),
            Err(DurationError::Negative(_))
        ));
        for s in [
            "", "P", "PT", "90D", "P8H", "PT8D", "P1D2Y", "P1DD", "P1.5D", "PXD", "P1",
        ] {
            assert!(
                matches!(s.parse::<IsoDuration>(), Err(DurationError::Malformed(..))),
                "{s}"
            );
        }
    }

    #[test]
    fn adds_on_the_calendar() {
        let start = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
        let d: IsoDuration = "P1M".parse().unwrap();
        assert_eq!(
            d.add_to(start).unwrap(),
            Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap()
        );
        assert_eq!(IsoDuration::from_seconds(5400).to_string(), "PT1H30M");
    }
}
