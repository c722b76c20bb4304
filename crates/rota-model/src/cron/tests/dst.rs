//! Daylight saving. America/New_York in 2025: the clock jumps from 02:00 EST to 03:00 EDT on
//! March 9th (07:00 UTC) and goes back from 02:00 EDT to 01:00 EST on November 2nd (06:00
//! UTC). Europe/Berlin in 2025: 02:00 CET to 03:00 CEST on March 30th (01:00 UTC), 03:00 CEST
//! back to 02:00 CET on October 26th (01:00 UTC).

use std::collections::HashSet;

use jiff::SignedDuration;

use super::*;

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The fire times of `text` after the instant `after`, as local times with offsets.
fn next_n_from(text: &str, zone_name: &str, after: Timestamp, n: usize) -> Vec<String> {
    let tz = zone(zone_name);
    let cron = expr(text);
    let mut t = after;
    let mut out = Vec::new();
    for _ in 0..n {
        let next = cron.next_after(t, &tz).unwrap();
        assert!(next > t);
        out.push(local(next, &tz));
        t = next;
    }
    out
}

#[test]
fn new_york_gap_fires_once_after_it() {
    assert_eq!(
        next_n("0 30 2 * * ?", "America/New_York", "2025-03-08 12:00:00", 2),
        ["2025-03-09 03:00:00 -04:00", "2025-03-10 02:30:00 -04:00"]
    );
    let tz = zone("America/New_York");
    assert_eq!(
        expr("0 30 2 * * ?").next_after(at(&tz, "2025-03-08 12:00:00"), &tz),
        Some(utc("2025-03-09T07:00:00Z"))
    );
    // Every matching time in the gap gives the one fire time after it.
    assert_eq!(
        next_n(
            "0 */15 * * * ?",
            "America/New_York",
            "2025-03-09 01:40:00",
            3
        ),
        [
            "2025-03-09 01:45:00 -05:00",
            "2025-03-09 03:00:00 -04:00",
            "2025-03-09 03:15:00 -04:00"
        ]
    );
    assert_eq!(
        next_n("0 0 * * * ?", "America/New_York", "2025-03-09 00:30:00", 3),
        [
            "2025-03-09 01:00:00 -05:00",
            "2025-03-09 03:00:00 -04:00",
            "2025-03-09 04:00:00 -04:00"
        ]
    );
    // A time in the gap on a day the expression does not match does not fire.
    assert_eq!(
        next_n(
            "0 30 2 ? * MON",
            "America/New_York",
            "2025-03-08 12:00:00",
            1
        ),
        ["2025-03-10 02:30:00 -04:00"]
    );
}

#[test]
fn new_york_repeated_hour_fires_once() {
    assert_eq!(
        next_n("0 30 1 * * ?", "America/New_York", "2025-11-01 12:00:00", 3),
        [
            "2025-11-02 01:30:00 -04:00",
            "2025-11-03 01:30:00 -05:00",
            "2025-11-04 01:30:00 -05:00"
        ]
    );
    let tz = zone("America/New_York");
    assert_eq!(
        expr("0 30 1 * * ?").next_after(at(&tz, "2025-11-01 12:00:00"), &tz),
        Some(utc("2025-11-02T05:30:00Z"))
    );
    // From inside the second pass, the 01:30 of that day has already fired.
    assert_eq!(
        next_n_from(
            "0 30 1 * * ?",
            "America/New_York",
            utc("2025-11-02T06:10:00Z"),
            1
        ),
        ["2025-11-03 01:30:00 -05:00"]
    );
    assert_eq!(
        next_n("0 0 * * * ?", "America/New_York", "2025-11-01 23:30:00", 4),
        [
            "2025-11-02 00:00:00 -04:00",
            "2025-11-02 01:00:00 -04:00",
            "2025-11-02 02:00:00 -05:00",
            "2025-11-02 03:00:00 -05:00"
        ]
    );
}

