//! Loading walls from real directories (and from static embedded files): profiles, overlays,
//! live layers, include globs, size caps, and the errors a user sees.

mod support;

use std::path::Path;

use auditwall_harness::load::{self, LoadOptions, LoadedWall, WallSource};
use auditwall_harness::{Error, ErrorKind};
use auditwall_spec::Probe;
use support::write;

const BASE: &str = "endpoints:\n  router: http://127.0.0.1:1001\n  hub: http://127.0.0.1:1002\n";
const CI: &str = "endpoints:\n  router: http://127.0.0.1:2001\n";
const LOCAL: &str = "endpoints:\n  router: http://127.0.0.1:3001\n  hub: http://127.0.0.1:3002\n";
const PROBES: &str = r#"probes:
  - id: router
    http: { url: "${endpoints.router}/health" }
  - id: hub
    http: { url: "${endpoints.hub}/health" }
"#;

/// A wall with a base profile, overlays `ci` and `local`, and two checks using the profile.
fn profile_wall() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: lab\n");
    write(dir.path(), "profiles/base.yaml", BASE);
    write(dir.path(), "profiles/ci.yaml", CI);
    write(dir.path(), "profiles/local.yaml", LOCAL);
    write(dir.path(), "probes/services.yaml", PROBES);
    dir
}

fn load_with(dir: &Path, opts: &LoadOptions) -> Result<LoadedWall, Error> {
    load::load(&WallSource::Dir(dir.to_path_buf()), opts)
}

fn loaded(dir: &Path, opts: &LoadOptions) -> LoadedWall {
    load_with(dir, opts).unwrap_or_else(|e| panic!("wall does not load:\n{e}"))
}

fn load_err(dir: &Path, opts: &LoadOptions) -> Error {
    match load_with(dir, opts) {
        Ok(w) => panic!("expected an error, loaded {} checks", w.wall.checks.len()),
        Err(e) => e,
    }
}

fn overlays(names: &[&str]) -> LoadOptions {
    LoadOptions {
        overlays: names.iter().map(|n| n.to_string()).collect(),
        live_layers: Vec::new(),
    }
}

