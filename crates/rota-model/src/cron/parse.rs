//! Reading and validating the text of an expression, the way `org.quartz.CronExpression` does.

use super::error::{CronError, Field, Problem};
use super::schedule::{Bits, DaySpec, Schedule, Wall};

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses and validates an expression, refusing one that never fires.
pub(super) fn parse(expr: &str) -> Result<Schedule, CronError> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.is_empty() {
        return Err(CronError::Empty);
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(CronError::FieldCount {
            found: fields.len(),
        });
    }
    let seconds = values(Field::Seconds, fields[0])?.low();
    let minutes = values(Field::Minutes, fields[1])?.low();
    let hours = values(Field::Hours, fields[2])?.low();
    let day_of_month = day_of_month(fields[3])?;
    let months = values(Field::Month, fields[4])?.low();
    let day_of_week = day_of_week(fields[5])?;
    let years = match fields.get(6) {
        Some(text) => values(Field::Year, text)?,
        None => values(Field::Year, "*")?,
    };
    let days = match (day_of_month, day_of_week) {
        (Some(days), None) | (None, Some(days)) => days,
        (Some(_), Some(_)) => {
            return Err(CronError::BothDayFields {
                day_of_month: fields[3].to_string(),
                day_of_week: fields[5].to_string(),
            });
        }
        (None, None) => return Err(CronError::NoDayField),
    };
    let schedule = Schedule {
        seconds,
        minutes,
        hours,
        months,
        years,
        days,
    };
    if schedule.next_wall(Wall::START).is_none() {
        return Err(CronError::NeverFires {
            expr: expr.trim().to_string(),
        });
    }
    Ok(schedule)
}

fn field_error(field: Field, token: &str, problem: Problem) -> CronError {
    CronError::Field {
        field,
        token: token.to_string(),
        problem,
    }
}

/// Reads a plain field: numbers (and names), `*`, ranges, lists and increments. Value `v` is
/// stored as bit `v - field.min()` for the year and as bit `v` otherwise.
fn values(field: Field, text: &str) -> Result<Bits, CronError> {
    let base = if field == Field::Year { field.min() } else { 0 };
    let mut bits = Bits::default();
    for item in text.split(',') {
        value_item(field, item, &mut |v| bits.insert(v - base)).map_err(|problem| {
            // An empty value is best shown in its list.
            let token = if item.is_empty() { text } else { item };
            field_error(field, token, problem)
        })?;
    }
    Ok(bits)
}

/// Reads one item of a list: `*`, `a`, `a-b`, `*/n`, `/n`, `a/n` or `a-b/n`, calling `insert`
/// for every value it selects.
fn value_item(field: Field, item: &str, insert: &mut dyn FnMut(u32)) -> Result<(), Problem> {
    if item.is_empty() {
        return Err(Problem::Empty);
    }
    if item.contains('?') {
        return Err(Problem::QuestionMark);
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(parse_step(field, step)?)),
        None => (item, None),
    };
    let (start, end) = if range == "*" || (range.is_empty() && step.is_some()) {
        // `*/n` and Quartz' `/n` start at the field's first value.
        (field.min(), field.max())
    } else if let Some((start, end)) = range.split_once('-') {
        (value(field, start)?, value(field, end)?)
    } else {
        let start = value(field, range)?;
        // `a/n` runs from `a` to the end of the field.
        (start, if step.is_some() { field.max() } else { start })
    };
    let step = step.unwrap_or(1);
    if start <= end {
        let mut v = start;
        while v <= end {
            insert(v);
            v += step;
        }
    } else if field == Field::Year {
        return Err(Problem::ReversedRange);
    } else {
        // Quartz' overflowing range (`22-2` = 22, 23, 0, 1, 2; `NOV-FEB`): count on past the
        // end of the field and wrap around.
        let size = field.max() - field.min() + 1;
        let mut i = start;
        while i <= end + size {
            insert(if i > field.max() { i - size } else { i });
            i += step;
        }
    }
    Ok(())
}

