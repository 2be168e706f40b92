//! The pause gates: pure rules over the ledger's history that say when the loop must stop and
//! wait for a human.
//!
//! Owns: the rules, their thresholds ([`GatePolicy`]) and the wording of each trip's reason.
//! Must not touch: the ledger file (the caller passes the [`History`] in and records the
//! pause), the clock.
//!
//! Only completed cycles count (aborted and killed ones have no metrics and neither break nor
//! extend a streak), and a streak only counts cycles of the current epoch: cycles begun after
//! the last `loop resume`. A resume acknowledges what came before, so a lifted gate trips again
//! only on fresh evidence. The gates, in the order [`evaluate`] reports them:
//!
//! - **Tier-1 escape**: the latest completed cycle (of the current epoch) let at least one
//!   Tier-1 canary escape.
//! - **Oracle failing**: the oracle pass rate was below 1 in each of the last
//!   `oracle_failing_cycles` (3) cycles.
//! - **Declining** (scenario pass rate, oracle pass rate, coverage, and the canary catch rate
//!   of each tier): at a cycle, the metric *declines* when the mean of the `recent_window` (5)
//!   cycles ending there is below the mean of the `baseline_window` (20) cycles before those.
//!   The gate trips when it declines at each of the last `decline_cycles` (3) cycles, and
//!   every cycle in those recent windows is of the current epoch (so after a resume it needs
//!   5 + 3 - 1 = 7 new cycles; in all 20 + 5 + 3 - 1 = 27). A tier's catch rate is
//!   caught / (caught + escaped) over the cycles that ran canaries of that tier; cycles that
//!   ran none are left out of that series.
//! - **No new coverage**: no new spec-surface cell was covered in each of the last
//!   `no_new_coverage_cycles` (5) cycles.

use std::fmt;
use std::num::NonZeroUsize;

use serde::Serialize;

use crate::ledger::{CycleId, CycleMetrics, CycleRecord, History, Tier};

/// Means closer than this are equal: two means of identical rates can differ in the last bits
/// depending on how many terms were summed, and a flat metric must not read as declining.
const MEAN_TOLERANCE: f64 = 1e-9;

/// A metric the declining gate watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    ScenarioPassRate,
    OraclePassRate,
    Coverage,
    CanaryCatchRate(Tier),
}

impl Metric {
    const ALL: [Metric; 7] = [
        Metric::ScenarioPassRate,
        Metric::OraclePassRate,
        Metric::Coverage,
        Metric::CanaryCatchRate(Tier::T1),
        Metric::CanaryCatchRate(Tier::T2),
        Metric::CanaryCatchRate(Tier::T3),
        Metric::CanaryCatchRate(Tier::T4),
    ];

    fn slug(self) -> &'static str {
        match self {
            Metric::ScenarioPassRate => "scenario-pass-rate",
            Metric::OraclePassRate => "oracle-pass-rate",
            Metric::Coverage => "coverage",
            Metric::CanaryCatchRate(Tier::T1) => "canary-catch-rate-t1",
            Metric::CanaryCatchRate(Tier::T2) => "canary-catch-rate-t2",
            Metric::CanaryCatchRate(Tier::T3) => "canary-catch-rate-t3",
            Metric::CanaryCatchRate(Tier::T4) => "canary-catch-rate-t4",
        }
    }

    /// The value in one cycle; `None` when the cycle did not measure it.
    fn value(self, metrics: &CycleMetrics) -> Option<f64> {
        match self {
            Metric::ScenarioPassRate => Some(metrics.scenario_pass_rate),
            Metric::OraclePassRate => Some(metrics.oracle_pass_rate),
            Metric::Coverage => Some(metrics.coverage),
            Metric::CanaryCatchRate(tier) => {
                let count = metrics.canaries.get(&tier)?;
                let total = count.caught as f64 + count.escaped as f64;
                (total > 0.0).then(|| count.caught as f64 / total)
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::ScenarioPassRate => f.write_str("scenario pass rate"),
            Metric::OraclePassRate => f.write_str("oracle pass rate"),
            Metric::Coverage => f.write_str("coverage"),
            Metric::CanaryCatchRate(tier) => write!(f, "{tier} canary catch rate"),
        }
    }
}

