//! What a soak run looks like at one instant: days covered, gaps, dirty ticks, RSS trends and
//! latency windows — the numbers `soak status` shows and the gate judges.
//!
//! Owns: the summary's shape and arithmetic (gaps, Theil–Sen slopes, p95). Must not touch:
//! the ledger file (the ledger hands a `Summary` in), pass/fail judgements (see `gate`), the
//! clock.
//!
//! - **Gaps** are measured from the start to the first tick, between consecutive ticks, and
//!   from the last tick to now ("silence is failure": a soak whose timer died must not pass).
//! - **RSS trend** of a service: the Theil–Sen slope (the median of the slopes between every
//!   pair of samples) in bytes per day. It ignores restarts and spikes that a least-squares fit
//!   would follow. Above [`MAX_SLOPE_POINTS`] samples, that many are taken evenly spaced (always
//!   including the first and last), which bounds the cost at ~45,000 pairs per service.
//! - **Latency windows**: the first window holds the ticks in `[start, start + w)`, the last
//!   those in `[now - w, now]`, `w` = the policy's `latency_window`. p95 is the nearest-rank
//!   95th percentile of a check's durations in the window.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::{Run, Summary};
use crate::policy::Policy;
use crate::time::{full_days, soak_day};

/// More samples than this are thinned, evenly, before the pairwise slopes.
pub const MAX_SLOPE_POINTS: usize = 300;

/// The current soak run summarised at `now_ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub run: Run,
    pub now_ms: u64,
    /// Full UTC calendar days inside `[start, now]` (see the crate docs).
    pub full_days: u64,
    pub ticks: u64,
    pub last_tick_ms: Option<u64>,
    /// The longest gap (including before the first tick and since the last).
    pub largest_gap: Gap,
    /// Every gap longer than the policy's `max_gap`, in time order.
    pub long_gaps: Vec<Gap>,
    /// Every tick that was not clean, in time order.
    pub dirty: Vec<DirtyTick>,
    /// Per sampled service, by name.
    pub rss: Vec<RssTrend>,
    /// Per check measured in either latency window, by id.
    pub latency: Vec<LatencyTrend>,
    /// The two latency windows overlap: the soak is shorter than two windows.
    pub windows_overlap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// From the soak's start to its first tick.
    BeforeFirstTick,
    /// From the soak's start to now: no tick was recorded at all.
    NoTickYet,
    BetweenTicks,
    /// From the last tick to now.
    SinceLastTick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub kind: GapKind,
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Gap {
    pub fn len_ms(&self) -> u64 {
        self.to_ms - self.from_ms
    }
}

/// A tick that counts against the soak, with every reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirtyTick {
    pub at_ms: u64,
    /// 1-based, in 24 h from the start.
    pub day: u64,
    /// e.g. `router.chat fail: timed out after 2s`, `service hub exited non-zero`.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RssTrend {
    pub service: String,
    /// Samples recorded.
    pub samples: u64,
    /// The samples the slope was computed over (at most [`MAX_SLOPE_POINTS`]).
    pub slope_points: u64,
    /// Theil–Sen slope in bytes per day; `None` with fewer than two samples at distinct times.
    pub slope_bytes_per_day: Option<f64>,
    pub first_rss_bytes: u64,
    pub last_rss_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    pub p95_ms: f64,
    pub samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyTrend {
    pub check: String,
    pub first: Option<Window>,
    pub last: Option<Window>,
}

