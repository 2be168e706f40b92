//! Building a validated [`Wall`] from source texts: spec files, checks, references, cycles.
//!
//! Owns: converting raw checks into the model (defaults, interpolation, exactly-one probe kind,
//! default contracts), wall-wide validation (unique ids, `needs`, cycles) and collecting every
//! error found. Must not touch: reading files or globbing (the harness hands in texts).

use std::collections::HashMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::calibration::{convert_calibration, WallFiles};
use crate::condition::{parse_condition, Condition};
use crate::drill::{convert_drill, validate_drills};
use crate::error::{did_you_mean, sort_errors, SpecError, SpecErrorKind};
use crate::interp::{Interpolator, Resolver};
use crate::model::*;
use crate::profile::Profile;
use crate::raw::{self, RawCheck, RawSeverity, RawSpecFile, SkeletonSpec, Text};
use crate::root::{retries, RootConfig};
use crate::scenario::{
    convert_canaries, convert_scenario, convert_surface, validate_canaries, validate_scenarios,
    ScenarioRef,
};
use crate::source::SourceFile;
use crate::units::{parse_duration, parse_size};
use crate::yaml::{self, span_origin};

/// Top-level keys of a spec file reserved for suites that are not implemented yet; named in
/// "did you mean" so a typo of a future key still gets a useful answer.
const FUTURE_SUITES: [&str; 0] = [];

pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) fn duration(
    file: &str,
    field: &str,
    t: &Text,
    ctx: &str,
) -> Result<Duration, SpecError> {
    let at = span_origin(file, t);
    let d = parse_duration(&t.value).map_err(|reason| {
        SpecError::at(
            SpecErrorKind::BadDuration,
            &at,
            format!("bad duration `{}` for `{field}`{ctx}: {reason}", t.value),
        )
        .with_key(field)
    })?;
    if d.is_zero() {
        return Err(SpecError::at(
            SpecErrorKind::BadDuration,
            &at,
            format!(
                "bad duration `{}` for `{field}`{ctx}: must be more than 0",
                t.value
            ),
        )
        .with_key(field));
    }
    Ok(d)
}

/// `text` is the interpolated value of `t`.
pub(crate) fn size(
    file: &str,
    field: &str,
    t: &Text,
    text: &str,
    ctx: &str,
) -> Result<u64, SpecError> {
    parse_size(text).map_err(|reason| {
        SpecError::at(
            SpecErrorKind::BadSize,
            &span_origin(file, t),
            format!("bad size `{text}` for `{field}`{ctx}: {reason}"),
        )
        .with_key(field)
    })
}

