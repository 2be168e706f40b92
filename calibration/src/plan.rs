//! Turns pairs and directory rules into a flat list of deployed files to compare, plus the
//! problems found before any content is read (outside the roots, missing canonical
//! directories, unmanaged extra files).
//!
//! Owns: glob selection, directory walks, root placement and the one-owner-per-file rule.
//! Must not touch: file contents (only metadata and directory listings are read here).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::compare::Canonical;
use crate::error::{CalibrationError, Kind, Result};
use crate::finding::{Finding, FindingKind};
use crate::model::{DirRule, DirSource, Pair, Source};
use crate::roots::{normalize_lexically, require_absolute, Placement, Roots};

/// One deployed file to compare with its canonical source.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    pub(crate) canonical: Canonical<'a>,
    /// The deployed path as the caller spelled it (lexically normalised), for messages.
    pub(crate) shown: PathBuf,
    /// Where it really is (symlinks of existing prefixes resolved); inside the roots.
    pub(crate) real: PathBuf,
    pub(crate) mode: Option<u32>,
    pub(crate) managed: bool,
}

#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) items: Vec<Item<'a>>,
    pub(crate) findings: Vec<Finding>,
}

pub(crate) fn plan<'a>(
    pairs: &'a [Pair],
    dirs: &'a [DirRule],
    roots: &[PathBuf],
) -> Result<Plan<'a>> {
    let roots = Roots::new(roots)?;
    let mut plan = Plan {
        items: Vec::new(),
        findings: Vec::new(),
    };
    for pair in pairs {
        require_absolute(&pair.deployed)?;
        check_mode(pair.mode, &pair.deployed)?;
        plan.add(
            &roots,
            canonical(&pair.canonical),
            &pair.deployed,
            pair.mode,
            pair.managed,
        );
    }
    let mut extras = Vec::new();
    for rule in dirs {
        expand_dir(rule, &roots, &mut plan, &mut extras)?;
    }
    let mut owners: BTreeMap<&Path, &Path> = BTreeMap::new();
    for item in &plan.items {
        if let Some(first) = owners.insert(&item.real, &item.shown) {
            return Err(CalibrationError::new(
                Kind::DuplicateDeployed,
                format!(
                    "also claimed as {}; each deployed file needs exactly one canonical source",
                    first.display()
                ),
            )
            .at(&item.shown));
        }
    }
    for (shown, dir) in extras {
        let claimed = match roots.place(&shown) {
            Placement::Inside(real) | Placement::Outside(real) => owners.contains_key(&*real),
        };
        if !claimed {
            plan.findings.push(Finding {
                path: shown,
                kind: FindingKind::Extra { dir },
            });
        }
    }
    Ok(plan)
}

impl<'a> Plan<'a> {
    fn add(
        &mut self,
        roots: &Roots,
        canonical: Canonical<'a>,
        deployed: &Path,
        mode: Option<u32>,
        managed: bool,
    ) {
        let shown = normalize_lexically(deployed);
        match roots.place(&shown) {
            Placement::Inside(real) => self.items.push(Item {
                canonical,
                shown,
                real,
                mode,
                managed,
            }),
            Placement::Outside(resolved) => self.findings.push(Finding {
                path: shown,
                kind: FindingKind::OutsideRoots { resolved },
            }),
        }
    }
}

fn canonical(source: &Source) -> Canonical<'_> {
    match source {
        Source::Text { name, text } => Canonical::Text { name, text },
        Source::File(path) => Canonical::File(path.clone()),
    }
}

fn check_mode(mode: Option<u32>, path: &Path) -> Result<()> {
    match mode {
        Some(mode) if mode > 0o7777 => Err(CalibrationError::new(
            Kind::Mode,
            format!("{mode:o} is not a permission mode (at most 7777 octal)"),
        )
        .at(path)),
        _ => Ok(()),
    }
}