pub(crate) fn summarise(summary: Summary, now_ms: u64, policy: &Policy) -> Status {
    let start = summary.run.started_ms;
    let max_gap = u64::try_from(policy.max_gap.as_millis()).unwrap_or(u64::MAX);
    let window = u64::try_from(policy.latency_window.as_millis()).unwrap_or(u64::MAX);

    let mut gaps = Vec::with_capacity(summary.ticks.len() + 1);
    let mut previous = (GapKind::BeforeFirstTick, start);
    for tick in &summary.ticks {
        gaps.push(Gap {
            kind: previous.0,
            from_ms: previous.1,
            to_ms: tick.at_ms,
        });
        previous = (GapKind::BetweenTicks, tick.at_ms);
    }
    let last_kind = if summary.ticks.is_empty() {
        GapKind::NoTickYet
    } else {
        GapKind::SinceLastTick
    };
    gaps.push(Gap {
        kind: last_kind,
        from_ms: previous.1,
        to_ms: now_ms,
    });
    // Ties go to the earliest gap: the first silence is the one to explain.
    let largest_gap = gaps
        .iter()
        .copied()
        .reduce(|a, b| if b.len_ms() > a.len_ms() { b } else { a })
        .unwrap_or(gaps[0]);
    let long_gaps = gaps.into_iter().filter(|g| g.len_ms() > max_gap).collect();

    let dirty = summary
        .ticks
        .iter()
        .filter_map(|t| {
            let mut reasons: Vec<String> = t
                .red
                .iter()
                .map(|r| format!("{} {}: {}", r.check, r.verdict, r.reason))
                .collect();
            reasons.extend(
                t.exited
                    .iter()
                    .map(|s| format!("service {s} exited non-zero")),
            );
            if t.memory_pressure_unrecovered {
                reasons.push("critical memory pressure left unrecovered".to_owned());
            }
            (!reasons.is_empty()).then(|| DirtyTick {
                at_ms: t.at_ms,
                day: soak_day(start, t.at_ms),
                reasons,
            })
        })
        .collect();

    let rss = summary
        .rss
        .into_iter()
        .map(|(service, points)| {
            let xy: Vec<(f64, f64)> = points
                .iter()
                .map(|&(at, rss)| {
                    (
                        at.saturating_sub(start) as f64 / crate::time::DAY_MS as f64,
                        rss as f64,
                    )
                })
                .collect();
            let thinned = thin(&xy, MAX_SLOPE_POINTS);
            RssTrend {
                service,
                samples: points.len() as u64,
                slope_points: thinned.len() as u64,
                slope_bytes_per_day: theil_sen(&thinned),
                first_rss_bytes: points.first().map_or(0, |p| p.1),
                last_rss_bytes: points.last().map_or(0, |p| p.1),
            }
        })
        .collect();

    let mut latency: BTreeMap<String, LatencyTrend> = BTreeMap::new();
    for (check, durations) in summary.first_window {
        latency.insert(
            check.clone(),
            LatencyTrend {
                check,
                first: p95(durations),
                last: None,
            },
        );
    }
    for (check, durations) in summary.last_window {
        latency
            .entry(check.clone())
            .or_insert(LatencyTrend {
                check,
                first: None,
                last: None,
            })
            .last = p95(durations);
    }

    Status {
        full_days: full_days(start, now_ms),
        ticks: summary.ticks.len() as u64,
        last_tick_ms: summary.ticks.last().map(|t| t.at_ms),
        largest_gap,
        long_gaps,
        dirty,
        rss,
        latency: latency.into_values().collect(),
        windows_overlap: now_ms.saturating_sub(window) < start.saturating_add(window),
        run: summary.run,
        now_ms,
    }
}

/// `limit` points evenly spaced over `points`, first and last included.
fn thin(points: &[(f64, f64)], limit: usize) -> Vec<(f64, f64)> {
    if points.len() <= limit || limit < 2 {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..limit).map(|i| points[i * last / (limit - 1)]).collect()
}

/// The median of the slopes between every pair of points with distinct x.
pub(crate) fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    median(&mut slopes)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let len = values.len();
    let mid = len / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if len % 2 == 1 {
        return Some(upper);
    }
    let below = lower.iter().copied().max_by(f64::total_cmp)?;
    Some((below + upper) / 2.0)
}

/// The nearest-rank 95th percentile.
fn p95(mut durations: Vec<f64>) -> Option<Window> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_by(f64::total_cmp);
    let rank = (durations.len() * 95).div_ceil(100).max(1);
    Some(Window {
        p95_ms: durations[rank - 1],
        samples: durations.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_ignores_outliers_a_fit_would_follow() {
        let mut points: Vec<(f64, f64)> =
            (0..50).map(|i| (i as f64, 2.0 * i as f64 + 7.0)).collect();
        // A restart and two spikes: a least-squares slope would bend, the median does not.
        points[10].1 = 0.0;
        points[30].1 = 1e9;
        points[31].1 = 1e9;
        assert_eq!(theil_sen(&points), Some(2.0));
        assert_eq!(theil_sen(&[(1.0, 5.0)]), None);
        assert_eq!(theil_sen(&[(1.0, 5.0), (1.0, 9.0)]), None);
        assert_eq!(
            theil_sen(&[(0.0, 0.0), (1.0, 1.0), (2.0, 4.0), (3.0, 9.0)]),
            Some(3.0)
        );
    }

    #[test]
    fn thinning_keeps_the_ends_and_the_slope() {
        let points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 3.0 * i as f64)).collect();
        let thinned = thin(&points, MAX_SLOPE_POINTS);
        assert_eq!(thinned.len(), MAX_SLOPE_POINTS);
        assert_eq!(thinned.first(), points.first());
        assert_eq!(thinned.last(), points.last());
        assert_eq!(theil_sen(&thinned), Some(3.0));
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        let window = |v: Vec<f64>| p95(v).map(|w| w.p95_ms);
        assert_eq!(window((1..=100).map(f64::from).collect()), Some(95.0));
        assert_eq!(window((1..=20).map(f64::from).collect()), Some(19.0));
        assert_eq!(window(vec![4.0]), Some(4.0));
        assert_eq!(window(vec![]), None);
    }
}