/// Builds the validated wall. Returns every error found, sorted by file, line and column.
pub fn build_wall(
    root: &SourceFile,
    root_cfg: &RootConfig,
    specs: &[SourceFile],
    profile: &Profile,
    resolver: &dyn Resolver,
    files: &dyn WallFiles,
) -> Result<Wall, Vec<SpecError>> {
    let mut interp = Interpolator::new(profile, resolver);
    let mut errors = Vec::new();
    let prerequisites = root_cfg
        .prerequisites(root, &mut interp)
        .unwrap_or_else(|e| {
            errors.extend(e);
            Prerequisites::default()
        });

    let mut order: Vec<&SourceFile> = specs.iter().collect();
    order.sort_by(|a, b| a.path.cmp(&b.path));
    let mut checks = Vec::new();
    // Ids of checks that failed to convert: `needs` on them is not a second error.
    let mut failed_ids = Vec::new();
    let mut drill_refs = Vec::new();
    let mut scenario_refs = Vec::new();
    let mut surface: Option<(Origin, Surface)> = None;
    let mut surface_failed = false;
    let mut canaries = Vec::new();
    for src in order {
        let ctx = |line, column| spec_context(src, line, column);
        let parsed: Result<RawSpecFile, SpecError> = yaml::parse(src, &FUTURE_SUITES, &ctx);
        match parsed {
            Err(e) => errors.push(e),
            Ok(file) => {
                for (index, raw) in file.probes.iter().flatten().enumerate() {
                    match convert_check(src, index, raw, &root_cfg.settings, &mut interp) {
                        Ok(converted) => checks.push(converted),
                        Err(e) => {
                            errors.extend(e);
                            failed_ids.push(raw.value.id.value.clone());
                        }
                    }
                }
                for (index, raw) in file.drills.iter().flatten().enumerate() {
                    let settings = &root_cfg.settings;
                    match convert_drill(src, index, raw, settings, &mut interp, &mut drill_refs) {
                        Ok(converted) => checks.push(converted),
                        Err(e) => {
                            errors.extend(e);
                            failed_ids.push(raw.value.id.value.clone());
                        }
                    }
                }
                for (index, raw) in file.scenarios.iter().flatten().enumerate() {
                    let settings = &root_cfg.settings;
                    match convert_scenario(
                        src,
                        index,
                        raw,
                        settings,
                        &mut interp,
                        &mut scenario_refs,
                    ) {
                        Ok(converted) => checks.push(converted),
                        Err(e) => {
                            errors.extend(e);
                            failed_ids.push(raw.value.id.value.clone());
                        }
                    }
                }
                if let Some(raw) = &file.canaries {
                    let (mut found, errs) = convert_canaries(&src.path, raw, &mut interp);
                    canaries.append(&mut found);
                    errors.extend(errs);
                }
                if let Some(raw) = &file.surface {
                    match (&surface, convert_surface(&src.path, raw)) {
                        (Some((first, _)), _) => errors.push(SpecError::at(
                            SpecErrorKind::Invalid,
                            &span_origin(&src.path, raw),
                            format!("a second `surface:` (the first is at {first}); a wall has one surface"),
                        )),
                        (None, Ok(s)) => surface = Some((s.origin.clone(), s)),
                        (None, Err(e)) => {
                            errors.extend(e);
                            surface_failed = true;
                        }
                    }
                }
                for (index, raw) in file.calibration.iter().flatten().enumerate() {
                    let settings = &root_cfg.settings;
                    match convert_calibration(src, index, raw, settings, &mut interp, files) {
                        Ok(converted) => checks.push(converted),
                        Err(e) => {
                            errors.extend(e);
                            failed_ids.push(raw.value.id.value.clone());
                        }
                    }
                }
            }
        }
    }
    let (calibration, settings_ok) = match root_cfg.calibration(&mut interp) {
        Ok(settings) => (settings, true),
        Err(e) => {
            errors.extend(e);
            (CalibrationSettings::default(), false)
        }
    };
    if settings_ok && calibration.roots.is_empty() {
        if let Some(first) = checks.iter().find(|c| c.check.suite == Suite::Calibration) {
            errors.push(
                SpecError::at(
                    SpecErrorKind::MissingKey,
                    &first.check.origin,
                    format!(
                        "calibration check `{}` needs `calibration.roots` in {}",
                        first.check.id, root.path
                    ),
                )
                .with_key("roots")
                .with_hint(Some(
                    "list the directories deployed files may be in: calibration reads and writes nowhere else"
                        .to_string(),
                )),
            );
        }
    }
    let (services, drills) = root_cfg.drills(&mut interp).unwrap_or_else(|e| {
        errors.extend(e);
        Default::default()
    });
    let all: Vec<Check> = checks.iter().map(|c| c.check.clone()).collect();
    // References to checks that failed to convert are not second errors.
    drill_refs.retain(|r| !failed_ids.contains(&r.name));
    errors.extend(validate_drills(
        &all,
        &drill_refs,
        &services,
        &drills,
        &root.path,
    ));
    let observers = root_cfg.observers(&mut interp).unwrap_or_else(|e| {
        errors.extend(e);
        Default::default()
    });
    let surface = surface.map(|(_, s)| s);
    if !surface_failed {
        scenario_refs
            .retain(|r| !matches!(r, ScenarioRef::Check { id, .. } if failed_ids.contains(id)));
        errors.extend(validate_scenarios(
            &all,
            &scenario_refs,
            surface.as_ref(),
            &observers,
            &root.path,
        ));
    }
    errors.extend(validate_canaries(
        &all,
        &canaries,
        drills.control.is_some(),
        &root.path,
    ));
    errors.extend(validate_graph(&checks, &failed_ids));
    if !errors.is_empty() {
        sort_errors(&mut errors);
        return Err(errors);
    }
    Ok(Wall {
        name: root_cfg.name.clone(),
        description: root_cfg.description.clone(),
        settings: root_cfg.settings.clone(),
        prerequisites,
        calibration,
        services: services
            .into_iter()
            .map(|(name, (spec, _))| (name, spec))
            .collect(),
        drills,
        observers,
        surface,
        canaries,
        checks: checks.into_iter().map(|c| c.check).collect(),
        secrets: interp.secrets,
    })
}

