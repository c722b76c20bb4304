//! The time formats users type and read: `YYYY-MM-DD HH:MM:SS` in the server's zone (Cosmos'
//! format) or RFC 3339, and the `yyyyMMddHHmmss` stamp of log directories.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// A time string that is neither `YYYY-MM-DD HH:MM:SS` nor RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time: use YYYY-MM-DD HH:MM:SS or RFC 3339 (2019-04-02T16:45:00Z)")]
pub struct BadTime(pub String);

/// Parses a user-supplied time; a time without an offset is read in `tz`.
pub fn parse_time(text: &str, tz: &TimeZone) -> Result<Timestamp, BadTime> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil: DateTime = text.parse().map_err(|_| BadTime(text.to_string()))?;
    civil
        .to_zoned(tz.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| BadTime(text.to_string()))
}

/// Formats a time as `YYYY-MM-DD HH:MM:SS` in `tz`, as Cosmos prints it.
pub fn format_time(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The `yyyyMMddHHmmss` stamp of a schedule time in `tz`: the name of its log directory.
pub fn log_stamp(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%Y%m%d%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    #[test]
    fn cosmos_times_are_read_in_the_given_zone() {
        let ts = parse_time("2019-04-02 16:45:00", &shanghai()).unwrap();
        assert_eq!(ts.to_string(), "2019-04-02T08:45:00Z");
        assert_eq!(format_time(ts, &shanghai()), "2019-04-02 16:45:00");
        assert_eq!(log_stamp(ts, &shanghai()), "20190402164500");
    }

    #[test]
    fn rfc3339_times_keep_their_offset() {
        let ts = parse_time("2019-04-02T16:45:00+02:00", &shanghai()).unwrap();
        assert_eq!(ts.to_string(), "2019-04-02T14:45:00Z");
    }

    #[test]
    fn garbage_is_refused_with_the_text() {
        let err = parse_time("yesterday", &TimeZone::UTC).unwrap_err();
        assert!(err.to_string().contains("`yesterday`"));
    }
}
