//! Times are UTC with microsecond precision, written as RFC 3339 (`2026-11-28T22:34:50.123456Z`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    from_micros(Utc::now().timestamp_micros())
}

pub fn to_micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> Timestamp {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A text that is no time. It is the operator's input, quoted escaped so that the message is one
/// line of plain text.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("'{}' is not a time: use RFC 3339 (2026-11-28T03:00:00Z) or an age like 90s, 15m, 2h, 1d", .0.escape_debug())]
pub struct BadTime(pub String);

/// A point in time given as RFC 3339 or as an age before `now` (`90s`, `15m`, `2h`, `1d`).
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, BadTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    // An age before the earliest representable time is no time either (not a panic).
    parse_duration(text).and_then(|age| now.checked_sub_signed(age)).ok_or_else(|| BadTime(text.to_owned()))
}

/// `90s`, `15m`, `2h`, `1d`, `250ms`.
pub fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    match unit {
        "ms" => chrono::Duration::try_milliseconds(n),
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    }
}

/// "3s", "4m", "2h", "5d": how long ago, for tables.
pub fn age(since: &Timestamp, now: &Timestamp) -> String {
    let s = (*now - *since).num_seconds().max(0);
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m", s / 60),
        6000..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_ages() {
        let now = parse_time("2026-11-28T03:00:00Z", now()).unwrap();
        assert_eq!(format(&parse_time("90s", now).unwrap()), "2026-11-28T02:58:30.000000Z");
        assert_eq!(format(&parse_time("2h", now).unwrap()), "2026-11-28T01:00:00.000000Z");
        assert_eq!(format(&parse_time("2026-11-28T04:00:00+01:00", now).unwrap()), "2026-11-28T03:00:00.000000Z");
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("15x", now).is_err());
        assert!(parse_time("", now).is_err());
    }

    #[test]
    fn micros_round_trip() {
        let t = now();
        assert_eq!(from_micros(to_micros(&t)), t);
    }
}
