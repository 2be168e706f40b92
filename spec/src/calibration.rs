//! Calibration checks as written (`calibration:` in a spec file) turned into the model:
//! canonical sources located in the wall, templates rendered with the host profile, deployed
//! paths and waivers interpolated.
//!
//! Owns: the calibration spec shape, its validation and template rendering. Must not touch:
//! the file system (the harness hands in a [`WallFiles`]), deployed files, or the calibration
//! vocabulary of finding kinds and dates (the harness validates waivers against it).

use serde_saphyr::Spanned;

use crate::error::{SpecError, SpecErrorKind};
use crate::interp::Interpolator;
use crate::load::{convert_with, Converted, Converter, RawHeader};
use crate::model::{
    Calibration, CalibrationDir, CalibrationFile, CanonicalSource, CheckKind, Origin, Settings,
    Suite, WaiverSpec,
};
use crate::raw::{RawCalDir, RawCalFile, RawCalibration, RawWaiver, Text};
use crate::source::SourceFile;
use crate::yaml::span_origin;

/// Read access to the wall's own files (canonical sources live in the wall), provided by the
/// caller so this crate does no I/O. Paths are relative to the wall root, `/`-separated.
pub trait WallFiles {
    /// A text file (a template), size-capped and UTF-8-checked. `Ok(None)` when it does not
    /// exist; `Err` says why it cannot be read.
    fn text(&self, path: &str) -> Result<Option<SourceFile>, String>;
    /// A plain canonical file: its location on disk, or its contents when the wall has no
    /// directory. `Ok(None)` when it does not exist.
    fn plain(&self, path: &str) -> Result<Option<CanonicalSource>, String>;
    /// Every file below a directory, relative to it, sorted. `Ok(None)` when it does not exist.
    fn list(&self, dir: &str) -> Result<Option<Vec<String>>, String>;
}

/// Templates end in this; the deployed file is named without it.
pub const TEMPLATE_SUFFIX: &str = ".tmpl";

pub(crate) fn convert_calibration(
    src: &SourceFile,
    index: usize,
    spanned: &Spanned<RawCalibration>,
    settings: &Settings,
    interp: &mut Interpolator,
    files: &dyn WallFiles,
) -> Result<Converted, Vec<SpecError>> {
    let raw = &spanned.value;
    // Comparing files is deterministic: a retry could only hide a drift that came and went.
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
    let settings = Settings {
        retries: 0,
        ..settings.clone()
    };
    convert_with(
        src,
        index,
        &origin,
        &header,
        &settings,
        interp,
        Suite::Calibration,
        |c| {
            if raw.files.is_empty() && raw.dirs.is_empty() {
                let message = format!("nothing to calibrate{}", c.ctx);
                c.errors.push(
                    SpecError::at(SpecErrorKind::Invalid, &origin, message)
                        .with_hint(Some("give `files:` or `dirs:` (or both)".to_string())),
                );
                return None;
            }
            let calibration = Calibration {
                files: raw.files.iter().filter_map(|f| file(c, files, f)).collect(),
                dirs: raw.dirs.iter().filter_map(|d| dir(c, files, d)).collect(),
                waivers: raw.waivers.iter().map(|w| waiver(c, w)).collect(),
            };
            Some(CheckKind::Calibration(calibration))
        },
    )
}

fn file(
    c: &mut Converter,
    files: &dyn WallFiles,
    spanned: &Spanned<RawCalFile>,
) -> Option<CalibrationFile> {
    let raw = &spanned.value;
    let origin = span_origin(c.file, spanned);
    let canonical = match (&raw.template, &raw.source) {
        (Some(t), None) => template(c, files, t, &t.value),
        (None, Some(s)) => plain(c, files, s, &s.value),
        (Some(_), Some(_)) => {
            let ctx = c.ctx.clone();
            c.invalid(
                &origin,
                format!("`template` and `source` cannot both be given{ctx}"),
            );
            None
        }
        (None, None) => {
            let ctx = c.ctx.clone();
            c.invalid(
                &origin,
                format!("one of `template` or `source` is required{ctx}"),
            );
            None
        }
    };
    let deployed = c.text(&raw.deployed);
    let mode = raw.mode.as_ref().and_then(|m| mode(c, m));
    Some(CalibrationFile {
        canonical: canonical?,
        deployed,
        mode,
        managed: raw.managed.unwrap_or(true),
        origin,
    })
}

