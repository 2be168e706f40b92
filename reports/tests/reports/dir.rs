use std::fs;

use auditwall_reports::error::Kind;
use auditwall_reports::{render_markdown, write_all, write_json, write_junit, ReportPaths};

use crate::fixtures;

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn writes_every_format_into_a_new_directory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("reports/run-1");
    let summary = fixtures::summary();

    let paths = write_all(&summary, &dir).expect("reports written");

    assert_eq!(
        paths,
        ReportPaths {
            dir: dir.clone(),
            junit: dir.join("junit.xml"),
            json: dir.join("report.json"),
            markdown: dir.join("summary.md"),
        }
    );
    // Only the three reports: no temporary file is left behind.
    assert_eq!(names_in(&dir), ["junit.xml", "report.json", "summary.md"]);

    let mut junit = Vec::new();
    write_junit(&summary, &mut junit).expect("junit");
    let mut json = Vec::new();
    write_json(&summary, &mut json).expect("json");
    assert_eq!(fs::read(&paths.junit).expect("junit.xml"), junit);
    assert_eq!(fs::read(&paths.json).expect("report.json"), json);
    assert_eq!(
        fs::read_to_string(&paths.markdown).expect("summary.md"),
        render_markdown(&summary)
    );
}

#[test]
fn replaces_the_previous_reports() {
    let tmp = tempfile::tempdir().expect("temp dir");
    fs::write(tmp.path().join("report.json"), "stale").expect("seed");
    let paths = write_all(&fixtures::summary(), tmp.path()).expect("reports written");
    let json = fs::read_to_string(paths.json).expect("report.json");
    assert!(json.starts_with("{\n  \"schema_version\": 1,"), "{json}");
}

#[test]
fn a_file_in_the_way_of_the_directory_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let blocker = tmp.path().join("reports");
    fs::write(&blocker, "not a directory").expect("seed");

    let err = write_all(&fixtures::summary(), &blocker.join("run-1")).expect_err("must fail");

    assert_eq!(err.kind(), Kind::CreateDir);
    assert_eq!(err.path(), Some(blocker.join("run-1").as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create report directory {}: Not a directory (os error 20)",
            blocker.join("run-1").display()
        )
    );
}

#[test]
fn a_failed_rename_keeps_no_temporary_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A directory where junit.xml should go: the write succeeds, the rename cannot.
    fs::create_dir(tmp.path().join("junit.xml")).expect("seed");
    fs::write(tmp.path().join("junit.xml/keep"), "x").expect("seed");

    let err = write_all(&fixtures::summary(), tmp.path()).expect_err("must fail");

    assert_eq!(err.kind(), Kind::Rename);
    assert_eq!(err.path(), Some(tmp.path().join("junit.xml").as_path()));
    assert!(
        err.to_string().starts_with(&format!(
            "cannot move finished report into place {}: ",
            tmp.path().join("junit.xml").display()
        )),
        "{err}"
    );
    assert_eq!(names_in(tmp.path()), ["junit.xml"]);
}

#[test]
fn a_full_disk_is_a_write_error() {
    let mut full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let err = write_json(&fixtures::summary(), &mut full).expect_err("a full disk must fail");
    assert_eq!(err.kind(), Kind::Write);
    assert_eq!(
        err.to_string(),
        "cannot write report: No space left on device (os error 28)"
    );
    let err = write_junit(&fixtures::summary(), &mut full).expect_err("a full disk must fail");
    assert_eq!(err.kind(), Kind::Write);
}