/// Names the check a location falls in: the last check starting before it whose keys are not
/// to the right of it (top-level keys sit at column 1, check keys further in).
fn spec_context(src: &SourceFile, line: u32, column: u32) -> String {
    if column <= 1 {
        return " at the top level".to_string();
    }
    let Some(skeleton) = yaml::parse_quietly::<SkeletonSpec>(src) else {
        return String::new();
    };
    // Each section numbers its checks from 1; the one starting last before the location wins.
    let mut checks: Vec<(usize, &Spanned<raw::SkeletonCheck>)> = Vec::new();
    for section in [
        &skeleton.probes,
        &skeleton.calibration,
        &skeleton.drills,
        &skeleton.scenarios,
    ]
    .into_iter()
    .flatten()
    {
        checks.extend(section.iter().enumerate());
    }
    checks.sort_by_key(|(_, c)| (c.referenced.line(), c.referenced.column()));
    checks
        .iter()
        .rfind(|(_, c)| {
            let (l, col) = (c.referenced.line(), c.referenced.column());
            (l, col) <= (u64::from(line), u64::from(column)) && u64::from(column) >= col
        })
        .map(|(i, c)| check_label(c.value.id.as_ref().and_then(|v| v.as_str()), *i))
        .unwrap_or_default()
}

fn check_label(id: Option<&str>, index: usize) -> String {
    match id {
        Some(id) if !id.is_empty() => format!(" in check `{id}`"),
        _ => format!(" in check #{}", index + 1),
    }
}

/// Converts one check, collecting every error in it rather than stopping at the first.
pub(crate) struct Converter<'i, 'p> {
    pub(crate) file: &'i str,
    pub(crate) ctx: String,
    pub(crate) interp: &'i mut Interpolator<'p>,
    pub(crate) errors: Vec<SpecError>,
}

impl Converter<'_, '_> {
    pub(crate) fn keep<T>(&mut self, r: Result<T, SpecError>) -> Option<T> {
        r.map_err(|e| self.errors.push(e)).ok()
    }

    pub(crate) fn text(&mut self, t: &Text) -> String {
        let r = self.interp.text(&t.value, &span_origin(self.file, t));
        self.keep(r).unwrap_or_default()
    }

    pub(crate) fn opt_text(&mut self, t: &Option<Text>) -> Option<String> {
        t.as_ref().map(|t| self.text(t))
    }

    pub(crate) fn duration(&mut self, field: &str, t: &Option<Text>) -> Option<Duration> {
        let r = duration(self.file, field, t.as_ref()?, &self.ctx);
        self.keep(r)
    }

    pub(crate) fn invalid(&mut self, at: &Origin, message: String) {
        self.errors
            .push(SpecError::at(SpecErrorKind::Invalid, at, message));
    }

    /// Exactly one of two keys: `pid_file`/`name`, `json`/`body`.
    fn one_of(&mut self, at: &Origin, a: (&str, bool), b: (&str, bool), required: bool) {
        let ctx = self.ctx.clone();
        match (a.1, b.1) {
            (true, true) => self.invalid(
                at,
                format!("`{}` and `{}` cannot both be given{ctx}", a.0, b.0),
            ),
            (false, false) if required => self.invalid(
                at,
                format!("one of `{}` or `{}` is required{ctx}", a.0, b.0),
            ),
            _ => {}
        }
    }
}

