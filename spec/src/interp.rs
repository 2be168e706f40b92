//! `${...}` interpolation: profile values, environment variables and secrets.
//!
//! Owns: the syntax (`${a.b}`, `${env:NAME}`, `${secret:NAME}`, `$${` for a literal `${`),
//! its located errors, and collecting every resolved secret value so it can be redacted.
//! Must not touch: the environment or secret stores; the caller's [`Resolver`] looks values up.

use crate::error::{did_you_mean, SpecError, SpecErrorKind};
use crate::model::Origin;
use crate::profile::Profile;
use crate::source::SourceFile;

/// Lookups the caller provides (env and secrets); the crate never reads the environment itself.
pub trait Resolver {
    fn env(&self, name: &str) -> Option<String>;
    fn secret(&self, name: &str) -> Option<String>;
}

pub(crate) struct Interpolator<'a> {
    profile: &'a Profile,
    resolver: &'a dyn Resolver,
    keys: Vec<String>,
    /// Every secret value substituted so far (deduplicated, non-empty).
    pub secrets: Vec<String>,
}

impl<'a> Interpolator<'a> {
    pub fn new(profile: &'a Profile, resolver: &'a dyn Resolver) -> Self {
        Interpolator {
            profile,
            resolver,
            keys: profile.entries().into_iter().map(|(k, _, _)| k).collect(),
            secrets: Vec::new(),
        }
    }

    pub fn text(&mut self, text: &str, origin: &Origin) -> Result<String, SpecError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        // Each iteration consumes at least one byte of `rest`, so the loop is bounded.
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let end = after.find('}').ok_or_else(|| {
                    error(origin, format!("unterminated `${{` in `{text}`"), None)
                })?;
                out.push_str(&self.lookup(&after[..end], origin)?);
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Renders a whole template file: the same syntax as spec values, each error located at
    /// the line and column of its `${` in the template.
    pub fn template(&mut self, src: &SourceFile) -> Result<String, SpecError> {
        let text = src.text.as_str();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let origin = locate(src, text.len() - tail.len());
                // A placeholder never spans lines, so a missing `}` is reported where it opened.
                let end = after
                    .find(['}', '\n'])
                    .filter(|&end| after[end..].starts_with('}'))
                    .ok_or_else(|| error(&origin, "unterminated `${`".to_string(), None))?;
                out.push_str(&self.lookup(&after[..end], &origin)?);
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Interpolates every string inside a JSON body (keys stay as written).
    pub fn json(
        &mut self,
        value: &serde_json::Value,
        origin: &Origin,
    ) -> Result<serde_json::Value, SpecError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => J::String(self.text(s, origin)?),
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|v| self.json(v, origin))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, origin)?)))
                    .collect::<Result<_, SpecError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn lookup(&mut self, name: &str, origin: &Origin) -> Result<String, SpecError> {
        if let Some(var) = name.strip_prefix("env:") {
            return self.resolver.env(var).ok_or_else(|| {
                error(
                    origin,
                    format!("environment variable `{var}` is not set (in `${{{name}}}`)"),
                    None,
                )
            });
        }
        if let Some(secret) = name.strip_prefix("secret:") {
            let value = self.resolver.secret(secret).ok_or_else(|| {
                error(
                    origin,
                    format!("secret `{secret}` is not set (in `${{{name}}}`)"),
                    None,
                )
            })?;
            if !value.is_empty() && !self.secrets.contains(&value) {
                self.secrets.push(value.clone());
            }
            return Ok(value);
        }
        if name.is_empty() {
            return Err(error(origin, "empty `${}`".to_string(), None));
        }
        if let Some((source, _)) = name.split_once(':') {
            return Err(error(
                origin,
                format!("unknown interpolation source `{source}` in `${{{name}}}`"),
                Some("use `${env:NAME}`, `${secret:NAME}` or a profile key".to_string()),
            ));
        }
        if let Some(value) = self.profile.get(name) {
            return Ok(value);
        }
        let prefix = format!("{name}.");
        if let Some(example) = self.keys.iter().find(|k| k.starts_with(&prefix)) {
            return Err(error(
                origin,
                format!("profile key `{name}` is a mapping, not a value"),
                Some(format!("e.g. `${{{example}}}`")),
            ));
        }
        Err(error(
            origin,
            format!("unknown profile key `{name}`"),
            did_you_mean(name, self.keys.iter().map(String::as_str)),
        ))
    }
}

/// The 1-based line and column (in characters) of a byte offset.
fn locate(src: &SourceFile, offset: usize) -> Origin {
    let before = &src.text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Origin {
        file: src.path.clone(),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

fn error(origin: &Origin, message: String, hint: Option<String>) -> SpecError {
    SpecError::at(SpecErrorKind::Interpolation, origin, message).with_hint(hint)
}
