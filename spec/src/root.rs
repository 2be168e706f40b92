//! `wall.yaml` (the root config) and the secrets file format.
//!
//! Owns: the root shape, its defaults, settings validation, and the deferred interpolation of
//! `prerequisites` and `secrets.file` (they need the profile, which comes later).
//! Must not touch: globbing `include` or reading the secrets file (the harness does I/O).

use std::collections::BTreeMap;

use crate::error::{SpecError, SpecErrorKind};
use crate::interp::{Interpolator, Resolver};
use crate::load::{duration, is_valid_id, size};
use crate::model::{
    CalibrationSettings, DrillSettings, Observer, Prerequisites, ServiceSpec, Settings,
};
use crate::profile::Profile;
use crate::raw::{
    RawCalibrationSettings, RawDrillSettings, RawObserver, RawPrerequisites, RawRoot, RawService,
    SkeletonRoot, Text,
};
use crate::source::SourceFile;
use crate::yaml::{self, span_origin};
use serde_saphyr::Spanned;

/// Spec-file globs used when `wall.yaml` has no `include:`.
pub const DEFAULT_INCLUDE: [&str; 4] = [
    "probes/**/*.yaml",
    "calibration/**/*.yaml",
    "drills/**/*.yaml",
    "scenarios/**/*.yaml",
];

/// The most retries a check may ask for; more would hide a broken system behind luck.
pub const MAX_RETRIES: u32 = 10;

/// `wall.yaml` before profile resolution: strings in `prerequisites` and `secrets` are not yet
/// interpolated.
#[derive(Debug, Clone)]
pub struct RootConfig {
    pub name: String,
    pub description: Option<String>,
    /// Spec-file globs relative to the wall directory.
    pub include: Vec<String>,
    pub settings: Settings,
    prerequisites: Option<RawPrerequisites>,
    secrets_file: Option<Text>,
    calibration: Option<RawCalibrationSettings>,
    services: Option<BTreeMap<String, Spanned<RawService>>>,
    drills: Option<RawDrillSettings>,
    observers: Option<BTreeMap<String, Spanned<RawObserver>>>,
    /// The path `wall.yaml` was parsed from, for locating deferred errors.
    source_path: String,
}

/// Parses and validates `wall.yaml`.
pub fn parse_root(src: &SourceFile) -> Result<RootConfig, SpecError> {
    let file = src.path.as_str();
    let raw: RawRoot = yaml::parse(src, &[], &|line, column| root_context(src, line, column))?;
    let name_at = span_origin(file, &raw.name);
    if !is_valid_id(&raw.name.value) {
        return Err(SpecError::at(
            SpecErrorKind::Invalid,
            &name_at,
            format!(
                "bad wall name `{}`: names may only contain letters, digits, `.`, `_` and `-`",
                raw.name.value
            ),
        )
        .with_key("name"));
    }
    let include = match raw.include {
        None => DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect(),
        Some(patterns) => {
            for p in &patterns {
                let escapes = p.value.starts_with('/') || p.value.split('/').any(|c| c == "..");
                if p.value.is_empty() || escapes {
                    return Err(SpecError::at(
                        SpecErrorKind::Invalid,
                        &span_origin(file, p),
                        format!(
                            "bad include pattern `{}`: patterns are relative to the wall directory and stay inside it",
                            p.value
                        ),
                    )
                    .with_key("include"));
                }
            }
            patterns.into_iter().map(|p| p.value).collect()
        }
    };
    let mut settings = Settings::default();
    if let Some(s) = raw.settings {
        let ctx = " in `settings`";
        if let Some(t) = &s.timeout {
            settings.timeout = duration(file, "timeout", t, ctx)?;
        }
        if let Some(t) = &s.deadline {
            settings.deadline = duration(file, "deadline", t, ctx)?;
        }
        if let Some(r) = &s.retries {
            settings.retries = retries(file, r, ctx)?;
        }
        if let Some(j) = &s.jobs {
            if j.value == 0 {
                return Err(SpecError::at(
                    SpecErrorKind::Invalid,
                    &span_origin(file, j),
                    "`jobs` in `settings` must be at least 1",
                )
                .with_key("jobs"));
            }
            settings.jobs = j.value;
        }
        if let Some(a) = s.allow_disruptive {
            settings.allow_disruptive = a;
        }
    }
    Ok(RootConfig {
        name: raw.name.value,
        description: raw.description,
        include,
        settings,
        prerequisites: raw.prerequisites,
        secrets_file: raw.secrets.map(|s| s.file),
        calibration: raw.calibration,
        services: raw.services,
        drills: raw.drills,
        observers: raw.observers,
        source_path: src.path.clone(),
    })
}