#[test]
fn new_york_every_minute_through_the_repeated_hour() {
    // The first pass fires every minute, the second pass not at all.
    assert_eq!(
        next_n_from(
            "0 * * * * ?",
            "America/New_York",
            utc("2025-11-02T05:57:30Z"),
            4
        ),
        [
            "2025-11-02 01:58:00 -04:00",
            "2025-11-02 01:59:00 -04:00",
            "2025-11-02 02:00:00 -05:00",
            "2025-11-02 02:01:00 -05:00"
        ]
    );
    // Starting inside the second pass (01:00 EST is 06:00 UTC), including its very start.
    for after in [
        "2025-11-02T06:00:00Z",
        "2025-11-02T06:30:00Z",
        "2025-11-02T06:59:59.5Z",
    ] {
        assert_eq!(
            next_n_from("0 * * * * ?", "America/New_York", utc(after), 1),
            ["2025-11-02 02:00:00 -05:00"],
            "{after}"
        );
    }
    // The last second of the first pass.
    assert_eq!(
        next_n_from(
            "* * * * * ?",
            "America/New_York",
            utc("2025-11-02T05:59:58Z"),
            2
        ),
        ["2025-11-02 01:59:59 -04:00", "2025-11-02 02:00:00 -05:00"]
    );
}

/// Every second from `from` to `to` (wall-clock, inclusive) on a day with a transition: each
/// wall-clock time fires at most once, and fire times strictly increase.
fn every_second_once(zone_name: &str, from: &str, to: &str, expected: usize) {
    let tz = zone(zone_name);
    let cron = expr("* * * * * ?");
    let begin = at(&tz, from);
    let end = at(&tz, to);
    let fires: Vec<Timestamp> = cron.fire_times(begin, end, &tz).collect();
    assert_eq!(fires.len(), expected);
    assert!(fires.windows(2).all(|w| w[0] < w[1]));
    let walls: HashSet<_> = fires.iter().map(|t| tz.to_datetime(*t)).collect();
    assert_eq!(walls.len(), fires.len(), "a wall-clock time fired twice");
}

#[test]
fn every_second_across_transitions() {
    // Fall back: 00:00:00 to 03:00:00 are 10801 distinct wall-clock times.
    every_second_once(
        "America/New_York",
        "2025-11-02 00:00:00",
        "2025-11-02 03:00:00",
        3 * 3600 + 1,
    );
    every_second_once(
        "Europe/Berlin",
        "2025-10-26 01:00:00",
        "2025-10-26 04:00:00",
        3 * 3600 + 1,
    );
    // Spring forward: the hour of the gap collapses into 03:00:00, which fires anyway.
    every_second_once(
        "America/New_York",
        "2025-03-09 00:00:00",
        "2025-03-09 04:00:00",
        2 * 3600 + 3600 + 1,
    );
    every_second_once(
        "Europe/Berlin",
        "2025-03-30 01:00:00",
        "2025-03-30 04:00:00",
        3600 + 3600 + 1,
    );
}

#[test]
fn berlin_gap_and_repeated_hour() {
    assert_eq!(
        next_n("0 30 2 * * ?", "Europe/Berlin", "2025-03-29 12:00:00", 2),
        ["2025-03-30 03:00:00 +02:00", "2025-03-31 02:30:00 +02:00"]
    );
    let tz = zone("Europe/Berlin");
    assert_eq!(
        expr("0 30 2 * * ?").next_after(at(&tz, "2025-03-29 12:00:00"), &tz),
        Some(utc("2025-03-30T01:00:00Z"))
    );
    assert_eq!(
        next_n("0 30 2 * * ?", "Europe/Berlin", "2025-10-25 12:00:00", 2),
        ["2025-10-26 02:30:00 +02:00", "2025-10-27 02:30:00 +01:00"]
    );
    assert_eq!(
        expr("0 30 2 * * ?").next_after(at(&tz, "2025-10-25 12:00:00"), &tz),
        Some(utc("2025-10-26T00:30:00Z"))
    );
    assert_eq!(
        next_n_from(
            "0 * * * * ?",
            "Europe/Berlin",
            utc("2025-10-26T00:58:00Z"),
            3
        ),
        [
            "2025-10-26 02:59:00 +02:00",
            "2025-10-26 03:00:00 +01:00",
            "2025-10-26 03:01:00 +01:00"
        ]
    );
    // From the second pass (02:30 CET is 01:30 UTC).
    assert_eq!(
        next_n_from(
            "0 30 2 * * ?",
            "Europe/Berlin",
            utc("2025-10-26T01:30:00Z"),
            1
        ),
        ["2025-10-27 02:30:00 +01:00"]
    );
}

