//! Canonical config templates of the reference services and the renderer that turns them
//! into deployed configs — the calibration material (canonical vs deployed).
//!
//! Owns: the template texts (`reference/templates/*.yaml.tmpl`) and `${name}` substitution —
//! the same syntax as auditwall's spec files, so the wall can render these files as its
//! canonical sources. This crate deliberately has its own renderer rather than auditwall's:
//! it plays an independent system with its own deploy step.
//! Must not touch: the file system; callers write the rendered text where they deploy it.

use std::collections::BTreeMap;
use std::fmt;

/// One canonical config template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The service the rendered config is for, e.g. `router`.
    pub service: &'static str,
    /// The rendered config's file name, e.g. `router.yaml`.
    pub file_name: &'static str,
    pub text: &'static str,
}

/// Every service's template. Placeholders: `ports.model_primary`, `ports.model_fallback`,
/// `ports.primary_proxy` (the router reaches model-primary through it), `ports.router`,
/// `ports.hub`, and `paths.run_dir` (a directory that outlives the services' processes: the
/// hub keeps its state file there).
pub const TEMPLATES: &[Template] = &[
    Template {
        service: "model-primary",
        file_name: "model-primary.yaml",
        text: include_str!("../templates/model-primary.yaml.tmpl"),
    },
    Template {
        service: "model-fallback",
        file_name: "model-fallback.yaml",
        text: include_str!("../templates/model-fallback.yaml.tmpl"),
    },
    Template {
        service: "router",
        file_name: "router.yaml",
        text: include_str!("../templates/router.yaml.tmpl"),
    },
    Template {
        service: "hub",
        file_name: "hub.yaml",
        text: include_str!("../templates/hub.yaml.tmpl"),
    },
    Template {
        service: "watchdog",
        file_name: "watchdog.yaml",
        text: include_str!("../templates/watchdog.yaml.tmpl"),
    },
];

/// Why a template could not be rendered, with the 1-based line and column of the `$` that
/// opens the placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct RenderError {
    pub kind: RenderErrorKind,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderErrorKind {
    #[error("no value for variable \"{0}\"")]
    MissingVariable(String),
    #[error("\"${{\" is never closed with \"}}\" on its line")]
    Unclosed,
    #[error("\"{0}\" is not a variable name (letters, digits, '_', '-', '.')")]
    BadName(String),
}

/// Replaces every `${name}` with its value; `$${` renders a literal `${`, and any other `$`
/// stays as it is. Every placeholder must have a value; values that no placeholder uses are
/// fine, so one map can render every template.
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    // Each iteration consumes at least one byte of `rest`, so the loop is bounded.
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let error = |kind| located(template, template.len() - tail.len(), kind);
            // A placeholder never spans lines: a `}` further down belongs to something else,
            // and blaming the line of the `${` is what helps.
            let line = &after[..after.find('\n').unwrap_or(after.len())];
            let close = line
                .find('}')
                .ok_or_else(|| error(RenderErrorKind::Unclosed))?;
            let name = &after[..close];
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !valid {
                return Err(error(RenderErrorKind::BadName(name.to_owned())));
            }
            let value = values
                .get(name)
                .ok_or_else(|| error(RenderErrorKind::MissingVariable(name.to_owned())))?;
            out.push_str(value);
            rest = &after[close + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn located(template: &str, offset: usize, kind: RenderErrorKind) -> RenderError {
    let before = &template[..offset];
    RenderError {
        kind,
        line: before.matches('\n').count() + 1,
        column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.service, self.file_name)
    }
}
