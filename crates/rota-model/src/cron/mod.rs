//! Quartz cron expressions, evaluated in a time zone with daylight saving.
//!
//! # Syntax (as `org.quartz.CronExpression`)
//!
//! `seconds minutes hours day-of-month month day-of-week [year]`, separated by blanks; case
//! does not matter.
//!
//! | field        | values                    | also                                     |
//! |--------------|---------------------------|------------------------------------------|
//! | seconds      | 0-59                      | `*` `,` `-` `/`                          |
//! | minutes      | 0-59                      | `*` `,` `-` `/`                          |
//! | hours        | 0-23                      | `*` `,` `-` `/`                          |
//! | day-of-month | 1-31                      | `*` `,` `-` `/` `?` `L` `L-n` `nW` `LW` `L-nW` |
//! | month        | 1-12, JAN-DEC             | `*` `,` `-` `/`                          |
//! | day-of-week  | 1-7 (1 = Sunday), SUN-SAT | `*` `,` `-` `/` `?` `L` `nL` `n#k`       |
//! | year         | 1970-2199 (optional)      | `*` `,` `-` `/`                          |
//!
//! `a/n` is every `n`th value from `a` to the end of the field, `*/n` (or `/n`) from its start,
//! `a-b/n` within the range; a range may wrap around (`22-2`, `NOV-FEB`, `FRI-MON`), except
//! for years. In day-of-month, `L` is the last day, `L-n` `n` days before it (n ≤ 30), `nW`
//! the weekday nearest to day `n` without leaving the month, `LW` / `L-nW` the weekday nearest
//! to `L` / `L-n`. In day-of-week, `L` alone is Saturday (7), `nL` the last weekday `n` of the
//! month, `n#k` the `k`th weekday `n` (k = 1-5).
//!
//! Refused, as Quartz refuses them: other than 6 or 7 fields; both day fields set or both `?`
//! (exactly one must be `?`); `?` outside the day fields; `L`, `LW`, `L-n`, `W`, `nL`, `n#k` in
//! a list; `W` after a range, a step or a day above 31; values out of range; increments of 0 or
//! above the field's limit (59, 59, 23, 31, 12, 7; 229 for years); empty values. Also refused:
//! an expression that matches no time between 1970 and 2199 (`0 0 0 30 2 ?`).
//!
//! # Time zones and daylight saving
//!
//! Fire times are wall-clock times in the given zone, converted to instants thus:
//! - A matching wall-clock time that does not exist (the clock jumps forward over it) fires
//!   once, at the end of the gap: `0 30 2 * * ?` in America/New_York fires on 2025-03-09 at
//!   03:00 EDT. Several matching times in one gap give that one fire time.
//! - A matching wall-clock time that happens twice (the clock goes back) fires once, at its
//!   first occurrence: `0 30 1 * * ?` in America/New_York fires on 2025-11-02 at 01:30 EDT
//!   only. So an every-minute expression fires every minute of the first pass through the
//!   repeated hour and not at all during the second pass (its wall-clock times have all fired
//!   already); it resumes when the clock passes the end of the repeated hour. (Quartz leaves
//!   this to `java.util.Calendar`'s reading of ambiguous times; rota fixes it as above.)
//!
//! These rules make the set of fire times a plain set of instants, so `next_after` and
//! `fire_times` agree, and every fire time is strictly after the previous one.
//!
//! # Why croner is not used for the evaluation
//!
//! The design names croner (Quartz mode) with a front-end for what it lacks. Its parser and
//! search turned out too limited for the front-end to stay thin:
//! - its search takes no custom day matcher, so adding `L-n`, `L-nW` and a working bare `L` in
//!   day-of-week (croner refuses the first two and never fires the last) means owning the search;
//! - in the repeated hour its search fires an interval expression (`0 * * * * ?`) twice for the
//!   same wall-clock time, against the rule above;
//! - it ORs the day fields, accepts what Quartz refuses (`L`, `W` and `nL` in lists),
//!   replaces names anywhere in the text, and its messages do not name the field, so the
//!   front-end has to read and check every token anyway; once it has, building the bit sets is
//!   immediate.
//!
//! So this module parses and evaluates itself (the search works on bit sets, without
//! allocating), and the tests check it against croner, as an independent oracle, for the
//! features croner does implement.

mod calendar;
mod error;
mod parse;
mod schedule;
mod zone;

#[cfg(test)]
mod tests;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use error::{CronError, Field, Problem};
use schedule::Schedule;

/// A parsed, validated Quartz cron expression. It keeps its source text, which is what it
/// prints, serializes as and compares by.
#[derive(Debug, Clone)]
pub struct CronExpr {
    source: String,
    schedule: Schedule,
}

impl CronExpr {
    /// Parses and validates a Quartz expression, refusing one that never fires.
    pub fn parse(expr: &str) -> Result<CronExpr, CronError> {
        Ok(CronExpr {
            schedule: parse::parse(expr)?,
            source: expr.to_string(),
        })
    }

    /// The source text, as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after`, evaluated in `tz`; `None` if there is none
    /// (past the year field, or after 2199).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        zone::next_after(&self.schedule, after, tz)
    }

    /// Every fire time `t` with `begin <= t <= end`, ascending, evaluated in `tz` (lazy).
    pub fn fire_times(
        &self,
        begin: Timestamp,
        end: Timestamp,
        tz: &TimeZone,
    ) -> impl Iterator<Item = Timestamp> + use<'_> {
        // Searching after the instant just before `begin` includes `begin` itself.
        let after = begin
            .checked_sub(SignedDuration::from_nanos(1))
            .unwrap_or(begin);
        FireTimes {
            schedule: &self.schedule,
            tz: tz.clone(),
            after: Some(after),
            end,
        }
    }
}

/// The iterator behind [`CronExpr::fire_times`].
struct FireTimes<'a> {
    schedule: &'a Schedule,
    tz: TimeZone,
    /// The last fire time returned (or the start); `None` once past `end`.
    after: Option<Timestamp>,
    end: Timestamp,
}

impl Iterator for FireTimes<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        let after = self.after?;
        self.after = zone::next_after(self.schedule, after, &self.tz).filter(|t| *t <= self.end);
        self.after
    }
}

impl std::iter::FusedIterator for FireTimes<'_> {}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronExpr::parse(s)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for CronExpr {}

impl Hash for CronExpr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl serde::Serialize for CronExpr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for CronExpr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CronExpr::parse(&text).map_err(serde::de::Error::custom)
    }
}
