//! Expressions Quartz refuses, and the messages that say why.

use super::super::{CronError, Field, Problem};
use super::*;

fn refused(text: &str) -> CronError {
    match CronExpr::parse(text) {
        Ok(_) => panic!("`{text}` was accepted"),
        Err(e) => e,
    }
}

fn message(text: &str) -> String {
    refused(text).to_string()
}

#[test]
fn both_day_fields_set() {
    assert_eq!(
        message("0 0 12 * * *"),
        "day-of-month `*` and day-of-week `*` are both set: one of them must be `?` (Quartz does not support both)"
    );
    assert_eq!(
        refused("0 0 12 15 * MON"),
        CronError::BothDayFields {
            day_of_month: "15".into(),
            day_of_week: "MON".into()
        }
    );
    assert!(matches!(
        refused("0 0 12 L * 6#3"),
        CronError::BothDayFields { .. }
    ));
}

#[test]
fn neither_day_field_set() {
    assert_eq!(
        message("0 0 12 ? * ?"),
        "day-of-month and day-of-week are both `?`: exactly one of them must be `?`, the other says on which days to fire"
    );
}

#[test]
fn l_with_other_days() {
    assert_eq!(
        message("0 0 12 L,15 * ?"),
        "day-of-month field `L,15`: `L` must be the only value of the field (Quartz does not support it in a list)"
    );
    for text in [
        "0 0 12 1,LW * ?",
        "0 0 12 L-2,5 * ?",
        "0 0 12 15W,20 * ?",
        "0 0 12 ? * 6L,2",
        "0 0 12 ? * L,2",
        "0 0 12 ? * 6#3,2#1",
        "0 0 12 ? * 2,6#3",
    ] {
        assert!(
            matches!(
                refused(text),
                CronError::Field {
                    problem: Problem::MustStandAlone { .. },
                    ..
                }
            ),
            "{text}"
        );
    }
}

#[test]
fn nearest_weekday_needs_one_day_up_to_31() {
    assert_eq!(
        message("0 0 12 32W * ?"),
        "day-of-month field `32W`: value 32 out of range 1-31"
    );
    assert_eq!(
        message("0 0 12 1-15W * ?"),
        "day-of-month field `1-15W`: `W` needs a single day 1-31 before it (not a range, list or step)"
    );
    for text in ["0 0 12 */5W * ?", "0 0 12 W * ?", "0 0 12 0W * ?"] {
        assert!(
            matches!(
                refused(text),
                CronError::Field {
                    field: Field::DayOfMonth,
                    ..
                }
            ),
            "{text}"
        );
    }
    // `W` belongs to day-of-month only.
    assert!(matches!(
        refused("0 0 12 ? * 2W"),
        CronError::Field {
            field: Field::DayOfWeek,
            problem: Problem::Syntax { .. },
            ..
        }
    ));
}

#[test]
fn bad_increments() {
    assert_eq!(
        message("*/60 * * * * ?"),
        "seconds field `*/60`: increment 60 out of range 1-59"
    );
    assert_eq!(
        message("0 0/0 * * * ?"),
        "minutes field `0/0`: increment 0 out of range 1-59"
    );
    for (text, field) in [
        ("0 0 */24 * * ?", Field::Hours),
        ("0 0 0 */32 * ?", Field::DayOfMonth),
        ("0 0 0 1 1/13 ?", Field::Month),
        ("0 0 0 ? * 1/8", Field::DayOfWeek),
        ("0 0 0 1 1 ? 1970/230", Field::Year),
        ("0 0 0 1-10/ * ?", Field::DayOfMonth),
        ("0 0 0 1 1/x ?", Field::Month),
        ("0 0 0 1 1/+2 ?", Field::Month),
    ] {
        match refused(text) {
            CronError::Field {
                field: f,
                problem: Problem::BadStep { .. },
                ..
            } if f == field => {}
            other => panic!("`{text}`: {other:?}"),
        }
    }
    // The largest increments Quartz accepts.
    for text in [
        "0/59 0/59 0/23 1/31 1/12 ?",
        "0 0 0 ? * 1/7",
        "0 0 0 1 1 ? 1970/229",
    ] {
        CronExpr::parse(text).unwrap();
    }
}

#[test]
fn values_out_of_range() {
    assert_eq!(
        message("0 0 12 ? * 8"),
        "day-of-week field `8`: value 8 out of range 1-7 (1 = Sunday)"
    );
    assert_eq!(
        message("0 60 12 * * ?"),
        "minutes field `60`: value 60 out of range 0-59"
    );
    assert_eq!(
        message("0 0 12 * 1-13 ?"),
        "month field `1-13`: value 13 out of range 1-12 (or JAN-DEC)"
    );
    for (text, field) in [
        ("60 0 0 * * ?", Field::Seconds),
        ("0 0 24 * * ?", Field::Hours),
        ("0 0 0 0 * ?", Field::DayOfMonth),
        ("0 0 0 32 * ?", Field::DayOfMonth),
        ("0 0 0 * 0 ?", Field::Month),
        ("0 0 0 ? * 0", Field::DayOfWeek),
        ("0 0 0 ? * 8L", Field::DayOfWeek),
        ("0 0 0 ? * 0#2", Field::DayOfWeek),
        ("0 0 0 * * ? 1969", Field::Year),
        ("0 0 0 * * ? 2200", Field::Year),
        ("0 0 99999999999999999999 * * ?", Field::Hours),
    ] {
        match refused(text) {
            CronError::Field {
                field: f,
                problem: Problem::OutOfRange { .. },
                ..
            } if f == field => {}
            other => panic!("`{text}`: {other:?}"),
        }
    }
}

