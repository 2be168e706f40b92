//! Durations and sizes as humans write and read them.
//!
//! Owns: parsing `250ms`, `1m30s`, `256MiB` and rendering `1.2s`, `12.3MiB`.
//! Must not touch: anything located; callers wrap the reason in a located error.

use std::time::Duration;

const DURATION_UNITS: &[(&str, f64)] = &[
    ("ms", 0.001),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
];

// KB/MB/GB are decimal (SI) and KiB/MiB/GiB binary, as the names say; `B` is bytes.
const SIZE_UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("KB", 1e3),
    ("MB", 1e6),
    ("GB", 1e9),
    ("TB", 1e12),
    ("KiB", 1024.0),
    ("MiB", 1048576.0),
    ("GiB", 1073741824.0),
    ("TiB", 1099511627776.0),
];

/// Splits `1m30s` into `[(1, "m"), (30, "s")]`; the reason is returned for bad shapes.
fn number_unit_pairs<'a>(
    text: &'a str,
    what: &str,
    example: &str,
) -> Result<Vec<(f64, &'a str)>, String> {
    if text.is_empty() {
        return Err(format!("empty {what}"));
    }
    if text.starts_with('-') {
        return Err(format!("{what}s cannot be negative"));
    }
    if text.parse::<f64>().is_ok() {
        return Err(format!("{what}s need a unit, e.g. {example}"));
    }
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    // Each iteration consumes a number and a unit, or returns.
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = rest[..num_len]
            .parse::<f64>()
            .map_err(|_| format!("expected a number followed by a unit, e.g. {example}"))?;
        // `5 s` and `1m 30s` read naturally, so spaces between parts are allowed.
        let after = rest[num_len..].trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        if unit.is_empty() {
            return Err(format!(
                "expected a number followed by a unit, e.g. {example}"
            ));
        }
        pairs.push((number, unit));
        rest = after[unit_len..].trim_start();
    }
    Ok(pairs)
}

/// Parses `250ms`, `2s`, `1.5s`, `5m`, `1h`, `7d` and sums like `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = 0.0;
    for (number, unit) in number_unit_pairs(text, "duration", "5s")? {
        let factor = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("unknown unit `{unit}` (use ms, s, m, h or d)"))?;
        total += number * factor;
    }
    // Nothing auditwall waits for is longer than a year; a bigger number is a typo, and
    // capping here keeps every `now + duration` in the engine and the probes from overflowing.
    const MAX_SECS: f64 = 366.0 * 86_400.0;
    if total > MAX_SECS {
        return Err("duration is too large (at most 366d)".to_string());
    }
    Duration::try_from_secs_f64(total)
        .map_err(|_| "duration is too large (at most 366d)".to_string())
}

/// Parses `512B`, `10KB` (1000), `10KiB` (1024), `256MiB`, `1.5GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let pairs = number_unit_pairs(text, "size", "256MiB")?;
    if pairs.len() != 1 {
        return Err("expected one number and one unit, e.g. 256MiB".to_string());
    }
    let (number, unit) = pairs[0];
    let factor = SIZE_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            format!("unknown unit `{unit}` (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")
        })?;
    let bytes = (number * factor).floor();
    if bytes > u64::MAX as f64 {
        return Err("size is too large".to_string());
    }
    Ok(bytes as u64)
}

/// `350ms`, `1.2s`, `2s`, `1m30s`, `2h5m`, `7d`.
pub fn render_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        if d.as_nanos() > 0 && ms == 0 {
            return format!("{}µs", d.as_micros());
        }
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return trim_point_zero(format!("{:.1}", d.as_secs_f64())) + "s";
    }
    let secs = d.as_secs();
    let parts = [
        (secs / 86400, "d"),
        (secs % 86400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect()
}

/// `512B`, `1KiB`, `12.3MiB` (binary units, one decimal).
pub fn render_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    trim_point_zero(format!("{value:.1}")) + UNITS[unit]
}

fn trim_point_zero(s: String) -> String {
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_render() {
        let cases = [
            ("250ms", "250ms"),
            ("2s", "2s"),
            ("1.5s", "1.5s"),
            ("5m", "5m"),
            ("1h", "1h"),
            ("7d", "7d"),
            ("1m30s", "1m30s"),
            ("1.2s", "1.2s"),
        ];
        for (text, rendered) in cases {
            let d = parse_duration(text).unwrap();
            assert_eq!(render_duration(d), rendered, "{text}");
        }
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn bad_durations_say_why() {
        let cases = [
            ("", "empty duration"),
            ("5", "durations need a unit, e.g. 5s"),
            ("-1s", "durations cannot be negative"),
            ("5 parsecs", "unknown unit `parsecs` (use ms, s, m, h or d)"),
            ("5s!", "expected a number followed by a unit, e.g. 5s"),
            ("5parsecs", "unknown unit `parsecs` (use ms, s, m, h or d)"),
            ("s", "expected a number followed by a unit, e.g. 5s"),
            ("1e999s", "unknown unit `e` (use ms, s, m, h or d)"),
            (
                "99999999999999999999999d",
                "duration is too large (at most 366d)",
            ),
            ("367d", "duration is too large (at most 366d)"),
        ];
        for (text, reason) in cases {
            assert_eq!(parse_duration(text).unwrap_err(), reason, "{text:?}");
        }
    }

    #[test]
    fn sizes_parse_and_render() {
        assert_eq!(parse_size("512B").unwrap(), 512);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("10KiB").unwrap(), 10_240);
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(
            parse_size("256").unwrap_err(),
            "sizes need a unit, e.g. 256MiB"
        );
        assert_eq!(
            parse_size("1MiB1KiB").unwrap_err(),
            "expected one number and one unit, e.g. 256MiB"
        );
        assert_eq!(render_size(512), "512B");
        assert_eq!(render_size(1024), "1KiB");
        assert_eq!(render_size(12_897_485), "12.3MiB");
        assert_eq!(render_size(3 << 30), "3GiB");
    }
}
