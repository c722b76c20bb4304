//! Quartz examples, with the expected times worked out on a calendar (2025: Jan 1 is a
//! Wednesday, Feb 1 a Saturday, Feb 15 a Saturday, May 31 a Saturday, Jun 1 and Jun 15
//! Sundays, Aug 31 a Sunday; 2024 is a leap year).

use super::*;

#[test]
fn last_day_of_month() {
    assert_eq!(
        utc_n("0 15 10 L * ?", "2025-01-15 00:00:00", 4),
        [
            "2025-01-31 10:15:00",
            "2025-02-28 10:15:00",
            "2025-03-31 10:15:00",
            "2025-04-30 10:15:00",
        ]
    );
    assert_eq!(
        utc_n("0 15 10 L * ?", "2024-02-01 00:00:00", 1),
        ["2024-02-29 10:15:00"]
    );
}

#[test]
fn third_friday() {
    // Fridays of January 2025: 3, 10, 17; of February: 7, 14, 21; of March: 7, 14, 21.
    assert_eq!(
        utc_n("0 0 2 ? * 6#3", "2025-01-01 00:00:00", 3),
        [
            "2025-01-17 02:00:00",
            "2025-02-21 02:00:00",
            "2025-03-21 02:00:00"
        ]
    );
    // The same with the name.
    assert_eq!(
        utc_n("0 0 2 ? * fri#3", "2025-01-17 02:00:00", 1),
        ["2025-02-21 02:00:00"]
    );
}

#[test]
fn fifth_weekday_skips_months_without_one() {
    // Wednesdays: January 2025 has five (1, 8, 15, 22, 29); February has four; April 2025
    // (2, 9, 16, 23, 30) has five.
    assert_eq!(
        utc_n("0 0 9 ? * 4#5", "2025-01-01 00:00:00", 2),
        ["2025-01-29 09:00:00", "2025-04-30 09:00:00"]
    );
}

#[test]
fn weekdays_at_noon() {
    // From Friday January 3rd, 2025 at noon: Monday 6th to Friday 10th.
    assert_eq!(
        utc_n("0 0 12 ? * MON-FRI", "2025-01-03 12:00:00", 6),
        [
            "2025-01-06 12:00:00",
            "2025-01-07 12:00:00",
            "2025-01-08 12:00:00",
            "2025-01-09 12:00:00",
            "2025-01-10 12:00:00",
            "2025-01-13 12:00:00",
        ]
    );
    // The same in numbers (2 = Monday ... 6 = Friday).
    assert_eq!(
        utc_n("0 0 12 ? * 2-6", "2025-01-03 12:00:00", 1),
        ["2025-01-06 12:00:00"]
    );
}

#[test]
fn last_weekday_of_month() {
    // March 31st 2025 is a Monday; May 31st a Saturday (Friday 30th); August 31st a Sunday
    // (Friday 29th).
    assert_eq!(
        utc_n("0 0 12 LW * ?", "2025-03-01 00:00:00", 6),
        [
            "2025-03-31 12:00:00",
            "2025-04-30 12:00:00",
            "2025-05-30 12:00:00",
            "2025-06-30 12:00:00",
            "2025-07-31 12:00:00",
            "2025-08-29 12:00:00",
        ]
    );
}

#[test]
fn last_friday() {
    assert_eq!(
        utc_n("0 15 10 ? * 6L", "2025-01-01 00:00:00", 3),
        [
            "2025-01-31 10:15:00",
            "2025-02-28 10:15:00",
            "2025-03-28 10:15:00"
        ]
    );
    assert_eq!(
        utc_n("0 15 10 ? * FRIL", "2025-01-31 10:15:00", 1),
        ["2025-02-28 10:15:00"]
    );
}