fn dir(
    c: &mut Converter,
    files: &dyn WallFiles,
    spanned: &Spanned<RawCalDir>,
) -> Option<CalibrationDir> {
    let raw = &spanned.value;
    let origin = span_origin(c.file, spanned);
    let deployed = c.text(&raw.deployed);
    let mode = raw.mode.as_ref().and_then(|m| mode(c, m));
    let include = raw.include.iter().map(|g| g.value.clone()).collect();
    let exclude = raw.exclude.iter().map(|g| g.value.clone()).collect();
    let name = wall_path(c, &raw.canonical)?;
    let listed = match files.list(&name) {
        Ok(Some(listed)) => listed,
        Ok(None) => {
            let ctx = c.ctx.clone();
            c.error(
                SpecErrorKind::UnknownReference,
                &raw.canonical,
                format!("canonical directory `{name}` does not exist in the wall{ctx}"),
            );
            return None;
        }
        Err(e) => {
            let ctx = c.ctx.clone();
            c.error(
                SpecErrorKind::Invalid,
                &raw.canonical,
                format!("cannot read canonical directory `{name}`{ctx}: {e}"),
            );
            return None;
        }
    };
    let mut entries: Vec<(String, CanonicalSource)> = Vec::new();
    for relative in listed {
        let full = format!("{name}/{relative}");
        let (deployed_name, source) = match relative.strip_suffix(TEMPLATE_SUFFIX) {
            Some(stem) => (stem.to_string(), template(c, files, &raw.canonical, &full)),
            None => (relative.clone(), plain(c, files, &raw.canonical, &full)),
        };
        if let Some((_, first)) = entries.iter().find(|(d, _)| *d == deployed_name) {
            let first = source_name(first).to_string();
            let ctx = c.ctx.clone();
            c.error(
                SpecErrorKind::Invalid,
                &raw.canonical,
                format!("`{full}` and `{first}` would both deploy `{deployed_name}`{ctx}"),
            );
            continue;
        }
        if let Some(source) = source {
            entries.push((deployed_name, source));
        }
    }
    Some(CalibrationDir {
        canonical: name,
        files: entries,
        deployed,
        include,
        exclude,
        mode,
        managed: raw.managed.unwrap_or(true),
        origin,
    })
}

fn source_name(source: &CanonicalSource) -> &str {
    match source {
        CanonicalSource::Text { name, .. } | CanonicalSource::File { name, .. } => name,
    }
}

/// Reads and renders a template; `at` is where the spec names it.
fn template(
    c: &mut Converter,
    files: &dyn WallFiles,
    at: &Text,
    path: &str,
) -> Option<CanonicalSource> {
    let name = if path == at.value {
        wall_path(c, at)?
    } else {
        path.to_string()
    };
    let ctx = c.ctx.clone();
    match files.text(&name) {
        Ok(Some(src)) => {
            let rendered = c.interp.template(&src);
            let text = c.keep(rendered)?;
            Some(CanonicalSource::Text { name, text })
        }
        Ok(None) => {
            c.error(
                SpecErrorKind::UnknownReference,
                at,
                format!("template `{name}` does not exist in the wall{ctx}"),
            );
            None
        }
        Err(e) => {
            c.error(
                SpecErrorKind::Invalid,
                at,
                format!("cannot read template `{name}`{ctx}: {e}"),
            );
            None
        }
    }
}

fn plain(
    c: &mut Converter,
    files: &dyn WallFiles,
    at: &Text,
    path: &str,
) -> Option<CanonicalSource> {
    let name = if path == at.value {
        wall_path(c, at)?
    } else {
        path.to_string()
    };
    let ctx = c.ctx.clone();
    match files.plain(&name) {
        Ok(Some(source)) => Some(source),
        Ok(None) => {
            c.error(
                SpecErrorKind::UnknownReference,
                at,
                format!("canonical file `{name}` does not exist in the wall{ctx}"),
            );
            None
        }
        Err(e) => {
            c.error(
                SpecErrorKind::Invalid,
                at,
                format!("cannot read canonical file `{name}`{ctx}: {e}"),
            );
            None
        }
    }
}

/// A path inside the wall: relative, no `..`, normalised to `/` separators without `./`.
fn wall_path(c: &mut Converter, t: &Text) -> Option<String> {
    let value = t.value.trim_end_matches('/');
    let escapes = value.starts_with('/') || value.split('/').any(|part| part == "..");
    if value.is_empty() || escapes {
        let ctx = c.ctx.clone();
        c.error(
            SpecErrorKind::Invalid,
            t,
            format!(
                "bad canonical path `{}`{ctx}: canonical sources live in the wall; use a path relative to the wall directory",
                t.value
            ),
        );
        return None;
    }
    let parts: Vec<&str> = value
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    Some(parts.join("/"))
}

/// Octal permission bits, e.g. `"0644"`, `"644"` or `"0o600"`.
fn mode(c: &mut Converter, t: &Text) -> Option<u32> {
    let digits = t.value.strip_prefix("0o").unwrap_or(&t.value);
    let parsed =
        if (3..=5).contains(&digits.len()) && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
        } else {
            None
        };
    if parsed.is_none() {
        let ctx = c.ctx.clone();
        c.error(
            SpecErrorKind::Invalid,
            t,
            format!(
                "bad mode `{}`{ctx}: expected octal permission bits like \"0644\" (quote it)",
                t.value
            ),
        );
    }
    parsed
}

fn waiver(c: &mut Converter, spanned: &Spanned<RawWaiver>) -> WaiverSpec {
    let raw = &spanned.value;
    if raw.reason.value.trim().is_empty() {
        let ctx = c.ctx.clone();
        c.error(
            SpecErrorKind::Invalid,
            &raw.reason,
            format!("empty waiver `reason`{ctx}: say why the drift is acceptable"),
        );
    }
    WaiverSpec {
        path: c.text(&raw.path),
        kind: raw.kind.as_ref().map(|k| k.value.clone()),
        reason: raw.reason.value.clone(),
        expires: raw.expires.value.clone(),
        origin: span_origin(c.file, spanned),
        kind_at: raw.kind.as_ref().map(|k| span_origin(c.file, k)),
        expires_at: span_origin(c.file, &raw.expires),
    }
}

impl Converter<'_, '_> {
    fn error(&mut self, kind: SpecErrorKind, at: &Text, message: String) {
        let origin: Origin = span_origin(self.file, at);
        self.errors.push(SpecError::at(kind, &origin, message));
    }
}