/// The probe keys present in a check, so "exactly one" can be decided before converting.
pub(crate) enum RawProbe<'a> {
    Http(&'a Spanned<raw::RawHttp>),
    Tcp(&'a Spanned<raw::RawTcp>),
    Process(&'a Spanned<raw::RawProcess>),
    Port(&'a Spanned<raw::RawPort>),
    File(&'a Spanned<raw::RawFile>),
    Command(&'a Spanned<raw::RawCommand>),
    Model(&'a Spanned<raw::RawModel>),
}

impl RawProbe<'_> {
    fn kind(&self) -> &'static str {
        match self {
            RawProbe::Http(_) => "http",
            RawProbe::Tcp(_) => "tcp",
            RawProbe::Process(_) => "process",
            RawProbe::Port(_) => "port",
            RawProbe::File(_) => "file",
            RawProbe::Command(_) => "command",
            RawProbe::Model(_) => "model",
        }
    }
}

fn present_probes(raw: &RawCheck) -> Vec<RawProbe<'_>> {
    let mut out = Vec::new();
    out.extend(raw.http.as_ref().map(RawProbe::Http));
    out.extend(raw.tcp.as_ref().map(RawProbe::Tcp));
    out.extend(raw.process.as_ref().map(RawProbe::Process));
    out.extend(raw.port.as_ref().map(RawProbe::Port));
    out.extend(raw.file.as_ref().map(RawProbe::File));
    out.extend(raw.command.as_ref().map(RawProbe::Command));
    out.extend(raw.model.as_ref().map(RawProbe::Model));
    out
}

/// A converted check plus where each of its `needs` entries was written.
pub(crate) struct Converted {
    check: Check,
    needs_at: Vec<Origin>,
}

/// The fields every check kind shares, borrowed from its raw shape.
pub(crate) struct RawHeader<'a> {
    pub id: &'a Text,
    pub description: &'a Option<Text>,
    pub severity: &'a Option<RawSeverity>,
    pub tags: &'a [Text],
    pub needs: &'a [Text],
    pub timeout: &'a Option<Text>,
    pub retries: &'a Option<Spanned<u32>>,
    pub disruptive: Option<bool>,
    pub canary: &'a Option<Spanned<raw::RawCanary>>,
}

fn convert_check(
    src: &SourceFile,
    index: usize,
    spanned: &Spanned<RawCheck>,
    settings: &Settings,
    interp: &mut Interpolator,
) -> Result<Converted, Vec<SpecError>> {
    let raw = &spanned.value;
    let header = RawHeader {
        id: &raw.id,
        description: &raw.description,
        severity: &raw.severity,
        tags: &raw.tags,
        needs: &raw.needs,
        timeout: &raw.timeout,
        retries: &raw.retries,
        disruptive: raw.disruptive,
        canary: &raw.canary,
    };
    let origin = span_origin(&src.path, spanned);
    convert_with(
        src,
        index,
        &origin,
        &header,
        settings,
        interp,
        Suite::Probes,
        |c| probe_kind(c, raw, &origin),
    )
}

/// Converts the shared fields, then the kind-specific body; every error of both is kept.
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert_with(
    src: &SourceFile,
    index: usize,
    origin: &Origin,
    raw: &RawHeader,
    settings: &Settings,
    interp: &mut Interpolator,
    suite: Suite,
    body: impl FnOnce(&mut Converter) -> Option<CheckKind>,
) -> Result<Converted, Vec<SpecError>> {
    let file = src.path.as_str();
    let id = raw.id.value.clone();
    let mut c = Converter {
        file,
        ctx: check_label(Some(&id), index),
        interp,
        errors: Vec::new(),
    };
    let id_at = span_origin(file, raw.id);
    if id.is_empty() {
        let e = SpecError::at(SpecErrorKind::Invalid, &id_at, "empty check id").with_key("id");
        c.errors.push(e);
    } else if !is_valid_id(&id) {
        let message =
            format!("bad check id `{id}`: ids may only contain letters, digits, `.`, `_` and `-`");
        c.errors
            .push(SpecError::at(SpecErrorKind::Invalid, &id_at, message).with_key("id"));
    }
    for tag in raw.tags {
        if !is_valid_id(&tag.value) {
            let message = format!(
                "bad tag `{}`{}: tags may only contain letters, digits, `.`, `_` and `-`",
                tag.value, c.ctx
            );
            c.invalid(&span_origin(file, tag), message);
        }
    }
    let timeout = match raw.timeout {
        Some(_) => c.duration("timeout", raw.timeout),
        None => Some(settings.timeout),
    };
    let retries = match raw.retries {
        Some(r) => {
            let r = retries(file, r, &c.ctx);
            c.keep(r)
        }
        None => Some(settings.retries),
    };
    let description = c.opt_text(raw.description);
    let kind = body(&mut c);
    match (kind, timeout, retries) {
        (Some(kind), Some(timeout), Some(retries)) if c.errors.is_empty() => Ok(Converted {
            check: Check {
                id,
                suite,
                description,
                severity: match raw.severity {
                    Some(RawSeverity::P0) => Severity::P0,
                    Some(RawSeverity::P1) => Severity::P1,
                    Some(RawSeverity::P2) | None => Severity::P2,
                    Some(RawSeverity::P3) => Severity::P3,
                },
                tags: raw.tags.iter().map(|t| t.value.clone()).collect(),
                needs: raw.needs.iter().map(|t| t.value.clone()).collect(),
                timeout,
                retries,
                disruptive: raw.disruptive.unwrap_or(false),
                kind,
                canary: raw.canary.as_ref().map(|c| Canary {
                    fault: c.value.fault.value.clone(),
                    origin: span_origin(file, &c.value.fault),
                }),
                origin: origin.clone(),
            },
            needs_at: raw.needs.iter().map(|t| span_origin(file, t)).collect(),
        }),
        _ => Err(c.errors),
    }
}

fn probe_kind(c: &mut Converter, raw: &RawCheck, origin: &Origin) -> Option<CheckKind> {
    let probes = present_probes(raw);
    let probe = match probes.as_slice() {
        [one] => convert_probe(c, one),
        kinds => {
            let message = if kinds.is_empty() {
                format!("no probe kind{}", c.ctx)
            } else {
                let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.kind())).collect();
                format!("more than one probe kind{}: {}", c.ctx, names.join(", "))
            };
            let hint =
                "use exactly one of `http`, `tcp`, `process`, `port`, `file`, `command`, `model`";
            c.errors.push(
                SpecError::at(SpecErrorKind::Invalid, origin, message)
                    .with_hint(Some(hint.to_string())),
            );
            return None;
        }
    };
    let mut expect = Vec::new();
    for cond in &raw.expect {
        let at = span_origin(c.file, cond);
        let parsed = c
            .interp
            .text(&cond.value, &at)
            .and_then(|text| parse_condition(&text, probe.kind(), at.clone()))
            // Reports show the condition as written, so a `${secret:..}` never leaks.
            .map(|parsed| Condition {
                text: cond.value.clone(),
                ..parsed
            });
        expect.extend(c.keep(parsed));
    }
    if raw.expect.is_empty() {
        for text in probe.default_expect() {
            let parsed = parse_condition(text, probe.kind(), origin.clone());
            expect.extend(c.keep(parsed));
        }
    }
    Some(CheckKind::Probe { probe, expect })
}

