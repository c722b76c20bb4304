//! Tests of the cron module: hand-checked Quartz examples, refusals, daylight saving, and
//! property tests against an independent matcher and against croner.

mod dst;
mod examples;
mod oracle;
mod props;
mod refusals;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::CronExpr;

/// A zone from the bundled database.
fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

/// A wall-clock time (`2025-01-31 10:15:00`) in `tz`, which must exist exactly once.
fn at(tz: &TimeZone, wall: &str) -> Timestamp {
    let dt: DateTime = wall.parse().unwrap();
    tz.to_ambiguous_timestamp(dt).unambiguous().unwrap()
}

/// `ts` as wall-clock time in `tz` with its offset: `2025-03-09 03:00:00 -04:00`.
fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

fn expr(text: &str) -> CronExpr {
    CronExpr::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// The first `n` fire times of `text` after the wall-clock time `after`, in `zone_name`,
/// printed as local times with their offsets.
fn next_n(text: &str, zone_name: &str, after: &str, n: usize) -> Vec<String> {
    let tz = zone(zone_name);
    let cron = expr(text);
    let mut t = at(&tz, after);
    let mut out = Vec::new();
    for _ in 0..n {
        match cron.next_after(t, &tz) {
            Some(next) => {
                assert!(next > t);
                out.push(local(next, &tz));
                t = next;
            }
            None => break,
        }
    }
    out
}

/// Like [`next_n`] in UTC, printed without the offset.
fn utc_n(text: &str, after: &str, n: usize) -> Vec<String> {
    next_n(text, "UTC", after, n)
        .into_iter()
        .map(|s| s.trim_end_matches(" +00:00").to_string())
        .collect()
}