#[test]
fn field_count() {
    assert_eq!(
        message("0 12 * * ?"),
        "a Quartz cron expression has 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), found 5; Quartz requires the seconds field first (write `0 ` before a 5-field Unix expression)"
    );
    assert_eq!(
        refused("0 0 0 * * ? 2025 x"),
        CronError::FieldCount { found: 8 }
    );
    assert_eq!(refused(""), CronError::Empty);
    assert_eq!(refused(" \t "), CronError::Empty);
    assert_eq!(message(""), "the cron expression is empty");
}

#[test]
fn garbage() {
    assert_eq!(refused("hello"), CronError::FieldCount { found: 1 });
    assert_eq!(
        message("a b c d e f"),
        "seconds field `a`: not understood: use numbers 0-59, `*`, ranges `a-b`, lists `a,b` and increments `a/n`"
    );
    for (text, field) in [
        ("0 0 12 ? * MONDAY", Field::DayOfWeek),
        ("0 0 12 ? JANUARY *", Field::Month),
        ("0 0 12 * MON ?", Field::Month),
        ("0 0 12 ? * JAN", Field::DayOfWeek),
        ("0 0 -1 * * ?", Field::Hours),
        ("0 0 1-2-3 * * ?", Field::Hours),
        ("0 0 +1 * * ?", Field::Hours),
        ("0 0 1.5 * * ?", Field::Hours),
        ("0 0 12 5L * ?", Field::DayOfMonth),
        ("0 0 12 L- * ?", Field::DayOfMonth),
        ("0 0 12 LX * ?", Field::DayOfMonth),
        ("0 0 12 ? * L-2", Field::DayOfWeek),
        ("0 0 12 ? * #3", Field::DayOfWeek),
        ("0 0 12 ? * **", Field::DayOfWeek),
        ("L 0 12 * * ?", Field::Seconds),
        ("0 0 12 * * ? L", Field::Year),
    ] {
        match refused(text) {
            CronError::Field {
                field: f,
                problem: Problem::Syntax { .. },
                ..
            } if f == field => {}
            other => panic!("`{text}`: {other:?}"),
        }
    }
}

#[test]
fn other_refusals() {
    assert_eq!(
        message("0 0,,5 12 * * ?"),
        "minutes field `0,,5`: empty value (a doubled or trailing comma?)"
    );
    assert_eq!(
        message("? 0 12 * * ?"),
        "seconds field `?`: `?` is only allowed as the whole day-of-month or day-of-week field"
    );
    assert_eq!(
        message("0 0 12 ?,5 * ?"),
        "day-of-month field `?,5`: `?` is only allowed as the whole day-of-month or day-of-week field"
    );
    assert_eq!(
        message("0 0 12 * * ? 2030-2025"),
        "year field `2030-2025`: the range starts after it ends (a year range cannot wrap around)"
    );
    assert_eq!(
        message("0 0 12 ? * 6#6"),
        "day-of-week field `6#6`: `#6`: the number after `#` must be 1-5"
    );
    assert_eq!(
        message("0 0 12 L-31 * ?"),
        "day-of-month field `L-31`: offset 31 in `L-n` out of range 0-30"
    );
    assert!(matches!(
        refused("0 0 12 ? * 6#0"),
        CronError::Field {
            problem: Problem::BadNth { .. },
            ..
        }
    ));
    assert!(matches!(
        refused("0 0 12 * * ? ?"),
        CronError::Field {
            field: Field::Year,
            problem: Problem::QuestionMark,
            ..
        }
    ));
}

#[test]
fn never_fires() {
    assert_eq!(
        message("0 0 0 30 2 ?"),
        "`0 0 0 30 2 ?` never fires: no time between 1970 and 2199 matches it"
    );
    for text in [
        "0 0 0 31 4 ?",
        "0 0 0 31 2,4,6,9,11 ?",
        "0 0 0 L-29 2 ?",
        "0 0 0 31W 6 ?",
        // February 29th in years that are not leap years.
        "0 0 0 29 2 ? 2100-2103",
        // A fifth Friday in February needs a leap year whose February starts on a Friday.
        "0 0 0 ? 2 6#5 2025-2027",
    ] {
        assert!(
            matches!(refused(text), CronError::NeverFires { .. }),
            "{text}"
        );
    }
    // But these do fire, if rarely.
    for text in [
        "0 0 0 29 2 ?",
        "0 0 0 ? 2 6#5",
        "0 0 0 L-28 2 ?",
        "59 59 23 31 12 ? 2199",
    ] {
        CronExpr::parse(text).unwrap();
    }
}
