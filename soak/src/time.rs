//! Calendar arithmetic on unix milliseconds, in UTC.
//!
//! Owns: what a "full calendar day" is, and rendering instants and spans for messages.
//! Must not touch: the clock. Every instant is passed in; nothing here reads the time.
//!
//! A **full calendar day** is a UTC day (00:00Z to 24:00Z) that lies entirely inside
//! `[start, now]`. A soak started at 10:00Z on the 20th has its first full day on the 21st; at
//! 00:00Z on the 28th it has 7 (the 21st to the 27th).

pub(crate) const DAY_MS: u64 = 86_400_000;

/// Full UTC calendar days inside `[start_ms, now_ms]`.
pub(crate) fn full_days(start_ms: u64, now_ms: u64) -> u64 {
    let first = start_ms.div_ceil(DAY_MS);
    let end = now_ms / DAY_MS;
    end.saturating_sub(first)
}

/// The instant from which `days` full calendar days are inside `[start_ms, now]`.
pub(crate) fn days_complete_at(start_ms: u64, days: u64) -> u64 {
    start_ms
        .div_ceil(DAY_MS)
        .saturating_add(days)
        .saturating_mul(DAY_MS)
}

/// The 1-based day of the soak that `at_ms` falls in, counted in 24 h from the start.
pub(crate) fn soak_day(start_ms: u64, at_ms: u64) -> u64 {
    at_ms.saturating_sub(start_ms) / DAY_MS + 1
}

/// `2026-11-30T04:00Z` (minutes; ticks are minutes apart at the least).
pub fn render_instant(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `5h12m`, `2d3h`, `45s`: the two largest units, for gaps and ages.
pub(crate) fn render_span(ms: u64) -> String {
    let secs = ms / 1000;
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let text: String = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() {
        format!("{ms}ms")
    } else {
        text
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day numbers).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-20T00:00Z
    const NOV20: u64 = 1_795_132_800_000;

    #[test]
    fn instants_render_in_utc() {
        assert_eq!(render_instant(0), "1970-01-01T00:00Z");
        assert_eq!(render_instant(NOV20), "2026-11-20T00:00Z");
        assert_eq!(
            render_instant(NOV20 + 10 * DAY_MS + 4 * 3_600_000),
            "2026-11-30T04:00Z"
        );
        assert_eq!(render_instant(951_782_400_000), "2000-02-29T00:00Z");
        assert_eq!(render_instant(NOV20 + 41 * DAY_MS), "2026-12-31T00:00Z");
        assert_eq!(
            render_instant(NOV20 + 42 * DAY_MS - 60_000),
            "2026-12-31T23:59Z"
        );
        assert_eq!(render_instant(NOV20 + 42 * DAY_MS), "2027-01-01T00:00Z");
    }

    #[test]
    fn full_days_are_utc_days_inside_the_window() {
        let ten = NOV20 + 10 * 3_600_000;
        assert_eq!(full_days(ten, ten + 23 * 3_600_000), 0);
        assert_eq!(full_days(ten, NOV20 + 2 * DAY_MS), 1);
        assert_eq!(full_days(ten, NOV20 + 8 * DAY_MS), 7);
        assert_eq!(full_days(ten, NOV20 + 8 * DAY_MS - 1), 6);
        assert_eq!(full_days(NOV20, NOV20 + 7 * DAY_MS), 7);
        assert_eq!(full_days(NOV20 + 5, NOV20), 0);
        assert_eq!(days_complete_at(ten, 7), NOV20 + 8 * DAY_MS);
        assert_eq!(days_complete_at(NOV20, 7), NOV20 + 7 * DAY_MS);
    }

    #[test]
    fn spans_render_with_two_units() {
        assert_eq!(render_span(5 * 3_600_000 + 12 * 60_000 + 7_000), "5h12m");
        assert_eq!(render_span(2 * DAY_MS + 3 * 3_600_000), "2d3h");
        assert_eq!(render_span(DAY_MS + 5_000), "1d");
        assert_eq!(render_span(45_000), "45s");
        assert_eq!(render_span(450), "450ms");
    }
}
