//! Why an expression was refused: every message names the field and the token at fault.

use std::fmt;

/// One of the seven fields of a Quartz cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Seconds, 0-59.
    Seconds,
    /// Minutes, 0-59.
    Minutes,
    /// Hours, 0-23.
    Hours,
    /// Day of the month, 1-31.
    DayOfMonth,
    /// Month, 1-12 or JAN-DEC.
    Month,
    /// Day of the week, 1-7 or SUN-SAT (1 = Sunday).
    DayOfWeek,
    /// Year, 1970-2199 (optional).
    Year,
}

impl Field {
    /// The field's name as messages spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Seconds => "seconds",
            Field::Minutes => "minutes",
            Field::Hours => "hours",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        }
    }

    /// The smallest value the field takes.
    pub(super) const fn min(self) -> u32 {
        match self {
            Field::Seconds | Field::Minutes | Field::Hours => 0,
            Field::DayOfMonth | Field::Month | Field::DayOfWeek => 1,
            Field::Year => 1970,
        }
    }

    /// The largest value the field takes.
    pub(super) const fn max(self) -> u32 {
        match self {
            Field::Seconds | Field::Minutes => 59,
            Field::Hours => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
            Field::Year => 2199,
        }
    }

    /// The largest increment (`/n`) the field accepts. These are Quartz' limits
    /// (`checkIncrementRange`); Quartz sets none for the year, where the span of the field is used.
    pub(super) const fn max_step(self) -> u32 {
        match self {
            Field::Seconds | Field::Minutes => 59,
            Field::Hours => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
            Field::Year => 229,
        }
    }

    /// The range of values as messages print it.
    pub(super) const fn range_text(self) -> &'static str {
        match self {
            Field::Seconds | Field::Minutes => "0-59",
            Field::Hours => "0-23",
            Field::DayOfMonth => "1-31",
            Field::Month => "1-12 (or JAN-DEC)",
            Field::DayOfWeek => "1-7 (1 = Sunday)",
            Field::Year => "1970-2199",
        }
    }

    /// What the field accepts, for the message about a token that could not be read.
    pub(super) const fn syntax_text(self) -> &'static str {
        match self {
            Field::Seconds | Field::Minutes => {
                "use numbers 0-59, `*`, ranges `a-b`, lists `a,b` and increments `a/n`"
            }
            Field::Hours => "use numbers 0-23, `*`, ranges `a-b`, lists `a,b` and increments `a/n`",
            Field::DayOfMonth => {
                "use numbers 1-31, `*`, `?`, ranges `a-b`, lists `a,b`, increments `a/n`, `L`, `L-n`, `nW`, `LW` or `L-nW`"
            }
            Field::Month => {
                "use numbers 1-12, names JAN-DEC, `*`, ranges `a-b`, lists `a,b` and increments `a/n`"
            }
            Field::DayOfWeek => {
                "use numbers 1-7 (1 = Sunday), names SUN-SAT, `*`, `?`, ranges `a-b`, lists `a,b`, increments `a/n`, `L`, `nL` or `n#k`"
            }
            Field::Year => {
                "use years 1970-2199, `*`, ranges `a-b`, lists `a,b` and increments `a/n`"
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with one field of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An empty value, as in `1,,2` or a trailing comma.
    Empty,
    /// The token could not be read; `help` says what the field accepts.
    Syntax {
        /// What the field accepts.
        help: &'static str,
    },
    /// A value outside the field's range.
    OutOfRange {
        /// The value as written.
        value: String,
        /// The field's range, as printed.
        range: &'static str,
    },
    /// An increment of zero, or larger than the field allows.
    BadStep {
        /// The increment as written.
        step: String,
        /// The largest increment the field accepts.
        max: u32,
    },
    /// A range of years whose start is after its end (years do not wrap around).
    ReversedRange,
    /// `?` outside the day fields, or not alone in its field.
    QuestionMark,
    /// `L`, `LW`, `L-n`, `W`, `nL` or `#` in a list with other values (Quartz refuses these).
    MustStandAlone {
        /// The special value that cannot share the field.
        item: String,
    },
    /// `W` after something that is not a single day of the month (a range, a step, nothing).
    NearestWeekdayNeedsDay,
    /// The number after `#` is not 1-5.
    BadNth {
        /// The number as written.
        nth: String,
    },
    /// The offset in `L-n` is larger than 30.
    BadLastOffset {
        /// The offset as written.
        offset: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty value (a doubled or trailing comma?)"),
            Problem::Syntax { help } => write!(f, "not understood: {help}"),
            Problem::OutOfRange { value, range } => {
                write!(f, "value {value} out of range {range}")
            }
            Problem::BadStep { step, max } => {
                write!(f, "increment {step} out of range 1-{max}")
            }
            Problem::ReversedRange => {
                f.write_str("the range starts after it ends (a year range cannot wrap around)")
            }
            Problem::QuestionMark => {
                f.write_str("`?` is only allowed as the whole day-of-month or day-of-week field")
            }
            Problem::MustStandAlone { item } => write!(
                f,
                "`{item}` must be the only value of the field (Quartz does not support it in a list)"
            ),
            Problem::NearestWeekdayNeedsDay => {
                f.write_str("`W` needs a single day 1-31 before it (not a range, list or step)")
            }
            Problem::BadNth { nth } => {
                write!(f, "`#{nth}`: the number after `#` must be 1-5")
            }
            Problem::BadLastOffset { offset } => {
                write!(f, "offset {offset} in `L-n` out of range 0-30")
            }
        }
    }
}

/// Why an expression was refused. The message names the bad part: the field and the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression is empty or only blanks.
    #[error("the cron expression is empty")]
    Empty,
    /// Not 6 or 7 fields.
    #[error(
        "a Quartz cron expression has 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), found {found}{}",
        field_count_hint(*.found)
    )]
    FieldCount {
        /// How many fields were found.
        found: usize,
    },
    /// One field is wrong.
    #[error("{field} field `{token}`: {problem}")]
    Field {
        /// The field at fault.
        field: Field,
        /// The token at fault: the value in the list, or the whole field when the list itself is the problem.
        token: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// Both day-of-month and day-of-week say which days (neither is `?`).
    #[error(
        "day-of-month `{day_of_month}` and day-of-week `{day_of_week}` are both set: one of them must be `?` (Quartz does not support both)"
    )]
    BothDayFields {
        /// The day-of-month field.
        day_of_month: String,
        /// The day-of-week field.
        day_of_week: String,
    },
    /// Both day-of-month and day-of-week are `?`.
    #[error(
        "day-of-month and day-of-week are both `?`: exactly one of them must be `?`, the other says on which days to fire"
    )]
    NoDayField,
    /// The expression is valid but matches no time between 1970 and 2199 (as `0 0 0 30 2 ?`).
    #[error("`{expr}` never fires: no time between 1970 and 2199 matches it")]
    NeverFires {
        /// The expression.
        expr: String,
    },
}

fn field_count_hint(found: usize) -> &'static str {
    if found == 5 {
        "; Quartz requires the seconds field first (write `0 ` before a 5-field Unix expression)"
    } else {
        ""
    }
}