fn expand_dir<'a>(
    rule: &'a DirRule,
    roots: &Roots,
    plan: &mut Plan<'a>,
    extras: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<()> {
    require_absolute(&rule.deployed_dir)?;
    check_mode(rule.mode, &rule.deployed_dir)?;
    let include = compile(&rule.include, "include", &rule.deployed_dir)?;
    let exclude = compile(&rule.exclude, "exclude", &rule.deployed_dir)?;
    let selected = |relative: &Path| {
        (include.is_empty() || include.iter().any(|glob| glob.is_match(relative)))
            && !exclude.iter().any(|glob| glob.is_match(relative))
    };
    let shown_dir = normalize_lexically(&rule.deployed_dir);
    let real_dir = match roots.place(&shown_dir) {
        Placement::Inside(real) => real,
        Placement::Outside(resolved) => {
            plan.findings.push(Finding {
                path: shown_dir,
                kind: FindingKind::OutsideRoots { resolved },
            });
            return Ok(());
        }
    };
    let canonical_files: BTreeMap<PathBuf, Canonical<'a>> = match &rule.canonical {
        DirSource::Files(files) => files
            .iter()
            .map(|(relative, source)| (relative.clone(), canonical(source)))
            .collect(),
        DirSource::Dir(dir) => match list_dir(dir) {
            Ok(Some(files)) => files
                .into_iter()
                .map(|relative| {
                    let file = Canonical::File(dir.join(&relative));
                    (relative, file)
                })
                .collect(),
            Ok(None) => {
                plan.findings.push(Finding {
                    path: shown_dir,
                    kind: FindingKind::CanonicalMissing {
                        canonical: dir.clone(),
                    },
                });
                return Ok(());
            }
            Err(error) => {
                plan.findings.push(Finding {
                    path: shown_dir,
                    kind: FindingKind::Unreadable {
                        file: dir.clone(),
                        error,
                    },
                });
                return Ok(());
            }
        },
    };
    let canonical_files: BTreeMap<PathBuf, Canonical<'a>> = canonical_files
        .into_iter()
        .filter(|(relative, _)| selected(relative))
        .collect();
    let managed: BTreeSet<PathBuf> = canonical_files.keys().cloned().collect();
    for (relative, source) in canonical_files {
        plan.add(
            roots,
            source,
            &shown_dir.join(&relative),
            rule.mode,
            rule.managed,
        );
    }
    match list_dir(&real_dir) {
        // A deployed directory that does not exist yet has no extras; its files are `Missing`.
        Ok(None) => {}
        Ok(Some(deployed_files)) => extras.extend(
            deployed_files
                .into_iter()
                .filter(|relative| selected(relative) && !managed.contains(relative))
                .map(|relative| (shown_dir.join(relative), shown_dir.clone())),
        ),
        Err(error) => plan.findings.push(Finding {
            path: shown_dir.clone(),
            kind: FindingKind::Unreadable {
                file: shown_dir,
                error,
            },
        }),
    }
    Ok(())
}

fn compile(globs: &[String], what: &str, dir: &Path) -> Result<Vec<GlobMatcher>> {
    globs
        .iter()
        .map(|glob| {
            GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|glob| glob.compile_matcher())
                .map_err(|e| {
                    CalibrationError::new(Kind::Glob, format!("{what} glob {glob:?}: {e}")).at(dir)
                })
        })
        .collect()
}

/// Every non-directory entry under `dir`, relative to it and sorted; `Ok(None)` when `dir`
/// does not exist. Symlinks are listed, never followed, so a link cycle cannot loop the walk.
fn list_dir(dir: &Path) -> std::result::Result<Option<Vec<PathBuf>>, String> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
        Ok(meta) if !meta.is_dir() => return Err("is not a directory".to_string()),
        Ok(_) => {}
    }
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    // Each directory is pushed once (symlinks are not followed), so the walk ends.
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = fs::read_dir(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", here.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            let child = relative.join(entry.file_name());
            if kind.is_dir() {
                pending.push(child);
            } else {
                files.push(child);
            }
        }
    }
    files.sort();
    Ok(Some(files))
}