/// A gate that can pause the loop. Its [`Gate::name`] is what the ledger stores, and what it
/// serialises to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    Tier1Escape,
    OracleFailing,
    Declining(Metric),
    NoNewCoverage,
}

impl Gate {
    /// The stable name: `tier1-escape`, `oracle-failing`, `declining-<metric>` (e.g.
    /// `declining-coverage`, `declining-canary-catch-rate-t2`), `no-new-coverage`.
    pub fn name(self) -> String {
        match self {
            Gate::Tier1Escape => "tier1-escape".to_owned(),
            Gate::OracleFailing => "oracle-failing".to_owned(),
            Gate::Declining(metric) => format!("declining-{}", metric.slug()),
            Gate::NoNewCoverage => "no-new-coverage".to_owned(),
        }
    }

    /// The gate of that [`Gate::name`], if any.
    pub fn from_name(name: &str) -> Option<Gate> {
        [Gate::Tier1Escape, Gate::OracleFailing, Gate::NoNewCoverage]
            .into_iter()
            .chain(Metric::ALL.into_iter().map(Gate::Declining))
            .find(|gate| gate.name() == name)
    }
}

impl Serialize for Gate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A gate that tripped, and why, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateTrip {
    pub gate: Gate,
    pub reason: String,
}

/// The gates' thresholds. The defaults are the issue's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePolicy {
    /// Cycles in a row with an oracle pass rate below 1. Default 3.
    pub oracle_failing_cycles: NonZeroUsize,
    /// Cycles in a row at which a metric declines. Default 3.
    pub decline_cycles: NonZeroUsize,
    /// Cycles in the recent mean. Default 5.
    pub recent_window: NonZeroUsize,
    /// Cycles in the baseline mean, just before the recent ones. Default 20.
    pub baseline_window: NonZeroUsize,
    /// Cycles in a row without a newly covered cell. Default 5.
    pub no_new_coverage_cycles: NonZeroUsize,
}

// Evaluated at compile time: a zero here would not build.
const THREE: NonZeroUsize = NonZeroUsize::new(3).unwrap();
const FIVE: NonZeroUsize = NonZeroUsize::new(5).unwrap();
const TWENTY: NonZeroUsize = NonZeroUsize::new(20).unwrap();

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            oracle_failing_cycles: THREE,
            decline_cycles: THREE,
            recent_window: FIVE,
            baseline_window: TWENTY,
            no_new_coverage_cycles: FIVE,
        }
    }
}

impl GatePolicy {
    /// How many completed cycles [`evaluate`] looks back over: pass it to
    /// [`crate::Ledger::history`].
    pub fn cycles_needed(&self) -> usize {
        let decline =
            self.baseline_window.get() + self.recent_window.get() - 1 + self.decline_cycles.get();
        decline
            .max(self.oracle_failing_cycles.get())
            .max(self.no_new_coverage_cycles.get())
    }
}

