//! Planning: which checks of a wall run, in which order, waiting on what.
//!
//! Owns filters (id glob, tag, suite, severity), partitions (`hash:K/N`, `count:K/N`), and the
//! dependency closure: a selected check pulls in the checks it `needs`, so "blocked by X" is
//! always decided by a real result. Must not run anything.

use std::collections::{BTreeSet, HashMap};

use auditwall_spec::{Check, Severity, Suite};
use globset::{Glob, GlobMatcher};

use crate::error::Error;

/// A check in the plan, with its dependencies as indices into [`Plan::checks`].
#[derive(Debug, Clone)]
pub struct Planned {
    pub check: Check,
    pub needs: Vec<usize>,
    /// Not selected by the filters; runs only because a selected check needs it.
    pub dependency_only: bool,
}

impl Planned {
    /// The name used everywhere a check is listed: `suite::id`.
    pub fn name(&self) -> String {
        format!("{}::{}", self.check.suite, self.check.id)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Dependencies come before their dependents; otherwise wall order.
    pub checks: Vec<Planned>,
    /// Checks of the wall that the filters left out.
    pub filtered_out: usize,
}

/// Which shard of the checks to run. `K` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Check `i` (in wall order) belongs to shard `i mod N`.
    Count { k: u32, n: u32 },
    /// A check belongs to shard `hash(suite::id) mod N`: stable when checks are added or removed.
    Hash { k: u32, n: u32 },
}

impl std::str::FromStr for Partition {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::spec(format!(
                "invalid partition `{s}`: expected hash:K/N or count:K/N with 1 <= K <= N"
            ))
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let (k, n) = rest.split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        match kind {
            "hash" => Ok(Partition::Hash { k, n }),
            "count" => Ok(Partition::Count { k, n }),
            _ => Err(bad()),
        }
    }
}

impl Partition {
    fn contains(&self, index: usize, name: &str) -> bool {
        match *self {
            Partition::Count { k, n } => (index as u64 % n as u64) == (k - 1) as u64,
            Partition::Hash { k, n } => fnv1a(name.as_bytes()) % n as u64 == (k - 1) as u64,
        }
    }
}

/// FNV-1a: tiny, stable across versions and platforms (unlike std's SipHash keys).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Selection criteria; an empty list means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Globs over the check id or the full `suite::id` name.
    pub ids: Vec<String>,
    pub tags: Vec<String>,
    pub suites: Vec<Suite>,
    /// Only checks at least this severe (P0 is most severe).
    pub max_severity: Option<Severity>,
    pub partition: Option<Partition>,
}

struct CompiledFilter<'a> {
    ids: Vec<GlobMatcher>,
    filter: &'a Filter,
}

impl CompiledFilter<'_> {
    fn selects(&self, index: usize, check: &Check) -> bool {
        let name = format!("{}::{}", check.suite, check.id);
        let f = self.filter;
        (self.ids.is_empty()
            || self
                .ids
                .iter()
                .any(|g| g.is_match(&check.id) || g.is_match(&name)))
            && (f.tags.is_empty() || f.tags.iter().any(|t| check.tags.contains(t)))
            && (f.suites.is_empty() || f.suites.contains(&check.suite))
            && f.max_severity.is_none_or(|max| check.severity <= max)
            && f.partition.is_none_or(|p| p.contains(index, &name))
    }
}

/// Builds the plan. The wall is already validated: every `needs` id exists and there are no cycles.
pub fn plan(checks: &[Check], filter: &Filter) -> Result<Plan, Error> {
    let ids = filter
        .ids
        .iter()
        .map(|p| {
            Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| Error::spec(format!("invalid id filter `{p}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let compiled = CompiledFilter { ids, filter };
    let by_id: HashMap<&str, usize> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let index_of = |id: &str| by_id.get(id).copied();

    let selected: BTreeSet<usize> = checks
        .iter()
        .enumerate()
        .filter(|(i, c)| compiled.selects(*i, c))
        .map(|(i, _)| i)
        .collect();

    // Dependency closure, then a topological order that otherwise keeps wall order.
    let mut included = selected.clone();
    let mut stack: Vec<usize> = selected.iter().copied().collect();
    while let Some(i) = stack.pop() {
        for need in &checks[i].needs {
            if let Some(j) = index_of(need) {
                if included.insert(j) {
                    stack.push(j);
                }
            }
        }
    }
    let mut order = Vec::with_capacity(included.len());
    let mut placed = BTreeSet::new();
    for &i in &included {
        place(i, checks, &index_of, &mut placed, &mut order, 0)?;
    }
    let mut position_of = vec![usize::MAX; checks.len()];
    for (pos, &i) in order.iter().enumerate() {
        position_of[i] = pos;
    }
    let position = |i: usize| Some(position_of[i]);
    let planned = order
        .iter()
        .map(|&i| Planned {
            check: checks[i].clone(),
            needs: checks[i]
                .needs
                .iter()
                .filter_map(|n| index_of(n).and_then(position))
                .collect(),
            dependency_only: !selected.contains(&i),
        })
        .collect();
    Ok(Plan {
        checks: planned,
        filtered_out: checks.len() - selected.len(),
    })
}

fn place(
    i: usize,
    checks: &[Check],
    index_of: &dyn Fn(&str) -> Option<usize>,
    placed: &mut BTreeSet<usize>,
    order: &mut Vec<usize>,
    depth: usize,
) -> Result<(), Error> {
    if placed.contains(&i) {
        return Ok(());
    }
    if depth > checks.len() {
        return Err(Error::spec(format!(
            "dependency cycle through check `{}`",
            checks[i].id
        )));
    }
    for need in &checks[i].needs {
        if let Some(j) = index_of(need) {
            place(j, checks, index_of, placed, order, depth + 1)?;
        }
    }
    placed.insert(i);
    order.push(i);
    Ok(())
}
