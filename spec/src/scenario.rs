//! Kitchen Loop scenarios as written (`scenarios:` in a spec file), the spec surface
//! (`surface:`), and the wall-wide checks that need both: cells name real dimension values
//! and valid, unblocked cells; steps name probe checks; observers exist.
//!
//! Owns: the scenario and surface shapes and their validation. Must not touch: running
//! anything (the harness snapshots, acts and judges).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::condition::{parse_condition, Condition};
use crate::error::{did_you_mean, SpecError, SpecErrorKind};
use crate::interp::Interpolator;
use crate::load::{convert_probe, convert_with, Converted, Converter, RawHeader, RawProbe};
use crate::model::{
    Act, BlockedCell, CanaryFixture, Check, CheckKind, Delta, HttpProbe, Observer, Origin, Probe,
    Scenario, Settings, Suite, Surface, SurfaceRule, Tier, Tribunal,
};
use crate::raw::{RawCanaryFixture, RawDelta, RawScenario, RawSurface, Text};
use crate::source::SourceFile;
use crate::surface::covers;
use crate::yaml::span_origin;

/// L4's window when a scenario names none (DESIGN.md §2).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);

/// A surface larger than this is refused: coverage is computed over every cell.
pub const MAX_CELLS: usize = 1_000_000;

/// A name a scenario refers to, checked once the whole wall is known.
pub(crate) enum ScenarioRef {
    Check {
        id: String,
        at: Origin,
    },
    Observer {
        name: String,
        at: Origin,
    },
    Cell {
        cell: Vec<(String, String)>,
        at: BTreeMap<String, Origin>,
        origin: Origin,
    },
}

pub(crate) fn convert_scenario(
    src: &SourceFile,
    index: usize,
    spanned: &Spanned<RawScenario>,
    settings: &Settings,
    interp: &mut Interpolator,
    refs: &mut Vec<ScenarioRef>,
) -> Result<Converted, Vec<SpecError>> {
    let raw = &spanned.value;
    let no_retries = None;
    let header = RawHeader {
        id: &raw.id,
        description: &raw.description,
        severity: &raw.severity,
        tags: &raw.tags,
        needs: &raw.needs,
        timeout: &raw.timeout,
        retries: &no_retries,
        disruptive: None,
        canary: &raw.canary,
    };
    let origin = span_origin(&src.path, spanned);
    // A scenario changes state; running it twice is a second claim, not a retry.
    let settings = Settings {
        retries: 0,
        timeout: settings
            .timeout
            .max(DEFAULT_WINDOW + Duration::from_secs(10)),
        ..settings.clone()
    };
    let mut local = Vec::new();
    let converted = convert_with(
        src,
        index,
        &origin,
        &header,
        &settings,
        interp,
        Suite::Scenarios,
        |c| {
            let mut cell = Vec::new();
            let mut cell_at = BTreeMap::new();
            for (dim, value) in raw.cell.iter().flatten() {
                cell.push((dim.clone(), value.value.clone()));
                cell_at.insert(dim.clone(), span_origin(c.file, value));
            }
            if raw.cell.is_some() {
                local.push(ScenarioRef::Cell {
                    cell: cell.clone(),
                    at: cell_at,
                    origin: origin.clone(),
                });
            }
            let setup: Vec<HttpProbe> = raw
                .setup
                .iter()
                .filter_map(|h| match convert_probe(c, &RawProbe::Http(h)) {
                    Probe::Http(http) => Some(http),
                    _ => None,
                })
                .collect();
            let entities = raw
                .compile
                .as_ref()
                .map(|comp| {
                    comp.value
                        .entities
                        .iter()
                        .map(|t| t.value.clone())
                        .collect()
                })
                .unwrap_or_default();
            let execute = raw
                .execute
                .iter()
                .map(|t| {
                    local.push(ScenarioRef::Check {
                        id: t.value.clone(),
                        at: span_origin(c.file, t),
                    });
                    t.value.clone()
                })
                .collect();
            let act = raw.act.as_ref().and_then(|a| {
                let Probe::Http(http) = convert_probe(c, &RawProbe::Http(&a.value.http)) else {
                    return None;
                };
                let expect: Vec<Condition> = a
                    .value
                    .expect
                    .iter()
                    .filter_map(|cond| {
                        let at = span_origin(c.file, cond);
                        let parsed = c
                            .interp
                            .text(&cond.value, &at)
                            .and_then(|text| parse_condition(&text, "http", at.clone()))
                            .map(|parsed| Condition {
                                text: cond.value.clone(),
                                ..parsed
                            });
                        c.keep(parsed)
                    })
                    .collect();
                Some(Act { http, expect })
            });
            let delta = raw.delta.as_ref().and_then(|d| delta(c, d, &mut local));
            if raw.delta.is_some() && raw.act.is_none() {
                let ctx = c.ctx.clone();
                c.invalid(
                    &origin,
                    format!("scenario{ctx} has a `delta` but no `act` to cause it"),
                );
            }
            Some(CheckKind::Scenario(Box::new(Scenario {
                cell,
                setup,
                entities,
                execute,
                act,
                delta,
            })))
        },
    );
    refs.extend(local);
    converted
}

