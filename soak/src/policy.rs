//! The soak policy: the thresholds of the exit gate, read from a YAML file.
//!
//! Owns: the policy file's keys, their defaults, their unit syntax and the policy digest.
//! Must not touch: the ledger or the gate's judgement (see `gate`), the clock.
//!
//! Every key is optional; an empty file is the defaults. Unknown keys and bad values are
//! errors located at `file:line:column`.
//!
//! ```yaml
//! days: 7                    # full UTC calendar days the soak must cover
//! max_gap: 2h                # longest allowed silence between ticks (and since the last one)
//! rss_slope_max: 1MiB/day    # a size per day (`/day`, `/d`, `/h`, or a duration: `/12h`)
//! latency_tolerance: 1.5     # last-window p95 <= first-window p95 x tolerance ...
//! latency_slack: 5ms         # ... or <= first-window p95 + slack, whichever allows more
//! latency_window: 24h        # first window: [start, start + w); last window: [now - w, now]
//! require_doctor: true       # `auditwall doctor` must be clean at check time
//! docs_command: [mdbook, build, docs]   # optional; run by the CLI, not by this crate
//! ```
//!
//! `latency_slack` exists because loopback checks answer in fractions of a millisecond, where
//! scheduling noise alone can exceed any ratio; a real slowdown is larger than the slack.

use std::path::Path;
use std::time::Duration;

use auditwall_spec::{
    decode_source, parse_document, parse_duration, parse_size, render_duration, render_size,
    Origin, SourceFile, SpecError, SpecErrorKind, MAX_SOURCE_BYTES,
};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use crate::error::{Kind, Result, SoakError};

const DAY_SECS: f64 = 86_400.0;

/// The exit gate's thresholds. [`Policy::default`] is the policy of an empty file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Full UTC calendar days the soak must cover.
    pub days: u32,
    /// The longest allowed gap between ticks, between the start and the first tick, and
    /// between the last tick and now.
    #[serde(serialize_with = "ser_duration")]
    pub max_gap: Duration,
    /// The largest allowed robust RSS slope of any service, in bytes per day.
    pub rss_slope_max_bytes_per_day: f64,
    /// Last-window p95 must be at most first-window p95 times this (>= 1).
    pub latency_tolerance: f64,
    /// ... or at most first-window p95 plus this, whichever allows more.
    #[serde(serialize_with = "ser_duration")]
    pub latency_slack: Duration,
    /// The length of the first and the last latency window.
    #[serde(serialize_with = "ser_duration")]
    pub latency_window: Duration,
    pub require_doctor: bool,
    /// The command that builds the docs (argv). `None`: the CLI uses the wall's.
    pub docs_command: Option<Vec<String>>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            days: 7,
            max_gap: Duration::from_secs(2 * 3600),
            rss_slope_max_bytes_per_day: 1024.0 * 1024.0,
            latency_tolerance: 1.5,
            latency_slack: Duration::from_millis(5),
            latency_window: Duration::from_secs(24 * 3600),
            require_doctor: true,
            docs_command: None,
        }
    }
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&render_duration(*d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    days: Option<Spanned<u32>>,
    max_gap: Option<Spanned<String>>,
    rss_slope_max: Option<Spanned<String>>,
    latency_tolerance: Option<Spanned<f64>>,
    latency_slack: Option<Spanned<String>>,
    latency_window: Option<Spanned<String>>,
    require_doctor: Option<bool>,
    docs_command: Option<Spanned<Vec<String>>>,
}

impl Policy {
    /// Reads and parses the policy file at `path`. A missing file is an error: a policy that
    /// was asked for must exist (the caller uses [`Policy::default`] when none was asked for).
    pub fn load(path: &Path) -> Result<Policy> {
        let bytes = read_capped(path).map_err(|e| {
            SoakError::new(Kind::Policy, format_args!("cannot read it: {e}")).at(path)
        })?;
        let src = decode_source(&path.display().to_string(), &bytes).map_err(policy_error)?;
        Policy::parse(&src)
    }