pub(crate) fn convert_probe(c: &mut Converter, raw: &RawProbe) -> Probe {
    match raw {
        RawProbe::Http(h) => {
            let at_http = span_origin(c.file, h);
            let h = &h.value;
            c.one_of(
                &at_http,
                ("json", h.json.is_some()),
                ("body", h.body.is_some()),
                false,
            );
            let body = match (&h.json, &h.body) {
                (Some(j), _) => {
                    let r = c.interp.json(&j.value, &span_origin(c.file, j));
                    c.keep(r).map(HttpBody::Json)
                }
                (None, Some(b)) => Some(HttpBody::Text(c.text(b))),
                (None, None) => None,
            };
            let method = c.opt_text(&h.method).unwrap_or_else(|| "GET".to_string());
            if method.is_empty() || !method.chars().all(|ch| ch.is_ascii_alphabetic()) {
                let message = format!("bad HTTP method `{method}`{}", c.ctx);
                let at = h.method.as_ref().map(|m| span_origin(c.file, m));
                c.invalid(at.as_ref().unwrap_or(&at_http), message);
            }
            Probe::Http(HttpProbe {
                method: method.to_ascii_uppercase(),
                url: c.text(&h.url),
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), c.text(v)))
                    .collect(),
                body,
                timeout: c.duration("timeout", &h.timeout),
            })
        }
        RawProbe::Tcp(t) => Probe::Tcp(TcpProbe {
            address: c.text(&t.value.address),
            timeout: c.duration("timeout", &t.value.timeout),
        }),
        RawProbe::Process(p) => {
            let at = span_origin(c.file, p);
            let p = &p.value;
            c.one_of(
                &at,
                ("pid_file", p.pid_file.is_some()),
                ("name", p.name.is_some()),
                true,
            );
            let selector = match &p.pid_file {
                Some(f) => ProcessSelector::PidFile(c.text(f)),
                None => ProcessSelector::Name(c.opt_text(&p.name).unwrap_or_default()),
            };
            Probe::Process(ProcessProbe {
                selector,
                exe: c.opt_text(&p.exe),
            })
        }
        RawProbe::Port(p) => Probe::Port(PortProbe {
            address: c.text(&p.value.address),
            owner: c.opt_text(&p.value.owner),
            owner_pid_file: c.opt_text(&p.value.owner_pid_file),
        }),
        RawProbe::File(f) => Probe::File(FileProbe {
            path: c.text(&f.value.path),
        }),
        RawProbe::Command(cmd) => {
            let at = span_origin(c.file, cmd);
            let cmd = &cmd.value;
            let mut run: Vec<String> = cmd.run.iter().map(|t| c.text(t)).collect();
            if run.is_empty() {
                let message = format!("`run` must name a program{}", c.ctx);
                c.invalid(&at, message);
                run.push(String::new());
            }
            let program = run.remove(0);
            Probe::Command(CommandProbe {
                program,
                args: run,
                env: cmd
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), c.text(v)))
                    .collect(),
                cwd: c.opt_text(&cmd.cwd),
            })
        }
        RawProbe::Model(m) => convert_model(c, m),
    }
}

