//! The report directory: every file format of one run, written side by side.
//!
//! Owns: file names and atomic replacement (a reader never sees half a report, and a failed
//! write leaves the previous report in place). Must not touch: the content of any format.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use auditwall_harness::result::RunSummary;

use crate::error::{Kind, ReportError};
use crate::{render_markdown, write_json, write_junit};

/// Where [`write_all`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub junit: PathBuf,
    pub json: PathBuf,
    pub markdown: PathBuf,
}

/// Writes `junit.xml`, `report.json` and `summary.md` into `dir`, creating it if needed.
/// Each file is written under a temporary name in `dir` and renamed into place.
pub fn write_all(summary: &RunSummary, dir: &Path) -> Result<ReportPaths, ReportError> {
    fs::create_dir_all(dir).map_err(|e| ReportError::new(Kind::CreateDir, e).at(dir))?;
    let paths = ReportPaths {
        dir: dir.to_path_buf(),
        junit: dir.join("junit.xml"),
        json: dir.join("report.json"),
        markdown: dir.join("summary.md"),
    };
    write_atomically(&paths.junit, |out| write_junit(summary, out))?;
    write_atomically(&paths.json, |out| write_json(summary, out))?;
    write_atomically(&paths.markdown, |out| {
        out.write_all(render_markdown(summary).as_bytes())
            .map_err(|e| ReportError::new(Kind::Write, e))
    })?;
    Ok(paths)
}

/// Distinguishes temporary files of concurrent writers within one process; the pid
/// distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_rename(&temp, path, fill);
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover temp file.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_then_rename(
    temp: &Path,
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let write_err = |e: std::io::Error| ReportError::new(Kind::Write, e).at(path);
    let mut out = BufWriter::new(File::create(temp).map_err(write_err)?);
    fill(&mut out).map_err(|e| e.at(path))?;
    // Complete before visible: a reader never sees half a report. No fsync: a report can be
    // regenerated, and one fsync took over a second while the disk was busy (see
    // docs/performance.md), which a run must not pay.
    drop(out.into_inner().map_err(|e| write_err(e.into_error()))?);
    fs::rename(temp, path).map_err(|e| ReportError::new(Kind::Rename, e).at(path))
}
