//! The compiled form of an expression and the search for the next matching wall-clock time.
//!
//! The search knows nothing of time zones: it walks civil (wall-clock) dates and times, one
//! field at a time, using bit sets, so it neither allocates nor steps second by second.
//! `zone.rs` maps the wall-clock times it finds to instants.

use super::calendar::{days_in_month, weekday};

/// The first year a fire time can fall in.
pub(super) const MIN_YEAR: i32 = 1970;
/// The last year a fire time can fall in.
pub(super) const MAX_YEAR: i32 = 2199;

/// A set of small integers (0-255), used for every field while parsing and for the years after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(super) struct Bits([u64; 4]);

impl Bits {
    pub(super) fn insert(&mut self, i: u32) {
        self.0[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// The smallest member `>= from`.
    pub(super) fn next_from(&self, from: u32) -> Option<u32> {
        let mut word = (from / 64) as usize;
        if word >= 4 {
            return None;
        }
        let mut bits = self.0[word] & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                return Some(word as u32 * 64 + bits.trailing_zeros());
            }
            word += 1;
            if word == 4 {
                return None;
            }
            bits = self.0[word];
        }
    }

    /// The members below 64, as one word.
    pub(super) fn low(&self) -> u64 {
        self.0[0]
    }
}

/// The smallest member `>= from` of a set of values below 64.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let bits = set & (u64::MAX << from);
    (bits != 0).then(|| bits.trailing_zeros())
}

/// A civil date and time to the second. The field order makes the derived order chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Wall {
    pub(super) year: i32,
    pub(super) month: u8,
    pub(super) day: u8,
    pub(super) hour: u8,
    pub(super) minute: u8,
    pub(super) second: u8,
}

impl Wall {
    /// The first second of the search range, 1970-01-01 00:00:00.
    pub(super) const START: Wall = Wall {
        year: MIN_YEAR,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };

    pub(super) fn from_civil(dt: jiff::civil::DateTime) -> Wall {
        // jiff keeps every part in range, so the casts are exact.
        Wall {
            year: i32::from(dt.year()),
            month: dt.month() as u8,
            day: dt.day() as u8,
            hour: dt.hour() as u8,
            minute: dt.minute() as u8,
            second: dt.second() as u8,
        }
    }

    pub(super) fn to_civil(self) -> Option<jiff::civil::DateTime> {
        jiff::civil::DateTime::new(
            i16::try_from(self.year).ok()?,
            self.month as i8,
            self.day as i8,
            self.hour as i8,
            self.minute as i8,
            self.second as i8,
            0,
        )
        .ok()
    }
}

/// How the days are chosen: exactly one of the two day fields is used, the other is `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum DaySpec {
    /// Days of the month (bits 1-31) from numbers, ranges, increments, lists and `*`; days a
    /// month does not have never fire (Quartz: `31` skips 30-day months).
    MonthDays(u32),
    /// `L` / `L-n`: the last day of the month minus `offset`; with `nearest_weekday`
    /// (`LW` / `L-nW`) the weekday nearest to that day. No fire in a month too short for the offset.
    LastDay { offset: u8, nearest_weekday: bool },
    /// `nW`: the weekday (Monday-Friday) nearest to day `n`, without leaving the month; no fire
    /// in a month that has no day `n`.
    NearestWeekday(u8),
    /// Days of the week (bits 1-7, 1 = Sunday) from numbers, names, ranges, increments, lists,
    /// `*` and a bare `L` (= 7, Saturday).
    WeekDays(u8),
    /// `d#n`: the `nth` weekday `d` of the month; no fire in a month without one.
    NthWeekday { weekday: u8, nth: u8 },
    /// `dL`: the last weekday `d` of the month.
    LastWeekday(u8),
}

impl DaySpec {
    /// The days of `month` of `year` that match, as bits 1-31.
    pub(super) fn days(&self, year: i32, month: u8) -> u32 {
        let len = days_in_month(year, month);
        let in_month = (u32::MAX >> (32 - len as u32)) << 1;
        let first_weekday = weekday(year, month, 1);
        // The first day of the month that is weekday `d` (1 = Sunday).
        let first_of = |d: u8| 1 + (d + 7 - first_weekday) % 7;
        match *self {
            DaySpec::MonthDays(days) => days & in_month,
            DaySpec::LastDay {
                offset,
                nearest_weekday,
            } => match len.checked_sub(offset) {
                Some(day) if day >= 1 && nearest_weekday => {
                    1 << nearest_weekday_to(day, len, first_weekday)
                }
                Some(day) if day >= 1 => 1 << day,
                _ => 0,
            },
            DaySpec::NearestWeekday(day) if day <= len => {
                1 << nearest_weekday_to(day, len, first_weekday)
            }
            DaySpec::NearestWeekday(_) => 0,
            DaySpec::WeekDays(weekdays) => {
                let mut days = 0;
                for d in 1..=7 {
                    if weekdays & (1 << d) != 0 {
                        let mut day = first_of(d);
                        while day <= len {
                            days |= 1 << day;
                            day += 7;
                        }
                    }
                }
                days
            }
            DaySpec::NthWeekday { weekday, nth } => {
                let day = first_of(weekday) + 7 * (nth - 1);
                if day <= len { 1 << day } else { 0 }
            }
            DaySpec::LastWeekday(weekday) => {
                let first = first_of(weekday);
                1 << (first + (len - first) / 7 * 7)
            }
        }
    }
}