fn delta(
    c: &mut Converter,
    spanned: &Spanned<RawDelta>,
    refs: &mut Vec<ScenarioRef>,
) -> Option<Delta> {
    let raw = &spanned.value;
    let origin = span_origin(c.file, spanned);
    let ctx = c.ctx.clone();
    let observers: Vec<String> = raw
        .observers
        .iter()
        .map(|t| {
            refs.push(ScenarioRef::Observer {
                name: t.value.clone(),
                at: span_origin(c.file, t),
            });
            t.value.clone()
        })
        .collect();
    if observers.is_empty() {
        c.invalid(&origin, format!("`delta`{ctx} names no `observers`"));
    }
    let tribunal = match raw.tribunal.as_ref() {
        None => Tribunal::All,
        Some(t) if t.value == "all" => Tribunal::All,
        Some(t) => {
            let parsed = t
                .value
                .split_once(" of ")
                .and_then(|(k, n)| {
                    Some((
                        k.trim().parse::<usize>().ok()?,
                        n.trim().parse::<usize>().ok()?,
                    ))
                })
                .filter(|&(k, n)| k >= 1 && k <= n && n == observers.len());
            match parsed {
                Some((k, _)) => Tribunal::AtLeast(k),
                None => {
                    c.invalid(
                        &span_origin(c.file, t),
                        format!(
                            "bad `tribunal` `{}`{ctx}: use `all` or `K of N` with N the number of observers ({})",
                            t.value,
                            observers.len()
                        ),
                    );
                    Tribunal::All
                }
            }
        }
    };
    let conserve = raw.conserve.unwrap_or(false);
    let expect: Vec<(String, serde_json::Value, Origin)> = raw
        .expect
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.value.clone(), span_origin(c.file, v)))
        .collect();
    match (conserve, expect.is_empty()) {
        (true, false) => c.invalid(&origin, format!("`delta`{ctx}: `conserve: true` and `expect` cannot both be given")),
        (false, true) => c.invalid(&origin, format!("`delta`{ctx} needs `expect` (the changes) or `conserve: true` (nothing may change)")),
        _ => {}
    }
    let within = match &raw.within {
        None => Some(DEFAULT_WINDOW),
        Some(_) => c.duration("within", &raw.within),
    };
    let others_unchanged = match raw.others.as_ref().map(|t| t.value.as_str()) {
        None | Some("unchanged") => true,
        Some("any") => false,
        Some(other) => {
            let at = raw
                .others
                .as_ref()
                .map(|t| span_origin(c.file, t))
                .unwrap_or_else(|| origin.clone());
            c.invalid(
                &at,
                format!("bad `others` `{other}`{ctx}: use `unchanged` (default) or `any`"),
            );
            true
        }
    };
    Some(Delta {
        observers,
        tribunal,
        expect,
        conserve,
        within: within?,
        others_unchanged,
        origin,
    })
}