fn urls(w: &LoadedWall) -> Vec<(String, String)> {
    w.wall
        .checks
        .iter()
        .map(|c| match c.probe() {
            Some(Probe::Http(h)) => (c.id.clone(), h.url.clone()),
            other => panic!("unexpected probe {other:?}"),
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn the_base_profile_resolves_every_reference() {
    let dir = profile_wall();
    let w = loaded(dir.path(), &LoadOptions::default());
    assert_eq!(w.wall.name, "lab");
    assert_eq!(w.profile_layers, ["base"]);
    assert_eq!(w.spec_files, 1);
    assert_eq!(w.source, dir.path().display().to_string());
    assert_eq!(
        urls(&w),
        pairs(&[
            ("router", "http://127.0.0.1:1001/health"),
            ("hub", "http://127.0.0.1:1002/health"),
        ])
    );
}

#[test]
fn overlays_apply_in_order_over_the_base() {
    let dir = profile_wall();
    let ci = loaded(dir.path(), &overlays(&["ci"]));
    assert_eq!(ci.profile_layers, ["base", "ci"]);
    assert_eq!(
        urls(&ci),
        pairs(&[
            ("router", "http://127.0.0.1:2001/health"),
            ("hub", "http://127.0.0.1:1002/health"),
        ])
    );

    let ci_then_local = loaded(dir.path(), &overlays(&["ci", "local"]));
    assert_eq!(ci_then_local.profile_layers, ["base", "ci", "local"]);
    assert_eq!(
        urls(&ci_then_local),
        pairs(&[
            ("router", "http://127.0.0.1:3001/health"),
            ("hub", "http://127.0.0.1:3002/health"),
        ])
    );

    let local_then_ci = loaded(dir.path(), &overlays(&["local", "ci"]));
    assert_eq!(
        urls(&local_then_ci),
        pairs(&[
            ("router", "http://127.0.0.1:2001/health"),
            ("hub", "http://127.0.0.1:3002/health"),
        ]),
        "the last overlay wins"
    );
    assert_ne!(ci.profile_digest, ci_then_local.profile_digest);
    assert_ne!(ci_then_local.profile_digest, local_then_ci.profile_digest);
}

#[test]
fn the_profile_digest_is_stable_for_the_same_profile() {
    let dir = profile_wall();
    let a = loaded(dir.path(), &overlays(&["ci"]));
    let b = loaded(dir.path(), &overlays(&["ci"]));
    assert_eq!(a.profile_digest, b.profile_digest);
    assert_eq!(a.profile_digest.len(), 64);
    assert!(a.profile_digest.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn live_layers_sit_between_the_base_and_the_overlays() {
    let dir = profile_wall();
    let live = vec![(
        "reference".to_string(),
        "endpoints:\n  router: http://127.0.0.1:4001\n  hub: http://127.0.0.1:4002\n".to_string(),
    )];
    let live_only = loaded(
        dir.path(),
        &LoadOptions {
            overlays: Vec::new(),
            live_layers: live.clone(),
        },
    );
    assert_eq!(live_only.profile_layers, ["base", "reference"]);
    assert_eq!(
        urls(&live_only),
        pairs(&[
            ("router", "http://127.0.0.1:4001/health"),
            ("hub", "http://127.0.0.1:4002/health"),
        ])
    );

    let with_overlay = loaded(
        dir.path(),
        &LoadOptions {
            overlays: vec!["ci".into()],
            live_layers: live,
        },
    );
    assert_eq!(with_overlay.profile_layers, ["base", "reference", "ci"]);
    assert_eq!(
        urls(&with_overlay),
        pairs(&[
            ("router", "http://127.0.0.1:2001/health"),
            ("hub", "http://127.0.0.1:4002/health"),
        ]),
        "an overlay overrides a live value; the live value beats the base"
    );
}

#[test]
fn a_bad_live_layer_is_a_spec_error_naming_the_layer() {
    let dir = profile_wall();
    let err = load_err(
        dir.path(),
        &LoadOptions {
            overlays: Vec::new(),
            live_layers: vec![("reference".into(), "endpoints: [unclosed".into())],
        },
    );
    assert_eq!(err.kind, ErrorKind::Spec);
    assert!(
        err.message.starts_with("<live profile layer reference>:"),
        "{}",
        err.message
    );
}

#[test]
fn an_unknown_overlay_is_an_error_listing_the_known_ones() {
    let dir = profile_wall();
    let err = load_err(dir.path(), &overlays(&["ci", "prod"]));
    assert_eq!(err.kind, ErrorKind::Spec);
    assert_eq!(
        err.message,
        format!(
            "{}: profile overlay `prod` not found (expected profiles/prod.yaml; known overlays: ci, local)",
            dir.path().display()
        )
    );
}

#[test]
fn an_unknown_overlay_without_any_overlays_says_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: bare\n");
    let err = load_err(dir.path(), &overlays(&["ci"]));
    assert_eq!(
        err.message,
        format!(
            "{}: profile overlay `ci` not found (expected profiles/ci.yaml; known overlays: none)",
            dir.path().display()
        )
    );
}

#[test]
fn a_directory_without_wall_yaml_is_a_spec_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "probes/a.yaml", "probes: []\n");
    let err = load_err(dir.path(), &LoadOptions::default());
    assert_eq!(err.kind, ErrorKind::Spec);
    assert_eq!(
        err.message,
        format!("{}: no wall.yaml found", dir.path().display())
    );
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gone = dir.path().join("no-such-wall");
    let err = load_err(&gone, &LoadOptions::default());
    assert!(
        err.message
            .starts_with(&format!("{}: cannot read directory: ", gone.display())),
        "{}",
        err.message
    );
}

#[test]
fn an_oversized_spec_file_is_rejected_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: big\n");
    write(dir.path(), "probes/ok.yaml", "probes: []\n");
    let big = format!("probes: []\n#{}\n", "x".repeat(2 * 1024 * 1024));
    write(dir.path(), "probes/big.yaml", &big);
    let err = load_err(dir.path(), &LoadOptions::default());
    assert_eq!(err.kind, ErrorKind::Spec);
    let file = dir.path().join("probes/big.yaml");
    assert!(
        err.message.starts_with(&format!(
            "{} (location unknown): file is too large (",
            file.display()
        )),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with("(more than 1048576 bytes, the limit)"),
        "{}",
        err.message
    );
}

#[test]
fn an_oversized_spec_file_error_does_not_misstate_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: big\n");
    let big = "#".repeat(2 * 1024 * 1024);
    write(dir.path(), "probes/big.yaml", &big);
    let err = load_err(dir.path(), &LoadOptions::default());
    assert_eq!(
        err.message,
        format!(
            "{} (location unknown): file is too large (more than 1048576 bytes, the limit)",
            dir.path().join("probes/big.yaml").display()
        )
    );
}