/// The weekday nearest to `day` in a month of `len` days whose first day is `first_weekday`
/// (1 = Sunday), by Quartz' rule for `W`: a Saturday moves back to Friday and a Sunday forward
/// to Monday, except that the move never leaves the month (Saturday the 1st goes to Monday the
/// 3rd, Sunday the last to Friday).
fn nearest_weekday_to(day: u8, len: u8, first_weekday: u8) -> u8 {
    match (first_weekday - 1 + day - 1) % 7 + 1 {
        7 if day == 1 => 3,
        7 => day - 1,
        1 if day == len => day - 2,
        1 => day + 1,
        _ => day,
    }
}

/// A parsed expression: the set of wall-clock times it matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Schedule {
    /// Bits 0-59.
    pub(super) seconds: u64,
    /// Bits 0-59.
    pub(super) minutes: u64,
    /// Bits 0-23.
    pub(super) hours: u64,
    /// Bits 1-12.
    pub(super) months: u64,
    /// Bit `year - 1970`, years 1970-2199.
    pub(super) years: Bits,
    pub(super) days: DaySpec,
}

impl Schedule {
    /// The first matching wall-clock time at or after `from`, up to the end of 2199.
    pub(super) fn next_wall(&self, from: Wall) -> Option<Wall> {
        let from = from.max(Wall::START);
        if from.year > MAX_YEAR {
            return None;
        }
        let first_second = next_bit(self.seconds, 0)? as u8;
        let first_minute = next_bit(self.minutes, 0)? as u8;
        let first_hour = next_bit(self.hours, 0)? as u8;

        let mut year = self.next_year(from.year)?;
        loop {
            let same_year = year == from.year;
            let mut month = next_bit(self.months, if same_year { from.month.into() } else { 1 });
            while let Some(m) = month {
                let m = m as u8;
                let same_month = same_year && m == from.month;
                let days = u64::from(self.days.days(year, m));
                let mut day = next_bit(days, if same_month { from.day.into() } else { 1 });
                while let Some(d) = day {
                    let d = d as u8;
                    let time = if same_month && d == from.day {
                        self.next_time(from.hour, from.minute, from.second)
                    } else {
                        Some((first_hour, first_minute, first_second))
                    };
                    if let Some((hour, minute, second)) = time {
                        return Some(Wall {
                            year,
                            month: m,
                            day: d,
                            hour,
                            minute,
                            second,
                        });
                    }
                    day = next_bit(days, u32::from(d) + 1);
                }
                month = next_bit(self.months, u32::from(m) + 1);
            }
            year = self.next_year(year + 1)?;
        }
    }

    /// The first matching year `>= year`.
    fn next_year(&self, year: i32) -> Option<i32> {
        if year > MAX_YEAR {
            return None;
        }
        let index = (year - MIN_YEAR) as u32;
        self.years.next_from(index).map(|i| MIN_YEAR + i as i32)
    }

    /// The first matching time of day at or after `hour:minute:second`, on the same day: in the
    /// rest of this minute, else in the rest of this hour, else in a later hour.
    fn next_time(&self, hour: u8, minute: u8, second: u8) -> Option<(u8, u8, u8)> {
        let (hour, minute, second) = (u32::from(hour), u32::from(minute), u32::from(second));
        let in_hour = self.hours & (1 << hour) != 0;
        let in_minute = in_hour && self.minutes & (1 << minute) != 0;
        let this_minute = if in_minute {
            next_bit(self.seconds, second)
        } else {
            None
        };
        if let Some(s) = this_minute {
            return Some((hour as u8, minute as u8, s as u8));
        }
        let first_second = next_bit(self.seconds, 0)? as u8;
        let this_hour = if in_hour {
            next_bit(self.minutes, minute + 1)
        } else {
            None
        };
        if let Some(m) = this_hour {
            return Some((hour as u8, m as u8, first_second));
        }
        let h = next_bit(self.hours, hour + 1)?;
        let first_minute = next_bit(self.minutes, 0)? as u8;
        Some((h as u8, first_minute, first_second))
    }
}