/// The gates that trip on `history`, in the order listed in the module docs; empty when the
/// loop may go on.
pub fn evaluate(history: &History, policy: &GatePolicy) -> Vec<GateTrip> {
    let completed: Vec<(&CycleRecord, &CycleMetrics)> = history
        .cycles
        .iter()
        .filter_map(|cycle| cycle.metrics.as_ref().map(|metrics| (cycle, metrics)))
        .collect();
    let fresh = |cycles: &[(&CycleRecord, &CycleMetrics)]| {
        cycles.iter().all(|(cycle, _)| cycle.epoch == history.epoch)
    };
    let mut trips = Vec::new();

    if let Some((cycle, metrics)) = completed.last().filter(|last| fresh(&[**last])) {
        let t1 = metrics.canaries.get(&Tier::T1).copied().unwrap_or_default();
        if t1.escaped > 0 {
            trips.push(GateTrip {
                gate: Gate::Tier1Escape,
                reason: format!(
                    "{} of {} Tier-1 canaries escaped in cycle {}",
                    t1.escaped,
                    t1.escaped.saturating_add(t1.caught),
                    cycle.id
                ),
            });
        }
    }

    if let Some(streak) = tail(&completed, policy.oracle_failing_cycles.get())
        .filter(|streak| fresh(streak))
        .filter(|streak| streak.iter().all(|(_, m)| m.oracle_pass_rate < 1.0))
    {
        let listed: Vec<String> = streak
            .iter()
            .map(|(cycle, m)| format!("{:.3} (cycle {})", m.oracle_pass_rate, cycle.id))
            .collect();
        trips.push(GateTrip {
            gate: Gate::OracleFailing,
            reason: format!(
                "oracle pass rate below 1 for {} cycles in a row: {}",
                streak.len(),
                listed.join(", ")
            ),
        });
    }

    for metric in Metric::ALL {
        let series: Vec<(CycleId, u64, f64)> = completed
            .iter()
            .filter_map(|(cycle, m)| Some((cycle.id, cycle.epoch, metric.value(m)?)))
            .collect();
        if let Some(reason) = declining(&series, history.epoch, policy) {
            trips.push(GateTrip {
                gate: Gate::Declining(metric),
                reason: format!("{metric} {reason}"),
            });
        }
    }

    if let Some(streak) = tail(&completed, policy.no_new_coverage_cycles.get())
        .filter(|streak| fresh(streak))
        .filter(|streak| streak.iter().all(|(_, m)| m.new_cells_covered == 0))
    {
        if let (Some((first, _)), Some((last, m))) = (streak.first(), streak.last()) {
            trips.push(GateTrip {
                gate: Gate::NoNewCoverage,
                reason: format!(
                    "no new cell covered for {} cycles in a row (cycles {} to {}); coverage stays at {:.3}",
                    streak.len(),
                    first.id,
                    last.id,
                    m.coverage
                ),
            });
        }
    }
    trips
}

/// The last `n` items, if there are that many.
fn tail<T>(items: &[T], n: usize) -> Option<&[T]> {
    items.len().checked_sub(n).map(|start| &items[start..])
}

/// Why the series declines at each of its last `decline_cycles` points, or `None`.
fn declining(series: &[(CycleId, u64, f64)], epoch: u64, policy: &GatePolicy) -> Option<String> {
    let recent = policy.recent_window.get();
    let baseline = policy.baseline_window.get();
    let streak = policy.decline_cycles.get();
    // The earliest point with a full baseline before its recent window.
    let first_point = recent + baseline - 1;
    let start = series.len().checked_sub(streak)?;
    if start < first_point {
        return None;
    }
    let mut steps = Vec::with_capacity(streak);
    for end in start..series.len() {
        let recent_values = &series[end + 1 - recent..=end];
        if recent_values.iter().any(|(_, e, _)| *e != epoch) {
            return None;
        }
        let recent_mean = mean(recent_values);
        let baseline_mean = mean(&series[end + 1 - recent - baseline..end + 1 - recent]);
        if recent_mean >= baseline_mean - MEAN_TOLERANCE {
            return None;
        }
        steps.push(format!(
            "{recent_mean:.3} < {baseline_mean:.3} at cycle {}",
            series[end].0
        ));
    }
    Some(format!(
        "declining {streak} cycles in a row (mean of the {recent} most recent cycles vs the {baseline} before them): {}",
        steps.join(", ")
    ))
}

fn mean(values: &[(CycleId, u64, f64)]) -> f64 {
    values.iter().map(|(_, _, v)| v).sum::<f64>() / values.len() as f64
}