pub(crate) fn retries(
    file: &str,
    r: &serde_saphyr::Spanned<u32>,
    ctx: &str,
) -> Result<u32, SpecError> {
    if r.value > MAX_RETRIES {
        return Err(SpecError::at(
            SpecErrorKind::Invalid,
            &span_origin(file, r),
            format!(
                "`retries`{ctx} must be between 0 and {MAX_RETRIES}, got {}",
                r.value
            ),
        )
        .with_key("retries"));
    }
    Ok(r.value)
}

/// Which top-level section of `wall.yaml` a location falls in, for messages.
fn root_context(src: &SourceFile, line: u32, column: u32) -> String {
    if column <= 1 {
        return " at the top level".to_string();
    }
    let Some(skeleton) = yaml::parse_quietly::<SkeletonRoot>(src) else {
        return String::new();
    };
    let sections = [
        ("settings", skeleton.settings.map(|s| s.referenced)),
        (
            "prerequisites",
            skeleton.prerequisites.map(|s| s.referenced),
        ),
        ("secrets", skeleton.secrets.map(|s| s.referenced)),
        ("calibration", skeleton.calibration.map(|s| s.referenced)),
        ("services", skeleton.services.map(|s| s.referenced)),
        ("drills", skeleton.drills.map(|s| s.referenced)),
        ("observers", skeleton.observers.map(|s| s.referenced)),
    ];
    sections
        .iter()
        .filter_map(|(name, loc)| loc.map(|l| (name, l.line())))
        .filter(|(_, l)| *l <= u64::from(line))
        .max_by_key(|(_, l)| *l)
        .map(|(name, _)| format!(" in `{name}`"))
        .unwrap_or_default()
}

impl RootConfig {
    /// The interpolated path of `secrets.file`, if the wall names one. The harness reads it and
    /// feeds [`parse_secrets`] into its [`Resolver`].
    pub fn secrets_file(
        &self,
        profile: &Profile,
        resolver: &dyn Resolver,
    ) -> Result<Option<String>, SpecError> {
        let Some(file) = &self.secrets_file else {
            return Ok(None);
        };
        let mut interp = Interpolator::new(profile, resolver);
        interp
            .text(&file.value, &span_origin(&self.source_path, file))
            .map(Some)
    }

