//! Property tests: random expressions from a generator of field values, random instants, random
//! zones, checked against a matcher written here from the generated values (not from the text).

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::super::CronError;
use super::CronExpr;

const ZONES: [&str; 4] = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Shanghai"];
/// 2200-01-01T00:00:00Z.
const END_2199: i64 = 7_258_118_400;

/// One value of a list.
#[derive(Debug, Clone)]
enum Item {
    Value(u32),
    /// `a-b`; wraps around the end of the field when `a > b`.
    Range(u32, u32),
    /// `a/n` (no end) or `a-b/n`, with `a <= b`.
    Step(u32, Option<u32>, u32),
    /// `*/n`.
    AnyStep(u32),
}

/// A whole field: `*` or a list.
#[derive(Debug, Clone)]
enum Spec {
    Any,
    List(Vec<Item>),
}

impl Spec {
    fn render(&self) -> String {
        match self {
            Spec::Any => "*".to_string(),
            Spec::List(items) => items
                .iter()
                .map(|item| match item {
                    Item::Value(v) => v.to_string(),
                    Item::Range(a, b) => format!("{a}-{b}"),
                    Item::Step(a, None, n) => format!("{a}/{n}"),
                    Item::Step(a, Some(b), n) => format!("{a}-{b}/{n}"),
                    Item::AnyStep(n) => format!("*/{n}"),
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Whether value `v` of a field with values `min..=max` is selected.
    fn matches(&self, v: u32, min: u32, max: u32) -> bool {
        match self {
            Spec::Any => true,
            Spec::List(items) => items.iter().any(|item| match *item {
                Item::Value(a) => v == a,
                Item::Range(a, b) if a <= b => a <= v && v <= b,
                Item::Range(a, b) => v >= a || v <= b,
                Item::Step(a, end, n) => {
                    v >= a && v <= end.unwrap_or(max) && (v - a).rem_euclid(n) == 0
                }
                Item::AnyStep(n) => (v - min).rem_euclid(n) == 0,
            }),
        }
    }
}

/// A generated expression.
#[derive(Debug, Clone)]
struct Gen {
    seconds: Spec,
    minutes: Spec,
    hours: Spec,
    /// `None` is `?`.
    day_of_month: Option<Spec>,
    months: Spec,
    /// `None` is `?`.
    day_of_week: Option<Spec>,
    years: Option<Spec>,
}

impl Gen {
    fn render(&self) -> String {
        let day = |spec: &Option<Spec>| spec.as_ref().map_or("?".to_string(), Spec::render);
        let mut text = format!(
            "{} {} {} {} {} {}",
            self.seconds.render(),
            self.minutes.render(),
            self.hours.render(),
            day(&self.day_of_month),
            self.months.render(),
            day(&self.day_of_week),
        );
        if let Some(years) = &self.years {
            text.push(' ');
            text.push_str(&years.render());
        }
        text
    }

    /// Whether the wall-clock time matches, computed from the generated values.
    fn matches(&self, wall: DateTime) -> bool {
        let year = wall.year() as u32;
        let days_ok = match (&self.day_of_month, &self.day_of_week) {
            (Some(dom), None) => dom.matches(wall.day() as u32, 1, 31),
            (None, Some(dow)) => dow.matches(wall.weekday().to_sunday_one_offset() as u32, 1, 7),
            _ => unreachable!("the generator sets exactly one day field"),
        };
        self.seconds.matches(wall.second() as u32, 0, 59)
            && self.minutes.matches(wall.minute() as u32, 0, 59)
            && self.hours.matches(wall.hour() as u32, 0, 23)
            && days_ok
            && self.months.matches(wall.month() as u32, 1, 12)
            && (1970..=2199).contains(&year)
            && self
                .years
                .as_ref()
                .is_none_or(|years| years.matches(year, 1970, 2199))
    }
}

fn item(min: u32, max: u32, max_step: u32, wrap: bool) -> impl Strategy<Value = Item> {
    prop_oneof![
        (min..=max).prop_map(Item::Value),
        (min..=max, min..=max).prop_map(move |(a, b)| if wrap || a <= b {
            Item::Range(a, b)
        } else {
            Item::Range(b, a)
        }),
        (min..=max, 1..=max_step)
            .prop_flat_map(move |(a, n)| (Just(a), proptest::option::of(a..=max), Just(n)))
            .prop_map(|(a, b, n)| Item::Step(a, b, n)),
        (1..=max_step).prop_map(Item::AnyStep),
    ]
}

fn spec(min: u32, max: u32, max_step: u32, wrap: bool) -> impl Strategy<Value = Spec> {
    prop_oneof![
        1 => Just(Spec::Any),
        4 => proptest::collection::vec(item(min, max, max_step, wrap), 1..4).prop_map(Spec::List),
    ]
}

fn days() -> impl Strategy<Value = (Option<Spec>, Option<Spec>)> {
    prop_oneof![
        spec(1, 31, 31, true).prop_map(|dom| (Some(dom), None)),
        spec(1, 7, 7, true).prop_map(|dow| (None, Some(dow))),
    ]
}

/// Any expression of the plain syntax.
fn any_gen() -> impl Strategy<Value = Gen> {
    (
        spec(0, 59, 59, true),
        spec(0, 59, 59, true),
        spec(0, 23, 23, true),
        days(),
        spec(1, 12, 12, true),
        proptest::option::of(spec(1970, 2199, 229, false)),
    )
        .prop_map(|(seconds, minutes, hours, (dom, dow), months, years)| Gen {
            seconds,
            minutes,
            hours,
            day_of_month: dom,
            months,
            day_of_week: dow,
            years,
        })
}

/// Expressions that fire often (at least a few times an hour on most days), for brute force.
fn dense_gen() -> impl Strategy<Value = Gen> {
    let seconds = prop_oneof![
        Just(Spec::Any),
        (1..=15u32).prop_map(|n| Spec::List(vec![Item::AnyStep(n)])),
        (0..=59u32, 0..=59u32).prop_map(|(a, b)| Spec::List(vec![Item::Range(a, b)])),
    ];
    let minutes = prop_oneof![
        Just(Spec::Any),
        (1..=10u32).prop_map(|n| Spec::List(vec![Item::AnyStep(n)])),
        (0..=59u32, 0..=59u32).prop_map(|(a, b)| Spec::List(vec![Item::Range(a, b)])),
    ];
    let hours = prop_oneof![
        Just(Spec::Any),
        (0..=23u32, 0..=23u32).prop_map(|(a, b)| Spec::List(vec![Item::Range(a, b)])),
    ];
    let days = prop_oneof![
        Just((Some(Spec::Any), None)),
        Just((None, Some(Spec::Any))),
        (1..=7u32, 1..=7u32).prop_map(|(a, b)| (None, Some(Spec::List(vec![Item::Range(a, b)])))),
    ];
    (seconds, minutes, hours, days).prop_map(|(seconds, minutes, hours, (dom, dow))| Gen {
        seconds,
        minutes,
        hours,
        day_of_month: dom,
        months: Spec::Any,
        day_of_week: dow,
        years: None,
    })
}

/// An instant between 1970 and 2199, sometimes with a fraction of a second.
fn instant() -> impl Strategy<Value = Timestamp> {
    (
        0..END_2199,
        prop_oneof![3 => Just(0i32), 1 => 0..1_000_000_000i32],
    )
        .prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap())
}

/// An instant, half of the time within three hours of a time zone transition of `tz`.
fn near_transition(tz: &TimeZone, random: Timestamp, offset: i64, near: bool) -> Timestamp {
    if !near {
        return random;
    }
    tz.following(random)
        .next()
        .and_then(|transition| {
            let t = transition.timestamp();
            t.checked_add(SignedDuration::from_secs(offset)).ok()
        })
        .unwrap_or(random)
}

fn parse(generated: &Gen) -> Option<CronExpr> {
    let text = generated.render();
    match CronExpr::parse(&text) {
        Ok(cron) => Some(cron),
        Err(CronError::NeverFires { .. }) => None,
        Err(e) => panic!("`{text}` was refused: {e}"),
    }
}

fn second(t: Timestamp, n: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(n)).unwrap()
}

/// A fire time must be a matching wall-clock time at its first occurrence, or the end of a
/// gap in which a wall-clock time matches.
fn check_fire_time(generated: &Gen, fire: Timestamp, tz: &TimeZone) -> Result<(), TestCaseError> {
    prop_assert_eq!(fire.subsec_nanosecond(), 0);
    let wall = tz.to_datetime(fire);
    if generated.matches(wall) {
        if let AmbiguousOffset::Fold { before, .. } = tz.to_ambiguous_timestamp(wall).offset() {
            prop_assert_eq!(
                before.to_timestamp(wall).unwrap(),
                fire,
                "a repeated wall-clock time must fire at its first occurrence"
            );
        }
        return Ok(());
    }
    let (before, after) = (tz.to_offset(second(fire, -1)), tz.to_offset(fire));
    prop_assert!(
        after > before,
        "{} does not match and does not end a gap",
        wall
    );
    let (gap_start, gap_end) = (before.to_datetime(fire), after.to_datetime(fire));
    let mut w = gap_start;
    while w < gap_end {
        if generated.matches(w) {
            return Ok(());
        }
        w = w.checked_add(SignedDuration::from_secs(1)).unwrap();
    }
    prop_assert!(
        false,
        "no wall-clock time in the gap before {} matches",
        wall
    );
    Ok(())
}

/// No fire time is missed between `after` and `next`: every instant in between whose wall-clock
/// time matches is a second occurrence whose first occurrence is not after `after`, and no gap
/// in between has a matching wall-clock time.
fn check_nothing_skipped(
    generated: &Gen,
    after: Timestamp,
    next: Timestamp,
    tz: &TimeZone,
) -> Result<(), TestCaseError> {
    let floor = after.as_second() - i64::from(after.subsec_nanosecond() < 0);
    let mut s = Timestamp::from_second(floor).unwrap();
    let mut previous_wall = tz.to_datetime(s);
    s = second(s, 1);
    while s < next {
        let wall = tz.to_datetime(s);
        if generated.matches(wall) {
            let first = match tz.to_ambiguous_timestamp(wall).offset() {
                AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).unwrap(),
                _ => s,
            };
            prop_assert!(first <= after, "{} ({}) matches but was skipped", wall, s);
        }
        let expected = previous_wall
            .checked_add(SignedDuration::from_secs(1))
            .unwrap();
        if wall > expected {
            // The clock jumped over [expected, wall): none of it may match.
            let mut w = expected;
            while w < wall {
                prop_assert!(
                    !generated.matches(w),
                    "{} in a gap matches but was skipped",
                    w
                );
                w = w.checked_add(SignedDuration::from_secs(1)).unwrap();
            }
        }
        previous_wall = wall;
        s = second(s, 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (a) and (b): the next fire time is after the given instant and matches.
    #[test]
    fn next_after_is_later_and_matches(
        generated in any_gen(),
        after in instant(),
        zone_index in 0..ZONES.len(),
    ) {
        let Some(cron) = parse(&generated) else { return Ok(()) };
        let tz = TimeZone::get(ZONES[zone_index]).unwrap();
        if let Some(next) = cron.next_after(after, &tz) {
            prop_assert!(next > after);
            check_fire_time(&generated, next, &tz)?;
            // And the one after that.
            if let Some(later) = cron.next_after(next, &tz) {
                prop_assert!(later > next);
                check_fire_time(&generated, later, &tz)?;
            }
        }
    }

    /// (d): `fire_times` over a range is repeated `next_after`, including `begin` when it is a
    /// fire time.
    #[test]
    fn fire_times_is_repeated_next_after(
        generated in any_gen(),
        after in instant(),
        hours in 0..2000i64,
        from_fire_time: bool,
        zone_index in 0..ZONES.len(),
    ) {
        let Some(cron) = parse(&generated) else { return Ok(()) };
        let tz = TimeZone::get(ZONES[zone_index]).unwrap();
        let begin = if from_fire_time {
            match cron.next_after(after, &tz) {
                Some(t) => t,
                None => return Ok(()),
            }
        } else {
            after
        };
        let end = second(begin, hours * 3600);
        let got: Vec<Timestamp> = cron.fire_times(begin, end, &tz).take(300).collect();
        let mut expected = Vec::new();
        let mut t = begin.checked_sub(SignedDuration::from_nanos(1)).unwrap();
        while expected.len() < 300 {
            match cron.next_after(t, &tz) {
                Some(next) if next <= end => {
                    expected.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        if from_fire_time {
            prop_assert_eq!(got.first(), Some(&begin));
        }
        prop_assert!(got.iter().all(|t| begin <= *t && *t <= end));
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// (c): for expressions that fire often, brute force over every second between an instant
    /// (often near a daylight saving transition) and the next fire time.
    #[test]
    fn no_matching_second_is_skipped(
        generated in dense_gen(),
        random in instant(),
        offset in -3 * 3600..3 * 3600i64,
        near in any::<bool>(),
        zone_index in 0..ZONES.len(),
    ) {
        let Some(cron) = parse(&generated) else { return Ok(()) };
        let tz = TimeZone::get(ZONES[zone_index]).unwrap();
        let after = near_transition(&tz, random, offset, near);
        let Some(next) = cron.next_after(after, &tz) else { return Ok(()) };
        prop_assert!(next > after);
        check_fire_time(&generated, next, &tz)?;
        // Brute force only over short stretches, to keep the test fast.
        if next.duration_since(after) <= SignedDuration::from_hours(8) {
            check_nothing_skipped(&generated, after, next, &tz)?;
        }
    }
}

/// Every fire time in `[begin, end]` (whole seconds), worked out second by second from the DST
/// rule: an instant fires when its wall-clock time matches and this is that wall-clock time's
/// first occurrence, or when the clock just jumped over a matching wall-clock time.
fn brute_force_fire_times(
    generated: &Gen,
    begin: Timestamp,
    end: Timestamp,
    tz: &TimeZone,
) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut previous_wall = tz.to_datetime(second(begin, -1));
    let mut s = begin;
    while s <= end {
        let wall = tz.to_datetime(s);
        let first_occurrence = match tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).unwrap() == s,
            _ => true,
        };
        let mut fires = first_occurrence && generated.matches(wall);
        let mut skipped = previous_wall
            .checked_add(SignedDuration::from_secs(1))
            .unwrap();
        while !fires && skipped < wall {
            fires = generated.matches(skipped);
            skipped = skipped.checked_add(SignedDuration::from_secs(1)).unwrap();
        }
        if fires {
            out.push(s);
        }
        previous_wall = wall;
        s = second(s, 1);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The fire times in a four-hour window, usually around a daylight saving transition, are
    /// exactly those the rule gives when applied second by second.
    #[test]
    fn window_around_a_transition_is_exact(
        generated in prop_oneof![3 => dense_gen(), 1 => any_gen()],
        random in (0..END_2199 - 86_400).prop_map(|s| Timestamp::from_second(s).unwrap()),
        near in proptest::bool::weighted(0.8),
        zone_index in 0..ZONES.len(),
    ) {
        let Some(cron) = parse(&generated) else { return Ok(()) };
        let tz = TimeZone::get(ZONES[zone_index]).unwrap();
        let center = near_transition(&tz, random, 0, near);
        let (begin, end) = (second(center, -2 * 3600), second(center, 2 * 3600));
        let got: Vec<Timestamp> = cron.fire_times(begin, end, &tz).collect();
        let expected = brute_force_fire_times(&generated, begin, end, &tz);
        prop_assert_eq!(got, expected, "`{}` in {} around {}", generated.render(), tz.iana_name().unwrap_or("?"), center);
    }
}
