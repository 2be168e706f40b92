//! A calendar date (proleptic Gregorian, no time zone): enough to say whether a waiver has
//! expired, without a date-time dependency.
//!
//! Owns: parsing `YYYY-MM-DD` strictly and converting days since the Unix epoch. Must not
//! touch: the clock (callers pass today's date in).

use std::fmt;
use std::str::FromStr;

use crate::error::{CalibrationError, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// 1970-01-01, the Unix epoch.
    pub const EPOCH: Date = Date {
        year: 1970,
        month: 1,
        day: 1,
    };

    /// `None` unless `year` is 1..=9999 and the day exists in that month.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// The UTC date of a Unix timestamp in seconds; `None` outside years 1..=9999.
    pub fn from_unix_seconds(seconds: i64) -> Option<Date> {
        let days = seconds.div_euclid(86_400);
        // Howard Hinnant's `civil_from_days`: eras of 400 years (146,097 days) starting on
        // 0000-03-01, so the leap day falls at the end of each shifted year.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FromStr for Date {
    type Err = CalibrationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| CalibrationError::new(Kind::Date, format!("{s:?}: {why}"));
        let bytes = s.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return Err(bad("expected YYYY-MM-DD"));
        }
        // The shape check above guarantees ASCII digits at these positions.
        let number = |range: std::ops::Range<usize>| {
            s[range]
                .bytes()
                .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'))
        };
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        Date::new(year, month as u8, day as u8).ok_or_else(|| bad("no such calendar date"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}