fn convert_model(c: &mut Converter, spanned: &Spanned<raw::RawModel>) -> Probe {
    let m = &spanned.value;
    let repeat = match &m.repeat {
        Some(r) if r.value == 0 || r.value > MAX_MODEL_REPEAT => {
            let message = format!(
                "bad `repeat` {}{}: must be 1 to {MAX_MODEL_REPEAT}",
                r.value, c.ctx
            );
            c.invalid(&span_origin(c.file, r), message);
            1
        }
        Some(r) => r.value,
        None => 1,
    };
    if m.prompts.value.is_empty() {
        let message = format!("`prompts` is empty{}: give at least one prompt", c.ctx);
        c.invalid(&span_origin(c.file, &m.prompts), message);
    }
    let prompts = m
        .prompts
        .value
        .iter()
        .map(|p| GoldenPrompt {
            ask: c.text(&p.value.ask),
            expect: golden_answer(c, &p.value.expect),
        })
        .collect();
    let served_by_header = match &m.served_by_header {
        Some(t) => {
            let name = c.text(t);
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'));
            if !valid {
                let message = format!(
                    "bad header name `{name}` for `served_by_header`{}: use letters, digits, `-` and `_`",
                    c.ctx
                );
                c.invalid(&span_origin(c.file, t), message);
            }
            name.to_ascii_lowercase()
        }
        None => DEFAULT_SERVED_BY_HEADER.to_string(),
    };
    Probe::Model(ModelProbe {
        url: c.text(&m.url),
        model: c.opt_text(&m.model),
        served_by_header,
        repeat,
        prompts,
    })
}

