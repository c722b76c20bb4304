//! The wall-clock search checked against croner in Quartz mode, as an independent oracle, for
//! the syntax croner implements (`L`, `LW`, `nW`, `nL`, `n#k`, ranges, lists, increments).
//! Croner is asked on civil times, so its daylight saving rules play no part.

use croner::parser::{CronParser, Seconds};
use jiff::civil::DateTime;
use proptest::prelude::*;

use super::super::parse::parse;
use super::super::schedule::Wall;

fn croner_next(text: &str, from: DateTime) -> Option<DateTime> {
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build();
    let cron = parser
        .parse(text)
        .unwrap_or_else(|e| panic!("croner refused `{text}`: {e}"));
    cron.find_next_occurrence(&from, true).ok()
}

fn ours_next(text: &str, from: DateTime) -> Option<DateTime> {
    let schedule = parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
    schedule.next_wall(Wall::from_civil(from))?.to_civil()
}

/// A plain list item of a field with values `min..=max`, in the syntax both accept.
fn plain(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        (min..=max).prop_map(|v| v.to_string()),
        (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (min..=max, 1..=max - min).prop_map(|(a, n)| format!("{a}/{n}")),
        (min..=max, min..=max, 1..=max - min).prop_map(|(a, b, n)| format!(
            "{}-{}/{n}",
            a.min(b),
            a.max(b)
        )),
        (1..=max - min).prop_map(|n| format!("*/{n}")),
    ]
}

fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_string()),
        4 => proptest::collection::vec(plain(min, max), 1..3).prop_map(|items| items.join(",")),
    ]
}

fn days() -> impl Strategy<Value = String> {
    prop_oneof![
        field(1, 31).prop_map(|dom| format!("{dom} * ?")),
        Just("L * ?".to_string()),
        Just("LW * ?".to_string()),
        (1..=31u32).prop_map(|d| format!("{d}W * ?")),
        field(1, 7).prop_map(|dow| format!("? * {dow}")),
        (1..=7u32).prop_map(|d| format!("? * {d}L")),
        (1..=7u32, 1..=5u32).prop_map(|(d, k)| format!("? * {d}#{k}")),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 59),
        field(0, 23),
        days(),
        field(1, 12),
    )
        .prop_map(|(seconds, minutes, hours, days, months)| {
            // `days` holds the month field's place; put the real month field in.
            let days = days.replacen(" * ", &format!(" {months} "), 1);
            format!("{seconds} {minutes} {hours} {days}")
        })
}

fn civil() -> impl Strategy<Value = DateTime> {
    (
        1970..=2150i16,
        1..=12i8,
        1..=31i8,
        0..=23i8,
        0..=59i8,
        0..=59i8,
    )
        .prop_map(|(y, mo, d, h, mi, s)| {
            let d = d.min(jiff::civil::date(y, mo, 1).days_in_month());
            DateTime::new(y, mo, d, h, mi, s, 0).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn wall_clock_search_agrees_with_croner(text in expression(), from in civil()) {
        // Expressions that never fire are refused; croner would search to its year 5000.
        prop_assume!(parse(&text).is_ok());
        let ours = ours_next(&text, from);
        let theirs = croner_next(&text, from);
        match ours {
            Some(t) => prop_assert_eq!(Some(t), theirs, "`{}` from {}", text, from),
            // Past our last year: croner finds nothing before 2200 either.
            None => prop_assert!(theirs.is_none_or(|t| t.year() >= 2200), "`{}` from {}: croner {:?}", text, from, theirs),
        }
    }
}

#[test]
fn hand_checked_examples_agree_with_croner() {
    for text in [
        "0 15 10 L * ?",
        "0 0 2 ? * 6#3",
        "0 0 12 ? * 2-6",
        "0 0 12 LW * ?",
        "0 15 10 ? * 6L",
        "0 0 12 15W * ?",
        "0 0 12 1W * ?",
        "0 0/5 14 * * ?",
        "0 45 16 * * ?",
    ] {
        let mut from: DateTime = "2024-01-01T00:00:00".parse().unwrap();
        for _ in 0..40 {
            let ours = ours_next(text, from).unwrap();
            assert_eq!(Some(ours), croner_next(text, from), "`{text}` from {from}");
            from = ours
                .checked_add(jiff::SignedDuration::from_secs(1))
                .unwrap();
        }
    }
}