#[test]
fn third_to_last_day() {
    assert_eq!(
        utc_n("0 0 12 L-3 * ?", "2025-01-01 00:00:00", 3),
        [
            "2025-01-28 12:00:00",
            "2025-02-25 12:00:00",
            "2025-03-28 12:00:00"
        ]
    );
    // February 2024 has 29 days.
    assert_eq!(
        utc_n("0 0 12 L-3 * ?", "2024-02-01 00:00:00", 1),
        ["2024-02-26 12:00:00"]
    );
    // `L-0` is `L`.
    assert_eq!(
        utc_n("0 0 12 L-0 2 ?", "2025-01-01 00:00:00", 1),
        ["2025-02-28 12:00:00"]
    );
}

#[test]
fn weekday_nearest_to_day_before_last() {
    // L-1 of November 2024 is Friday 29th. In 2025: L-1 of May is Friday 30th; of June
    // Sunday 29th, so Monday 30th; of July Wednesday 30th; of August Saturday 30th, so
    // Friday 29th.
    assert_eq!(
        utc_n("0 0 12 L-1W 11 ? 2024", "2024-01-01 00:00:00", 1),
        ["2024-11-29 12:00:00"]
    );
    assert_eq!(
        utc_n("0 0 12 L-1W * ?", "2025-05-01 00:00:00", 4),
        [
            "2025-05-30 12:00:00",
            "2025-06-30 12:00:00",
            "2025-07-30 12:00:00",
            "2025-08-29 12:00:00",
        ]
    );
}

#[test]
fn nearest_weekday_to_the_fifteenth() {
    // 15th: Wednesday in January, Saturday in February (Friday 14th), Saturday in March
    // (Friday 14th), Tuesday in April, Thursday in May, Sunday in June (Monday 16th).
    assert_eq!(
        utc_n("0 0 12 15W * ?", "2025-01-01 00:00:00", 6),
        [
            "2025-01-15 12:00:00",
            "2025-02-14 12:00:00",
            "2025-03-14 12:00:00",
            "2025-04-15 12:00:00",
            "2025-05-15 12:00:00",
            "2025-06-16 12:00:00",
        ]
    );
    // From the Friday it fired on, the next one is in the following month.
    assert_eq!(
        utc_n("0 0 12 15W * ?", "2025-02-14 12:00:00", 1),
        ["2025-03-14 12:00:00"]
    );
}

#[test]
fn nearest_weekday_does_not_leave_the_month() {
    // February 1st, 2025 is a Saturday: Monday 3rd, not Friday January 31st. June 1st is a
    // Sunday: Monday 2nd.
    assert_eq!(
        utc_n("0 0 12 1W * ?", "2025-01-02 00:00:00", 1),
        ["2025-02-03 12:00:00"]
    );
    assert_eq!(
        utc_n("0 0 12 1W 6 ?", "2025-01-01 00:00:00", 1),
        ["2025-06-02 12:00:00"]
    );
    // August 31st, 2025 is a Sunday: Friday 29th, not Monday September 1st.
    assert_eq!(
        utc_n("0 0 12 31W 8 ?", "2025-01-01 00:00:00", 1),
        ["2025-08-29 12:00:00"]
    );
    // April has no 31st: 31W does not fire in it. May 31st, 2025 is a Saturday.
    assert_eq!(
        utc_n("0 0 12 31W * ?", "2025-04-01 00:00:00", 1),
        ["2025-05-30 12:00:00"]
    );
}

#[test]
fn every_five_minutes_of_an_hour() {
    let mut expected: Vec<String> = (5..60)
        .step_by(5)
        .map(|m| format!("2025-01-01 14:{m:02}:00"))
        .collect();
    expected.push("2025-01-02 14:00:00".to_string());
    assert_eq!(utc_n("0 0/5 14 * * ?", "2025-01-01 14:03:00", 12), expected);
}

#[test]
fn bare_l_in_day_of_week_is_saturday() {
    assert_eq!(
        utc_n("0 0 12 ? * L", "2025-01-01 00:00:00", 3),
        [
            "2025-01-04 12:00:00",
            "2025-01-11 12:00:00",
            "2025-01-18 12:00:00"
        ]
    );
}