/// Converts the wall's `surface:`.
pub(crate) fn convert_surface(
    file: &str,
    spanned: &Spanned<RawSurface>,
) -> Result<Surface, Vec<SpecError>> {
    let raw = &spanned.value;
    let mut errors = Vec::new();
    let mut dimensions: Vec<(String, Vec<String>)> = Vec::new();
    let mut cells: usize = 1;
    for (name, values) in &raw.dimensions.value.0 {
        let at = span_origin(file, name);
        if dimensions.iter().any(|(d, _)| *d == name.value) {
            errors.push(SpecError::at(
                SpecErrorKind::Invalid,
                &at,
                format!("dimension `{}` is declared twice", name.value),
            ));
            continue;
        }
        if values.is_empty() {
            errors.push(SpecError::at(
                SpecErrorKind::Invalid,
                &at,
                format!("dimension `{}` has no values", name.value),
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        for v in values {
            if seen.contains(&v.value) {
                errors.push(SpecError::at(
                    SpecErrorKind::Invalid,
                    &span_origin(file, v),
                    format!(
                        "value `{}` appears twice in dimension `{}`",
                        v.value, name.value
                    ),
                ));
            } else {
                seen.push(v.value.clone());
            }
        }
        cells = cells.saturating_mul(seen.len().max(1));
        dimensions.push((name.value.clone(), seen));
    }
    if cells > MAX_CELLS {
        errors.push(SpecError::at(
            SpecErrorKind::Invalid,
            &span_origin(file, &raw.dimensions),
            format!("the surface has {cells} cells, more than {MAX_CELLS}: split it"),
        ));
    }
    let known = |dim: &str| dimensions.iter().any(|(d, _)| d == dim);
    let names: Vec<&str> = dimensions.iter().map(|(d, _)| d.as_str()).collect();
    let assignment =
        |map: &BTreeMap<String, Vec<Text>>, at: &Origin, errors: &mut Vec<SpecError>| {
            map.iter()
                .filter_map(|(dim, globs)| {
                    if !known(dim) {
                        errors.push(
                            SpecError::at(
                                SpecErrorKind::UnknownReference,
                                at,
                                format!("unknown dimension `{dim}`"),
                            )
                            .with_hint(did_you_mean(dim, names.iter().copied())),
                        );
                        return None;
                    }
                    Some((dim.clone(), globs.iter().map(|g| g.value.clone()).collect()))
                })
                .collect::<Vec<(String, Vec<String>)>>()
        };
    let rules = raw
        .rules
        .iter()
        .map(|r| {
            let at = span_origin(file, r);
            SurfaceRule {
                when: assignment(&r.value.when, &at, &mut errors),
                require: assignment(&r.value.require, &at, &mut errors),
            }
        })
        .collect();
    let blocked = raw
        .blocked
        .iter()
        .map(|b| {
            let at = span_origin(file, b);
            if b.value.reason.value.trim().is_empty() {
                errors.push(SpecError::at(
                    SpecErrorKind::Invalid,
                    &span_origin(file, &b.value.reason),
                    "a blocked cell needs a `reason`",
                ));
            }
            let cell: BTreeMap<String, Vec<Text>> = b
                .value
                .cell
                .iter()
                .map(|(k, v)| (k.clone(), vec![v.clone()]))
                .collect();
            BlockedCell {
                cell: assignment(&cell, &at, &mut errors)
                    .into_iter()
                    .map(|(d, mut v)| (d, v.pop().unwrap_or_default()))
                    .collect(),
                reason: b.value.reason.value.clone(),
                ticket: b.value.ticket.as_ref().map(|t| t.value.clone()),
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(Surface {
            dimensions,
            rules,
            blocked,
            origin: span_origin(file, spanned),
        })
    } else {
        Err(errors)
    }
}

/// Wall-wide scenario validation.
pub(crate) fn validate_scenarios(
    checks: &[Check],
    refs: &[ScenarioRef],
    surface: Option<&Surface>,
    observers: &BTreeMap<String, Observer>,
    root_path: &str,
) -> Vec<SpecError> {
    let mut open_cells: Option<Vec<crate::surface::Cell>> = None;
    let mut errors = Vec::new();
    let probes: Vec<&str> = checks
        .iter()
        .filter(|c| c.probe().is_some())
        .map(|c| c.id.as_str())
        .collect();
    for r in refs {
        match r {
            ScenarioRef::Check { id, at } => {
                if !probes.contains(&id.as_str()) {
                    errors.push(
                        SpecError::at(
                            SpecErrorKind::UnknownReference,
                            at,
                            format!("scenario step `{id}` is not a probe check of this wall"),
                        )
                        .with_hint(did_you_mean(id, probes.iter().copied())),
                    );
                }
            }
            ScenarioRef::Observer { name, at } => {
                if !observers.contains_key(name) {
                    errors.push(
                        SpecError::at(SpecErrorKind::UnknownReference, at, format!("unknown observer `{name}`: observers are declared under `observers:` in {root_path}"))
                            .with_hint(did_you_mean(name, observers.keys().map(String::as_str))),
                    );
                }
            }
            ScenarioRef::Cell { cell, at, origin } => {
                let Some(surface) = surface else {
                    errors.push(SpecError::at(
                        SpecErrorKind::UnknownReference,
                        origin,
                        "this scenario names a `cell` but the wall declares no `surface:`",
                    ));
                    continue;
                };
                let mut ok = true;
                for (dim, value) in cell {
                    let where_ = at.get(dim).unwrap_or(origin);
                    match surface.dimensions.iter().find(|(d, _)| d == dim) {
                        None => {
                            ok = false;
                            errors.push(
                                SpecError::at(
                                    SpecErrorKind::UnknownReference,
                                    where_,
                                    format!("unknown dimension `{dim}`"),
                                )
                                .with_hint(did_you_mean(
                                    dim,
                                    surface.dimensions.iter().map(|(d, _)| d.as_str()),
                                )),
                            );
                        }
                        Some((_, values)) if !values.contains(value) => {
                            ok = false;
                            errors.push(
                                SpecError::at(
                                    SpecErrorKind::UnknownReference,
                                    where_,
                                    format!("`{value}` is not a value of dimension `{dim}`"),
                                )
                                .with_hint(did_you_mean(value, values.iter().map(String::as_str))),
                            );
                        }
                        Some(_) => {}
                    }
                }
                if ok {
                    // Enumerated once for the whole wall: a surface can have many cells.
                    let open = open_cells.get_or_insert_with(|| {
                        surface
                            .cells()
                            .into_iter()
                            .filter(|c| surface.is_valid(c) && surface.blocked(c).is_none())
                            .collect::<Vec<_>>()
                    });
                    if !open.iter().any(|c| covers(cell, c)) {
                        errors.push(SpecError::at(
                            SpecErrorKind::Invalid,
                            origin,
                            "this scenario's cell is not a valid, unblocked cell of the surface (the surface's rules exclude it, or it is blocked)",
                        ));
                    }
                }
            }
        }
    }
    errors
}

/// Converts the tiered canary fixtures of one file.
pub(crate) fn convert_canaries(
    file: &str,
    raw: &[Spanned<RawCanaryFixture>],
    interp: &mut Interpolator,
) -> (Vec<CanaryFixture>, Vec<SpecError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for spanned in raw {
        let r = &spanned.value;
        let origin = span_origin(file, spanned);
        let tier = match r.tier.value.as_str() {
            "T1" => Some(Tier::T1),
            "T2" => Some(Tier::T2),
            "T3" => Some(Tier::T3),
            "T4" => Some(Tier::T4),
            other => {
                errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &span_origin(file, &r.tier),
                        format!(
                            "bad canary `tier` `{other}` in canary `{}`: use T1, T2, T3 or T4",
                            r.id.value
                        ),
                    )
                    .with_key("tier"),
                );
                None
            }
        };
        if !matches!(r.expect.value.as_str(), "pass" | "fail" | "drift" | "error") {
            errors.push(
                SpecError::at(
                    SpecErrorKind::Invalid,
                    &span_origin(file, &r.expect),
                    format!(
                        "bad canary `expect` `{}` in canary `{}`: the verdict the target must get: pass, fail, drift or error",
                        r.expect.value, r.id.value
                    ),
                )
                .with_key("expect"),
            );
        }
        let fault = match interp.text(&r.fault.value, &span_origin(file, &r.fault)) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(tier) = tier {
            out.push(CanaryFixture {
                id: r.id.value.clone(),
                tier,
                description: r.description.as_ref().map(|d| d.value.clone()),
                target: r.target.value.clone(),
                fault,
                expect: r.expect.value.clone(),
                origin,
            });
        }
    }
    (out, errors)
}

/// Canary targets name checks of the wall; ids are unique among canaries; the wall has a
/// control API to switch faults with.
pub(crate) fn validate_canaries(
    checks: &[Check],
    canaries: &[CanaryFixture],
    has_control: bool,
    root_path: &str,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    for (i, c) in canaries.iter().enumerate() {
        if canaries[..i].iter().any(|o| o.id == c.id) {
            errors.push(SpecError::at(
                SpecErrorKind::DuplicateId,
                &c.origin,
                format!("duplicate canary id `{}`", c.id),
            ));
        }
        if !ids.contains(&c.target.as_str()) {
            errors.push(
                SpecError::at(
                    SpecErrorKind::UnknownReference,
                    &c.origin,
                    format!("canary `{}` targets unknown check `{}`", c.id, c.target),
                )
                .with_hint(did_you_mean(&c.target, ids.iter().copied())),
            );
        }
        if !has_control {
            errors.push(SpecError::at(
                SpecErrorKind::UnknownReference,
                &c.origin,
                format!("canary `{}` switches a fault, so the wall needs `drills.control` in {root_path}", c.id),
            ));
        }
    }
    errors
}