#[test]
fn include_globs_select_only_matching_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        "name: picky\ninclude: [\"probes/net-*.yaml\"]\n",
    );
    let check = |id: &str| format!("probes:\n  - id: {id}\n    file: {{ path: /etc/hosts }}\n");
    write(dir.path(), "probes/net-a.yaml", &check("net-a"));
    write(dir.path(), "probes/net-b.yaml", &check("net-b"));
    write(dir.path(), "probes/disk.yaml", &check("disk"));
    // Not YAML at all: it would fail the load if the glob matched it.
    write(dir.path(), "probes/net-notes.txt", "{{{ not yaml");
    let w = loaded(dir.path(), &LoadOptions::default());
    let ids: Vec<&str> = w.wall.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["net-a", "net-b"]);
    assert_eq!(w.spec_files, 2);
}

#[test]
fn default_include_finds_spec_files_in_nested_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: nested\n");
    let check = |id: &str| format!("probes:\n  - id: {id}\n    file: {{ path: /etc/hosts }}\n");
    write(dir.path(), "probes/top.yaml", &check("top"));
    write(dir.path(), "probes/deep/er/inner.yaml", &check("inner"));
    write(dir.path(), "elsewhere/ignored.yaml", "not: [valid");
    let w = loaded(dir.path(), &LoadOptions::default());
    let ids: Vec<&str> = w.wall.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["inner", "top"],
        "sorted by path: probes/deep/... < probes/top.yaml"
    );
}

#[test]
fn a_single_star_include_does_not_descend_into_subdirectories() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        "name: flat\ninclude: [\"probes/*.yaml\"]\n",
    );
    let check = |id: &str| format!("probes:\n  - id: {id}\n    file: {{ path: /etc/hosts }}\n");
    write(dir.path(), "probes/live.yaml", &check("live"));
    write(dir.path(), "probes/disabled/old.yaml", &check("old"));
    let w = loaded(dir.path(), &LoadOptions::default());
    let ids: Vec<&str> = w.wall.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["live"]);
}

#[test]
fn a_symlinked_spec_file_is_never_silently_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: linked\n");
    write(
        dir.path(),
        "shared/common.yaml",
        "probes:\n  - id: common\n    file: { path: /etc/hosts }\n",
    );
    std::fs::create_dir_all(dir.path().join("probes")).expect("mkdir");
    std::os::unix::fs::symlink(
        dir.path().join("shared/common.yaml"),
        dir.path().join("probes/common.yaml"),
    )
    .expect("symlink");
    match load_with(dir.path(), &LoadOptions::default()) {
        Ok(w) => {
            let ids: Vec<&str> = w.wall.checks.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["common"], "the linked spec file was dropped");
        }
        Err(e) => assert!(e.message.contains("probes/common.yaml"), "{}", e.message),
    }
}

#[test]
fn a_secrets_file_that_cannot_be_read_is_a_spec_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere/secrets.yaml");
    write(
        dir.path(),
        "wall.yaml",
        &format!("name: s\nsecrets: {{ file: \"{}\" }}\n", missing.display()),
    );
    let err = load_err(dir.path(), &LoadOptions::default());
    assert_eq!(err.kind, ErrorKind::Spec);
    assert!(
        err.message.starts_with(&format!(
            "{}: cannot read secrets file: ",
            missing.display()
        )),
        "{}",
        err.message
    );
}

#[test]
fn every_spec_error_is_reported_with_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wall.yaml", "name: broken\n");
    write(
        dir.path(),
        "probes/a.yaml",
        "probes:\n  - id: a\n    file: { path: /etc/hosts }\n    expct: []\n",
    );
    write(
        dir.path(),
        "probes/b.yaml",
        "probes:\n  - id: b\n    needs: [nope]\n    file: { path: /etc/hosts }\n",
    );
    let err = load_err(dir.path(), &LoadOptions::default());
    assert_eq!(err.kind, ErrorKind::Spec);
    assert_eq!(err.spec_errors.len(), 2, "{}", err.message);
    let lines: Vec<&str> = err.message.lines().collect();
    assert_eq!(lines.len(), 2, "{}", err.message);
    assert!(lines[0].starts_with(&dir.path().join("probes/a.yaml").display().to_string()));
    assert!(lines[1].starts_with(&dir.path().join("probes/b.yaml").display().to_string()));
}

static EMBEDDED: &[(&str, &str)] = &[
    ("wall.yaml", "name: lab\n"),
    ("profiles/base.yaml", BASE),
    ("profiles/ci.yaml", CI),
    ("probes/services.yaml", PROBES),
];