#[test]
fn year_field() {
    assert_eq!(
        utc_n("0 0 12 * * ? 2030", "2025-01-01 00:00:00", 2),
        ["2030-01-01 12:00:00", "2030-01-02 12:00:00"]
    );
    assert!(utc_n("0 0 12 * * ? 2030", "2030-12-31 12:00:00", 1).is_empty());
    assert_eq!(
        utc_n("0 0 0 1 1 ? 2025-2027", "2020-01-01 00:00:00", 4),
        [
            "2025-01-01 00:00:00",
            "2026-01-01 00:00:00",
            "2027-01-01 00:00:00"
        ]
    );
    assert_eq!(
        utc_n("0 0 0 1 1 ? 2030/50", "2020-01-01 00:00:00", 5),
        [
            "2030-01-01 00:00:00",
            "2080-01-01 00:00:00",
            "2130-01-01 00:00:00",
            "2180-01-01 00:00:00"
        ]
    );
    assert_eq!(
        utc_n("0 0 0 1 1 ? 1999,2001,2003-2004", "1998-01-01 00:00:00", 5),
        [
            "1999-01-01 00:00:00",
            "2001-01-01 00:00:00",
            "2003-01-01 00:00:00",
            "2004-01-01 00:00:00"
        ]
    );
}

#[test]
fn no_fire_time_after_2199() {
    assert_eq!(
        utc_n("0 0 0 * * ?", "2199-12-30 12:00:00", 3),
        ["2199-12-31 00:00:00"]
    );
}

#[test]
fn month_and_weekday_names() {
    // Saturdays and Sundays of the first quarter, case-insensitive.
    assert_eq!(
        utc_n("0 0 8 ? jan-MAR SUN,SAT", "2025-03-28 00:00:00", 4),
        [
            "2025-03-29 08:00:00",
            "2025-03-30 08:00:00",
            "2026-01-03 08:00:00",
            "2026-01-04 08:00:00"
        ]
    );
    // A range that wraps around the end of the year, and one around the end of the week.
    assert_eq!(
        utc_n("0 0 0 1 NOV-FEB ?", "2025-02-02 00:00:00", 4),
        [
            "2025-11-01 00:00:00",
            "2025-12-01 00:00:00",
            "2026-01-01 00:00:00",
            "2026-02-01 00:00:00"
        ]
    );
    // Friday January 3rd to Monday January 6th.
    assert_eq!(
        utc_n("0 0 0 ? * FRI-MON", "2025-01-02 00:00:00", 5),
        [
            "2025-01-03 00:00:00",
            "2025-01-04 00:00:00",
            "2025-01-05 00:00:00",
            "2025-01-06 00:00:00",
            "2025-01-10 00:00:00"
        ]
    );
}

#[test]
fn cosmos_example_daily_at_quarter_to_five() {
    assert_eq!(
        utc_n("0 45 16 * * ?", "2019-04-02 16:45:00", 2),
        ["2019-04-03 16:45:00", "2019-04-04 16:45:00"]
    );
    // In a zone: 16:45 Shanghai time is 08:45 UTC.
    let tz = zone("Asia/Shanghai");
    let next = expr("0 45 16 * * ?")
        .next_after("2019-04-02T00:00:00Z".parse().unwrap(), &tz)
        .unwrap();
    assert_eq!(next, "2019-04-02T08:45:00Z".parse::<Timestamp>().unwrap());
}

#[test]
fn steps_ranges_and_wrapping_hours() {
    assert_eq!(
        utc_n("5-40/15 0 22-1 * * ?", "2025-01-01 21:00:00", 9),
        [
            "2025-01-01 22:00:05",
            "2025-01-01 22:00:20",
            "2025-01-01 22:00:35",
            "2025-01-01 23:00:05",
            "2025-01-01 23:00:20",
            "2025-01-01 23:00:35",
            "2025-01-02 00:00:05",
            "2025-01-02 00:00:20",
            "2025-01-02 00:00:35",
        ]
    );
    // `*/20`, `/20` and `0/20` are the same.
    for text in ["*/20 0 0 * * ?", "/20 0 0 * * ?", "0/20 0 0 * * ?"] {
        assert_eq!(
            utc_n(text, "2025-01-01 00:00:00", 2),
            ["2025-01-01 00:00:20", "2025-01-01 00:00:40"],
            "{text}"
        );
    }
    // Quartz: `7/6` in the month field is July only.
    assert_eq!(
        utc_n("0 0 0 1 7/6 ?", "2025-01-01 00:00:00", 2),
        ["2025-07-01 00:00:00", "2026-07-01 00:00:00"]
    );
    // Day 31 skips the months without one.
    assert_eq!(
        utc_n("0 0 0 31 * ?", "2025-01-31 00:00:00", 2),
        ["2025-03-31 00:00:00", "2025-05-31 00:00:00"]
    );
}