/// Reads the increment after `/`: 1 up to the field's limit.
fn parse_step(field: Field, text: &str) -> Result<u32, Problem> {
    let bad = || Problem::BadStep {
        step: text.to_string(),
        max: field.max_step(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u32>() {
        Ok(step) if (1..=field.max_step()).contains(&step) => Ok(step),
        _ => Err(bad()),
    }
}

/// Reads one value: digits, or a name in the month and day-of-week fields; checks its range.
fn value(field: Field, text: &str) -> Result<u32, Problem> {
    let out_of_range = || Problem::OutOfRange {
        value: text.to_string(),
        range: field.range_text(),
    };
    let v = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().map_err(|_| out_of_range())?
    } else {
        let names: &[&str] = match field {
            Field::Month => &MONTH_NAMES,
            Field::DayOfWeek => &WEEKDAY_NAMES,
            _ => &[],
        };
        let index = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text));
        match index {
            Some(i) => i as u32 + 1,
            None => {
                return Err(Problem::Syntax {
                    help: field.syntax_text(),
                });
            }
        }
    };
    if (field.min()..=field.max()).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range())
    }
}

/// A special value (`L`, `W`, `#`) may not share its field with other values.
fn alone<'a>(field: Field, text: &str, item: &'a str) -> Result<&'a str, CronError> {
    if text.contains(',') {
        return Err(field_error(
            field,
            text,
            Problem::MustStandAlone {
                item: item.to_string(),
            },
        ));
    }
    Ok(item)
}

/// Reads the day-of-month field; `None` for `?`.
fn day_of_month(text: &str) -> Result<Option<DaySpec>, CronError> {
    let field = Field::DayOfMonth;
    if is_no_spec(field, text)? {
        return Ok(None);
    }
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        let err = |problem| field_error(field, item, problem);
        if let Some(rest) = upper.strip_prefix('L') {
            alone(field, text, item)?;
            // `L`, `LW`, `L-n`, `L-nW`.
            let (rest, nearest_weekday) = match rest.strip_suffix('W') {
                Some(rest) => (rest, true),
                None => (rest, false),
            };
            let offset = match rest.strip_prefix('-') {
                None if rest.is_empty() => 0,
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    match n.parse::<u8>() {
                        Ok(n) if n <= 30 => n,
                        _ => {
                            return Err(err(Problem::BadLastOffset {
                                offset: n.to_string(),
                            }));
                        }
                    }
                }
                _ => {
                    return Err(err(Problem::Syntax {
                        help: field.syntax_text(),
                    }));
                }
            };
            return Ok(Some(DaySpec::LastDay {
                offset,
                nearest_weekday,
            }));
        }
        if let Some(day) = upper.strip_suffix('W') {
            alone(field, text, item)?;
            if day.is_empty() || !day.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(Problem::NearestWeekdayNeedsDay));
            }
            let day = value(field, day).map_err(err)?;
            return Ok(Some(DaySpec::NearestWeekday(day as u8)));
        }
    }
    let days = values(field, text)?.low() as u32;
    Ok(Some(DaySpec::MonthDays(days)))
}

/// Reads the day-of-week field; `None` for `?`.
fn day_of_week(text: &str) -> Result<Option<DaySpec>, CronError> {
    let field = Field::DayOfWeek;
    if is_no_spec(field, text)? {
        return Ok(None);
    }
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        let err = |problem| field_error(field, item, problem);
        if upper == "L" {
            // A bare `L` is Saturday, every Saturday (Quartz).
            alone(field, text, item)?;
            return Ok(Some(DaySpec::WeekDays(1 << 7)));
        }
        if let Some(day) = upper.strip_suffix('L') {
            alone(field, text, item)?;
            let day = value(field, day).map_err(err)?;
            return Ok(Some(DaySpec::LastWeekday(day as u8)));
        }
        if let Some((day, nth)) = upper.split_once('#') {
            alone(field, text, item)?;
            let day = value(field, day).map_err(err)?;
            let nth = match nth.parse::<u8>() {
                Ok(n) if (1..=5).contains(&n) && nth.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(err(Problem::BadNth {
                        nth: nth.to_string(),
                    }));
                }
            };
            return Ok(Some(DaySpec::NthWeekday {
                weekday: day as u8,
                nth,
            }));
        }
    }
    let days = values(field, text)?.low() as u8;
    Ok(Some(DaySpec::WeekDays(days)))
}

/// Whether a day field is `?` ("no specific value"); `?` in a list is an error.
fn is_no_spec(field: Field, text: &str) -> Result<bool, CronError> {
    if text == "?" {
        return Ok(true);
    }
    if text.contains('?') {
        return Err(field_error(field, text, Problem::QuestionMark));
    }
    Ok(false)
}