#[test]
fn an_embedded_wall_loads_like_the_same_directory() {
    let source = WallSource::Embedded {
        name: "test",
        files: EMBEDDED,
    };
    let embedded = load::load(&source, &overlays(&["ci"])).unwrap_or_else(|e| panic!("{e}"));
    let dir = profile_wall();
    let from_dir = loaded(dir.path(), &overlays(&["ci"]));

    assert_eq!(embedded.source, "<embedded:test>");
    assert_eq!(source.describe(), "<embedded:test>");
    assert_eq!(embedded.wall.name, from_dir.wall.name);
    assert_eq!(urls(&embedded), urls(&from_dir));
    assert_eq!(embedded.profile_layers, ["base", "ci"]);
    assert_eq!(embedded.profile_digest, from_dir.profile_digest);
    assert_eq!(embedded.spec_files, 1);
    assert_eq!(
        embedded.wall.checks[0].origin.file,
        "<embedded:test>/probes/services.yaml"
    );
    let err = load::load(&source, &overlays(&["local"])).expect_err("local is not embedded");
    assert_eq!(
        err.message,
        "<embedded:test>: profile overlay `local` not found (expected profiles/local.yaml; known overlays: ci)"
    );
}

#[test]
fn run_info_describes_the_wall_and_its_profile() {
    let dir = profile_wall();
    let w = loaded(dir.path(), &overlays(&["ci"]));
    let info = load::run_info(&w, Some(dir.path()));
    assert_eq!(info.wall, "lab");
    assert_eq!(info.wall_source, dir.path().display().to_string());
    assert_eq!(info.profile_name, "base+ci");
    assert_eq!(info.profile_digest, w.profile_digest);
    assert_eq!(info.planned, 0);
    assert!(!info.host.is_empty());
    let (stamp, pid) = info.run_id.split_once('-').expect("stamp-pid");
    assert_eq!(stamp.len(), "20261127T093400Z".len(), "{}", info.run_id);
    assert!(
        stamp.ends_with('Z') && stamp.contains('T'),
        "{}",
        info.run_id
    );
    assert_eq!(pid.len(), 5, "{}", info.run_id);
}

#[test]
fn run_info_reads_the_git_commit_of_the_wall_directory() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let repo = tempfile::tempdir().expect("tempdir");
    write(repo.path(), ".git/HEAD", "ref: refs/heads/main\n");
    write(repo.path(), ".git/refs/heads/main", &format!("{sha}\n"));
    let wall_dir = repo.path().join("walls/lab");
    write(&wall_dir, "wall.yaml", "name: lab\n");
    let w = loaded(&wall_dir, &LoadOptions::default());
    assert_eq!(
        load::run_info(&w, Some(&wall_dir)).git_commit.as_deref(),
        Some(sha)
    );

    // A ref that only lives in packed-refs.
    let packed = "fedcba9876543210fedcba9876543210fedcba98";
    std::fs::remove_file(repo.path().join(".git/refs/heads/main")).expect("remove ref");
    write(
        repo.path(),
        ".git/packed-refs",
        &format!("# pack-refs with: peeled\n{packed} refs/heads/main\n"),
    );
    assert_eq!(
        load::run_info(&w, Some(&wall_dir)).git_commit.as_deref(),
        Some(packed)
    );

    // A detached HEAD.
    write(repo.path(), ".git/HEAD", &format!("{sha}\n"));
    assert_eq!(
        load::run_info(&w, Some(&wall_dir)).git_commit.as_deref(),
        Some(sha)
    );

    // Garbage in HEAD is no commit, not a panic.
    write(repo.path(), ".git/HEAD", "not a sha\n");
    assert_eq!(load::run_info(&w, Some(&wall_dir)).git_commit, None);
    assert_eq!(load::run_info(&w, None).git_commit, None);
}

/// Regression: a relative `secrets.file` was read from the directory auditwall ran in, not
/// from the wall's own directory.
#[test]
fn a_relative_secrets_file_belongs_to_the_wall() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        "name: rel\nsecrets: { file: secrets.yaml }\n",
    );
    write(dir.path(), "secrets.yaml", "TOKEN: from-the-wall-dir\n");
    write(
        dir.path(),
        "probes/a.yaml",
        "probes:\n  - id: a\n    http: { url: \"http://127.0.0.1:1/${secret:TOKEN}\" }\n",
    );
    let loaded = load::load(
        &WallSource::Dir(dir.path().to_path_buf()),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.wall.secrets, vec!["from-the-wall-dir".to_string()]);
}