#[test]
fn every_second() {
    assert_eq!(
        utc_n("* * * * * ?", "2025-12-31 23:59:58", 3),
        [
            "2025-12-31 23:59:59",
            "2026-01-01 00:00:00",
            "2026-01-01 00:00:01"
        ]
    );
}

#[test]
fn next_after_is_strict_and_ignores_fractions() {
    let cron = expr("0 * * * * ?");
    let tz = TimeZone::UTC;
    let on: Timestamp = "2025-01-01T10:00:00Z".parse().unwrap();
    assert_eq!(
        cron.next_after(on, &tz),
        Some("2025-01-01T10:01:00Z".parse().unwrap())
    );
    let just_before: Timestamp = "2025-01-01T09:59:59.999Z".parse().unwrap();
    assert_eq!(cron.next_after(just_before, &tz), Some(on));
    // Before 1970 the first fire time is at the start of 1970.
    let old: Timestamp = "1960-06-01T00:00:00.5Z".parse().unwrap();
    assert_eq!(
        cron.next_after(old, &tz),
        Some("1970-01-01T00:00:00Z".parse().unwrap())
    );
    let just_before_1970: Timestamp = "1969-12-31T23:59:59.5Z".parse().unwrap();
    assert_eq!(
        cron.next_after(just_before_1970, &tz),
        Some("1970-01-01T00:00:00Z".parse().unwrap())
    );
    assert_eq!(cron.next_after(Timestamp::MAX, &tz), None);
    assert_eq!(
        cron.next_after(Timestamp::MIN, &tz),
        Some("1970-01-01T00:00:00Z".parse().unwrap())
    );
}

#[test]
fn fire_times_is_inclusive_at_both_ends() {
    let cron = expr("0 0 * * * ?");
    let tz = TimeZone::UTC;
    let begin: Timestamp = "2025-01-01T10:00:00Z".parse().unwrap();
    let end: Timestamp = "2025-01-01T13:00:00Z".parse().unwrap();
    let got: Vec<Timestamp> = cron.fire_times(begin, end, &tz).collect();
    let expected: Vec<Timestamp> = ["10", "11", "12", "13"]
        .iter()
        .map(|h| format!("2025-01-01T{h}:00:00Z").parse().unwrap())
        .collect();
    assert_eq!(got, expected);
    // Fractions of a second: 10:00:00.5 is after the 10:00 fire time.
    let begin: Timestamp = "2025-01-01T10:00:00.5Z".parse().unwrap();
    assert_eq!(cron.fire_times(begin, end, &tz).count(), 3);
    // An empty range, and one with begin after end.
    assert_eq!(cron.fire_times(end, begin, &tz).count(), 0);
    let mid: Timestamp = "2025-01-01T10:30:00Z".parse().unwrap();
    assert_eq!(cron.fire_times(mid, mid, &tz).count(), 0);
}

#[test]
fn text_round_trips() {
    let text = "0 15 10 ? * 6L 2025-2030";
    let cron: CronExpr = text.parse().unwrap();
    assert_eq!(cron.as_str(), text);
    assert_eq!(cron.to_string(), text);
    let json = serde_json::to_string(&cron).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    let back: CronExpr = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cron);
    let err = serde_json::from_str::<CronExpr>("\"0 0 12 * * *\"").unwrap_err();
    assert!(err.to_string().contains("both set"), "{err}");
}