    /// Parses a policy document; errors name `src.path`, line and column.
    pub fn parse(src: &SourceFile) -> Result<Policy> {
        let blank = src
            .text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if blank {
            return Ok(Policy::default());
        }
        let raw: RawPolicy = parse_document(src).map_err(policy_error)?;
        let mut policy = Policy::default();
        let at = |s: &serde_saphyr::Location| Origin {
            file: src.path.clone(),
            line: u32::try_from(s.line()).unwrap_or(u32::MAX),
            column: u32::try_from(s.column()).unwrap_or(u32::MAX),
        };
        let bad = |kind, loc: &serde_saphyr::Location, key: &str, msg: String| {
            policy_error(SpecError::at(kind, &at(loc), format!("`{key}`: {msg}")).with_key(key))
        };
        if let Some(days) = raw.days {
            if days.value == 0 || days.value > 366 {
                return Err(bad(
                    SpecErrorKind::Invalid,
                    &days.referenced,
                    "days",
                    format!("{} is not within 1..=366", days.value),
                ));
            }
            policy.days = days.value;
        }
        let duration = |s: &Spanned<String>, key: &str| {
            match parse_duration(&s.value) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err("must be longer than zero".to_string()),
                Err(e) => Err(e),
            }
            .map_err(|e| bad(SpecErrorKind::BadDuration, &s.referenced, key, e))
        };
        if let Some(s) = &raw.max_gap {
            policy.max_gap = duration(s, "max_gap")?;
        }
        if let Some(s) = &raw.latency_window {
            policy.latency_window = duration(s, "latency_window")?;
        }
        if let Some(s) = &raw.latency_slack {
            policy.latency_slack = parse_duration(&s.value).map_err(|e| {
                bad(
                    SpecErrorKind::BadDuration,
                    &s.referenced,
                    "latency_slack",
                    e,
                )
            })?;
        }
        if let Some(s) = &raw.rss_slope_max {
            policy.rss_slope_max_bytes_per_day = parse_rate(&s.value)
                .map_err(|e| bad(SpecErrorKind::BadSize, &s.referenced, "rss_slope_max", e))?;
        }
        if let Some(t) = raw.latency_tolerance {
            if !(t.value.is_finite() && t.value >= 1.0) {
                return Err(bad(
                    SpecErrorKind::Invalid,
                    &t.referenced,
                    "latency_tolerance",
                    format!("{} is not a number >= 1", t.value),
                ));
            }
            policy.latency_tolerance = t.value;
        }
        if let Some(r) = raw.require_doctor {
            policy.require_doctor = r;
        }
        if let Some(c) = raw.docs_command {
            if c.value.is_empty() || c.value[0].trim().is_empty() {
                return Err(bad(
                    SpecErrorKind::Invalid,
                    &c.referenced,
                    "docs_command",
                    "needs a program, e.g. [mdbook, build, docs]".to_string(),
                ));
            }
            policy.docs_command = Some(c.value);
        }
        Ok(policy)
    }

    /// A digest of the effective policy (hex SHA-256 of its JSON), recorded at `soak start`
    /// so that the gate can tell when the policy was changed during the soak.
    pub fn digest(&self) -> String {
        // Serializing plain numbers, strings and bools into a Vec cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `1MiB/day` for the RSS limit, as the gate quotes it.
    pub fn rss_slope_max_text(&self) -> String {
        render_rate(self.rss_slope_max_bytes_per_day)
    }
}

fn policy_error(e: SpecError) -> SoakError {
    SoakError::new(Kind::Policy, e)
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    // One byte over the cap is enough for decode_source to say "too large".
    std::fs::File::open(path)?
        .take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses `1MiB/day`, `512KiB/h`, `3MiB/12h` into bytes per day.
pub(crate) fn parse_rate(text: &str) -> std::result::Result<f64, String> {
    const SHAPE: &str = "expected a size per time, e.g. 1MiB/day";
    let (size, per) = text.split_once('/').ok_or_else(|| SHAPE.to_string())?;
    let bytes = parse_size(size.trim())?;
    let per = per.trim();
    let period = match per {
        "day" => Duration::from_secs(86_400),
        "hour" => Duration::from_secs(3600),
        // A bare unit means one of it: `/d`, `/h`.
        unit if unit.chars().all(|c| c.is_ascii_alphabetic()) => {
            parse_duration(&format!("1{unit}"))?
        }
        other => parse_duration(other)?,
    };
    if period.is_zero() {
        return Err("the period must be longer than zero".to_string());
    }
    Ok(bytes as f64 * DAY_SECS / period.as_secs_f64())
}

/// Bytes per day as `1MiB/day`, `4.1MiB/day`, `-300KiB/day`.
pub(crate) fn render_rate(bytes_per_day: f64) -> String {
    let sign = if bytes_per_day < 0.0 { "-" } else { "" };
    // Rounded to whole bytes: sub-byte slopes mean nothing for RSS.
    let magnitude = bytes_per_day.abs().round() as u64;
    format!("{sign}{}/day", render_size(magnitude))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_render() {
        assert_eq!(parse_rate("1MiB/day"), Ok(1_048_576.0));
        assert_eq!(parse_rate("1MiB/d"), Ok(1_048_576.0));
        assert_eq!(parse_rate("1KiB/h"), Ok(24.0 * 1024.0));
        assert_eq!(parse_rate("3MiB/12h"), Ok(6.0 * 1_048_576.0));
        assert_eq!(
            parse_rate("1MiB").unwrap_err(),
            "expected a size per time, e.g. 1MiB/day"
        );
        assert_eq!(
            parse_rate("1MiB/fortnight").unwrap_err(),
            "unknown unit `fortnight` (use ms, s, m, h or d)"
        );
        assert_eq!(
            parse_rate("1MiB/0s").unwrap_err(),
            "the period must be longer than zero"
        );
        assert_eq!(render_rate(1_048_576.0), "1MiB/day");
        assert_eq!(render_rate(4.1 * 1_048_576.0), "4.1MiB/day");
        assert_eq!(render_rate(-2048.0), "-2KiB/day");
        assert_eq!(render_rate(0.2), "0B/day");
    }
}