    /// `prerequisites:` with every `${...}` resolved; all errors, not just the first.
    pub(crate) fn prerequisites(
        &self,
        root: &SourceFile,
        interp: &mut Interpolator,
    ) -> Result<Prerequisites, Vec<SpecError>> {
        let Some(raw) = &self.prerequisites else {
            return Ok(Prerequisites::default());
        };
        let mut errors = Vec::new();
        let mut list = |items: &[Text]| -> Vec<String> {
            items
                .iter()
                .filter_map(|t| {
                    interp
                        .text(&t.value, &span_origin(&root.path, t))
                        .map_err(|e| errors.push(e))
                        .ok()
                })
                .collect()
        };
        let prerequisites = Prerequisites {
            commands: list(&raw.commands),
            ports_free: list(&raw.ports_free),
            ports_used: list(&raw.ports_used),
            files: list(&raw.files),
            min_memory: None,
        };
        let min_memory = match &raw.min_memory {
            None => None,
            Some(t) => match interp.text(&t.value, &span_origin(&root.path, t)) {
                Ok(text) => size(&root.path, "min_memory", t, &text, " in `prerequisites`")
                    .map_err(|e| errors.push(e))
                    .ok(),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(Prerequisites {
                min_memory,
                ..prerequisites
            })
        } else {
            Err(errors)
        }
    }
}

impl RootConfig {
    /// `calibration:` with every `${...}` resolved and its limits validated; all errors.
    pub(crate) fn calibration(
        &self,
        interp: &mut Interpolator,
    ) -> Result<CalibrationSettings, Vec<SpecError>> {
        let mut settings = CalibrationSettings::default();
        let Some(raw) = &self.calibration else {
            return Ok(settings);
        };
        let file = self.source_path.as_str();
        let ctx = " in `calibration`";
        let mut errors = Vec::new();
        let mut text = |t: &Text| {
            interp
                .text(&t.value, &span_origin(file, t))
                .map_err(|e| errors.push(e))
                .ok()
        };
        settings.roots = raw.roots.iter().filter_map(&mut text).collect();
        if let Some(b) = raw.backups.as_ref().and_then(&mut text) {
            settings.backups = b;
        }
        if let Some(l) = raw.ledger.as_ref().and_then(&mut text) {
            settings.ledger = l;
        }
        let mut keep = |r: Result<u64, SpecError>| r.map_err(|e| errors.push(e)).ok();
        if let Some(t) = &raw.max_file_size {
            settings.max_file_size = keep(size(file, "max_file_size", t, &t.value, ctx))
                .unwrap_or(settings.max_file_size);
        }
        if let Some(t) = &raw.max_diff_size {
            settings.max_diff_size = keep(size(file, "max_diff_size", t, &t.value, ctx))
                .unwrap_or(settings.max_diff_size);
        }
        if let Some(t) = &raw.diff_timeout {
            match duration(file, "diff_timeout", t, ctx) {
                Ok(d) => settings.diff_timeout = d,
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

impl RootConfig {
    /// `services:` and `drills:` with every `${...}` resolved; all errors.
    #[allow(clippy::type_complexity)]
    pub(crate) fn drills(
        &self,
        interp: &mut Interpolator,
    ) -> Result<
        (
            BTreeMap<String, (ServiceSpec, crate::model::Origin)>,
            DrillSettings,
        ),
        Vec<SpecError>,
    > {
        let file = self.source_path.as_str();
        let mut errors = Vec::new();
        let mut text = |t: &Text| {
            interp
                .text(&t.value, &span_origin(file, t))
                .map_err(|e| errors.push(e))
                .ok()
        };
        let mut services = BTreeMap::new();
        for (name, raw) in self.services.iter().flatten() {
            let mut argv = |list: &Option<Vec<Text>>| -> Option<Vec<String>> {
                list.as_ref()
                    .map(|items| items.iter().filter_map(&mut text).collect())
            };
            let start = argv(&raw.value.start);
            let stop = argv(&raw.value.stop);
            let spec = ServiceSpec {
                pid_file: raw.value.pid_file.as_ref().and_then(&mut text),
                start,
                stop,
            };
            services.insert(name.clone(), (spec, span_origin(file, raw)));
        }
        let mut settings = DrillSettings::default();
        if let Some(raw) = &self.drills {
            settings.control = raw.control.as_ref().and_then(&mut text);
            settings.allow_hosts = raw.allow_hosts.iter().filter_map(&mut text).collect();
        }
        for (name, (spec, at)) in &services {
            let empty = |argv: &Option<Vec<String>>| argv.as_ref().is_some_and(Vec::is_empty);
            if empty(&spec.start) || empty(&spec.stop) {
                errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        at,
                        format!("service `{name}`: `start` and `stop` need a program to run"),
                    )
                    .with_key(name.clone()),
                );
            }
        }
        if errors.is_empty() {
            Ok((services, settings))
        } else {
            Err(errors)
        }
    }
}

impl RootConfig {
    /// `observers:` with every `${...}` resolved; all errors.
    pub(crate) fn observers(
        &self,
        interp: &mut Interpolator,
    ) -> Result<BTreeMap<String, Observer>, Vec<SpecError>> {
        let file = self.source_path.as_str();
        let mut errors = Vec::new();
        let mut out = BTreeMap::new();
        for (name, raw) in self.observers.iter().flatten() {
            let at = span_origin(file, raw);
            let mut text = |t: &Text| {
                interp
                    .text(&t.value, &span_origin(file, t))
                    .map_err(|e| errors.push(e))
                    .ok()
            };
            match (&raw.value.state, &raw.value.events) {
                (Some(url), None) => {
                    if let Some(url) = text(url) {
                        out.insert(name.clone(), Observer::State(url));
                    }
                }
                (None, Some(url)) => {
                    if let Some(url) = text(url) {
                        out.insert(name.clone(), Observer::Events(url));
                    }
                }
                _ => errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &at,
                        format!("observer `{name}` needs exactly one of `state` or `events`"),
                    )
                    .with_key(name.clone()),
                ),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// Parses a secrets file: a flat mapping `NAME: value`.
pub fn parse_secrets(src: &SourceFile) -> Result<BTreeMap<String, String>, SpecError> {
    let map: Option<BTreeMap<String, String>> = yaml::parse(src, &[], &|_, _| String::new())?;
    Ok(map.unwrap_or_default())
}
