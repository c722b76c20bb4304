//! Gregorian calendar arithmetic for the search: month lengths and weekdays.

/// Whether `year` is a leap year.
pub(super) const fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1-12) of `year`.
pub(super) const fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (Howard Hinnant's `days_from_civil`).
const fn days_from_epoch(year: i32, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year } as i64;
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month as i64 + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The weekday of a date in Quartz numbering: 1 = Sunday ... 7 = Saturday.
pub(super) const fn weekday(year: i32, month: u8, day: u8) -> u8 {
    // 1970-01-01 was a Thursday, which is 4 days after a Sunday.
    (days_from_epoch(year, month, day) + 4).rem_euclid(7) as u8 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_agree_with_jiff() {
        let mut date = jiff::civil::date(1969, 1, 1);
        while date.year() < 2201 {
            let quartz = date.weekday().to_sunday_one_offset() as u8;
            assert_eq!(
                weekday(i32::from(date.year()), date.month() as u8, date.day() as u8),
                quartz,
                "{date}"
            );
            assert_eq!(
                days_in_month(i32::from(date.year()), date.month() as u8),
                date.days_in_month() as u8
            );
            date = date.tomorrow().unwrap();
        }
    }
}