#[test]
fn gap_at_midnight() {
    // Brazil started daylight saving at midnight: on 2018-11-04 São Paulo went from 00:00
    // straight to 01:00, so a daily midnight job runs at 01:00.
    assert_eq!(
        next_n("0 0 0 * * ?", "America/Sao_Paulo", "2018-11-03 12:00:00", 2),
        ["2018-11-04 01:00:00 -02:00", "2018-11-05 00:00:00 -02:00"]
    );
}

#[test]
fn fire_times_across_a_repeated_hour_matches_next_after() {
    let tz = zone("America/New_York");
    let cron = expr("0 */20 * * * ?");
    let begin = at(&tz, "2025-11-02 00:00:00");
    let end = at(&tz, "2025-11-02 03:00:00");
    let got: Vec<String> = cron
        .fire_times(begin, end, &tz)
        .map(|t| local(t, &tz))
        .collect();
    assert_eq!(
        got,
        [
            "2025-11-02 00:00:00 -04:00",
            "2025-11-02 00:20:00 -04:00",
            "2025-11-02 00:40:00 -04:00",
            "2025-11-02 01:00:00 -04:00",
            "2025-11-02 01:20:00 -04:00",
            "2025-11-02 01:40:00 -04:00",
            "2025-11-02 02:00:00 -05:00",
            "2025-11-02 02:20:00 -05:00",
            "2025-11-02 02:40:00 -05:00",
            "2025-11-02 03:00:00 -05:00",
        ]
    );
}

/// A search starting at the very end of a gap (the previous fire time, or the given instant,
/// is in the last second before the clock jumps) must still see the matching wall-clock times
/// in the gap. Found by `window_around_a_transition_is_exact` in 2160 (past the explicit
/// transitions of the database, where the POSIX rule applies), but not specific to it.
#[test]
fn gap_ending_at_the_next_second_still_fires() {
    let tz = zone("Europe/Berlin");
    // Berlin, 2160-03-30: 02:00 CET to 03:00 CEST at 01:00 UTC. 03:00:00 does not match (second
    // 0), 02:00:01 in the gap does.
    let cron = expr("1-59 44-0 * * * ?");
    let center = utc("2160-03-30T01:00:00Z");
    assert_eq!(
        cron.next_after(utc("2160-03-30T00:59:59Z"), &tz),
        Some(center)
    );
    assert_eq!(
        cron.next_after(utc("2160-03-30T00:59:59.5Z"), &tz),
        Some(center)
    );
    let hour = SignedDuration::from_hours(1);
    let got: Vec<String> = cron
        .fire_times(center - hour, center + hour, &tz)
        .map(|t| local(t, &tz))
        .collect();
    let mut expected: Vec<String> = Vec::new();
    for second in 1..60 {
        expected.push(format!("2160-03-30 01:00:{second:02} +01:00"));
    }
    for minute in 44..60 {
        for second in 1..60 {
            expected.push(format!("2160-03-30 01:{minute:02}:{second:02} +01:00"));
        }
    }
    expected.push("2160-03-30 03:00:00 +02:00".to_string());
    for second in 1..60 {
        expected.push(format!("2160-03-30 03:00:{second:02} +02:00"));
    }
    for minute in 44..60 {
        for second in 1..60 {
            expected.push(format!("2160-03-30 03:{minute:02}:{second:02} +02:00"));
        }
    }
    assert_eq!(got, expected);

    // The same in a year of explicit transitions, and for a daily time in the gap.
    assert_eq!(
        next_n_from(
            "1-59 * * * * ?",
            "Europe/Berlin",
            utc("2025-03-30T00:59:59Z"),
            2
        ),
        ["2025-03-30 03:00:00 +02:00", "2025-03-30 03:00:01 +02:00"]
    );
    assert_eq!(
        next_n_from(
            "0 30 2 * * ?",
            "America/New_York",
            utc("2025-03-09T06:59:59.25Z"),
            2
        ),
        ["2025-03-09 03:00:00 -04:00", "2025-03-10 02:30:00 -04:00"]
    );
}