/// Exactly one matcher per prompt; a placeholder stands in for a bad one so every other
/// error in the check is still collected.
fn golden_answer(c: &mut Converter, spanned: &Spanned<raw::RawAnswer>) -> GoldenAnswer {
    let at = span_origin(c.file, spanned);
    let a = &spanned.value;
    let given: Vec<&str> = [
        ("exact", a.exact.is_some()),
        ("contains", a.contains.is_some()),
        ("regex", a.regex.is_some()),
        ("number", a.number.is_some()),
        ("json_shape", a.json_shape.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_string()
        } else {
            let names: Vec<String> = given.iter().map(|n| format!("`{n}`")).collect();
            names.join(", ")
        };
        let message = format!(
            "a prompt's `expect` needs exactly one of `exact`, `contains`, `regex`, `number`, `json_shape`{}, found {found}",
            c.ctx
        );
        c.invalid(&at, message);
        return GoldenAnswer::Contains(String::new());
    }
    if let Some(t) = &a.exact {
        return GoldenAnswer::Exact(c.text(t));
    }
    if let Some(t) = &a.contains {
        return GoldenAnswer::Contains(c.text(t));
    }
    if let Some(t) = &a.regex {
        let pattern = c.text(t);
        if let Err(e) = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
        {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim().to_string();
            let message = format!("bad regex `{pattern}`{}", c.ctx);
            c.errors.push(
                SpecError::at(SpecErrorKind::Invalid, &span_origin(c.file, t), message)
                    .with_hint(Some(last)),
            );
        }
        return GoldenAnswer::Regex(pattern);
    }
    if let Some(n) = &a.number {
        let tolerance = n.value.tolerance.as_ref().map_or(0.0, |t| t.value);
        if tolerance < 0.0 || !n.value.value.is_finite() || !tolerance.is_finite() {
            let at = n
                .value
                .tolerance
                .as_ref()
                .map_or_else(|| span_origin(c.file, n), |t| span_origin(c.file, t));
            let message = format!(
                "bad `number` {} ± {tolerance}{}: the value must be finite and the tolerance 0 or more",
                n.value.value, c.ctx
            );
            c.invalid(&at, message);
        }
        return GoldenAnswer::Number {
            value: n.value.value,
            tolerance,
        };
    }
    let keys = a
        .json_shape
        .as_ref()
        .map_or(&[][..], |k| k.value.as_slice());
    if keys.is_empty() {
        let message = format!("`json_shape` is empty{}: name at least one key", c.ctx);
        c.invalid(&at, message);
    }
    GoldenAnswer::JsonShape(keys.iter().map(|k| c.text(k)).collect())
}

/// Unique ids, known `needs`, no self-needs, no cycles.
fn validate_graph(converted: &[Converted], failed_ids: &[String]) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, c) in converted.iter().enumerate() {
        let check = &c.check;
        if let Some(&first) = index.get(check.id.as_str()) {
            let first = &converted[first].check.origin;
            errors.push(
                SpecError::at(
                    SpecErrorKind::DuplicateId,
                    &check.origin,
                    format!(
                        "duplicate check id `{}` (first defined at {first})",
                        check.id
                    ),
                )
                .with_key(check.id.clone()),
            );
        } else {
            index.insert(&check.id, i);
        }
    }
    let ids: Vec<&str> = index.keys().copied().collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); converted.len()];
    for (i, c) in converted.iter().enumerate() {
        for (need, at) in c.check.needs.iter().zip(&c.needs_at) {
            match index.get(need.as_str()) {
                Some(_) if *need == c.check.id => errors.push(
                    SpecError::at(
                        SpecErrorKind::Cycle,
                        at,
                        format!("check `{need}` needs itself"),
                    )
                    .with_key(need.clone()),
                ),
                Some(&j) => edges[i].push(j),
                None if failed_ids.contains(need) => {}
                None => errors.push(
                    SpecError::at(
                        SpecErrorKind::UnknownReference,
                        at,
                        format!("check `{}` needs unknown check `{need}`", c.check.id),
                    )
                    .with_key(need.clone())
                    .with_hint(did_you_mean(need, ids.iter().copied())),
                ),
            }
        }
    }
    for cycle in find_cycles(&edges) {
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| converted[i].check.id.as_str())
            .collect();
        let first = &converted[cycle[0]].check;
        errors.push(
            SpecError::at(
                SpecErrorKind::Cycle,
                &first.origin,
                format!("dependency cycle: {}", names.join(" → ")),
            )
            .with_key(first.id.clone()),
        );
    }
    errors
}

/// Each cycle once, as a closed path (`a → b → a`). Iterative so a long chain cannot
/// overflow the stack; every node is entered once, so the work is bounded by nodes + edges.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    let mut cycles = Vec::new();
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match mark[to] {
                    Mark::New => {
                        mark[to] = Mark::Open;
                        stack.push((to, 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|&(n, _)| n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        cycle.push(to);
                        cycles.push(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    cycles
}
