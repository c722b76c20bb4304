//! From matching wall-clock times to instants in a time zone, daylight saving included.
//!
//! The fire time of a matching wall-clock time `w` in a zone is:
//! - the instant it names, when it happens once;
//! - its first occurrence, when the clock goes back and it happens twice;
//! - the end of the gap (the instant the clock jumps forward), when it never happens.
//!
//! This map never decreases as `w` grows, so the first fire time after `t` is the fire time of
//! the first matching wall-clock time whose fire time is after `t`: find the earliest wall-clock
//! time whose fire time is after `t`, then search forward from it on the wall clock. When the
//! clock jumps forward right at the first whole second after `t`, that earliest wall-clock time
//! is the start of the gap, which lies before the wall-clock time of that second.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::schedule::{Schedule, Wall};

/// The first fire time of `schedule` strictly after `after`, in `tz`.
pub(super) fn next_after(
    schedule: &Schedule,
    after: Timestamp,
    tz: &TimeZone,
) -> Option<Timestamp> {
    // Fire times are whole seconds, so the first candidate is the next whole second. `as_second`
    // truncates toward zero: floor it for instants before 1970.
    let mut second = after.as_second();
    if after.subsec_nanosecond() < 0 {
        second -= 1;
    }
    let start = Timestamp::from_second(second.checked_add(1)?).ok()?;
    let (from, fires_at_start) = first_wall_at_or_after(start, tz)?;
    let found = schedule.next_wall(Wall::from_civil(from))?;
    if fires_at_start && found == Wall::from_civil(from) {
        // The common case of a frequent expression: no time zone lookup needed.
        return Some(start);
    }
    if fires_at_start {
        // When the clock jumps forward at `start`, the wall-clock times of the gap before it
        // fire at `start` too (and are earlier than `from`): a match among them fires there.
        // Checked only here, off the common path, as it costs a time zone lookup.
        if let Some(gap_start) = gap_ending_at(start, from, tz)
            && schedule.next_wall(Wall::from_civil(gap_start))? < Wall::from_civil(from)
        {
            return Some(start);
        }
    }
    fire_time(found.to_civil()?, tz)
}

/// The first wall-clock time of the gap that ends at `start` (whose wall-clock time is `wall`),
/// if the clock jumps forward at `start`; `None` otherwise.
fn gap_ending_at(start: Timestamp, wall: DateTime, tz: &TimeZone) -> Option<DateTime> {
    let before = tz.to_offset(start.checked_sub(SignedDuration::from_secs(1)).ok()?);
    // Read with the offset in force before `start`, `start` is the first skipped wall-clock time.
    let gap_start = before.to_datetime(start);
    (gap_start < wall).then_some(gap_start)
}

/// The earliest wall-clock time at or after the wall-clock time of `start` (a whole second)
/// whose fire time is at or after `start`, and whether its fire time is `start` itself. When
/// the clock jumps forward at `start`, the skipped wall-clock times before it also fire at
/// `start`: `next_after` looks at them itself (see [`gap_ending_at`]).
fn first_wall_at_or_after(start: Timestamp, tz: &TimeZone) -> Option<(DateTime, bool)> {
    let wall = tz.to_datetime(start);
    if let AmbiguousOffset::Fold { before, .. } = tz.to_ambiguous_timestamp(wall).offset() {
        let first_occurrence = before.to_timestamp(wall).ok()?;
        if first_occurrence < start {
            // `start` is in the second pass of a repeated hour: every wall-clock time from here
            // to the end of the repetition fired in the first pass. Skip to the first wall-clock
            // time after it, which is the transition seen with the offset before it.
            let transition = tz.following(first_occurrence).next()?.timestamp();
            return Some((before.to_datetime(transition), false));
        }
    }
    Some((wall, true))
}

/// The fire time of the wall-clock time `wall` in `tz` (see the module documentation).
pub(super) fn fire_time(wall: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
        // `before` is the offset of the first occurrence.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the offset after the gap, `wall` lands before the jump; the jump is the
            // next transition from there.
            let before_jump = after.to_timestamp(wall).ok()?;
            Some(tz.following(before_jump).next()?.timestamp())
        }
    }
}
