//! `check` against real files in temporary directories: every finding kind, its exact
//! message, the root rules and the bounds on size and time.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use auditwall_calibration::{
    check, DirRule, DirSource, Finding, FindingKind, FindingTag, Kind, Limits, Pair, Report, Source,
};
use common::{chmod, put, text_pair, World};

fn run(world: &World, pairs: &[Pair], dirs: &[DirRule]) -> Report {
    check(pairs, dirs, &world.roots(), &Limits::default()).expect("check runs")
}

fn messages(report: &Report) -> Vec<String> {
    report.findings.iter().map(Finding::message).collect()
}

#[test]
fn a_matching_pair_is_counted_and_produces_no_finding() {
    let world = World::new();
    let deployed = world.root.join("app.conf");
    put(&deployed, "a = 1\n");
    let report = run(
        &world,
        &[text_pair("app.conf.tmpl", "a = 1\n", &deployed)],
        &[],
    );
    assert_eq!(report.findings, vec![]);
    assert_eq!((report.checked, report.clean), (1, 1));
}

#[test]
fn differing_text_is_a_unified_diff_naming_canonical_and_deployed() {
    let world = World::new();
    let deployed = world.root.join("app.conf");
    put(&deployed, "a\nB\nc\nd\ne\nf\ng\nh\n");
    let report = run(
        &world,
        &[text_pair(
            "app.conf.tmpl",
            "a\nb\nc\nd\ne\nf\ng\nh\n",
            &deployed,
        )],
        &[],
    );
    let shown = deployed.display();
    assert_eq!(
        messages(&report),
        vec![format!(
            "{shown}: content differs from canonical\n\
             --- app.conf.tmpl (canonical)\n\
             +++ {shown} (deployed)\n\
             @@ -1,5 +1,5 @@\n \
             a\n\
             -b\n\
             +B\n \
             c\n \
             d\n \
             e\n"
        )]
    );
    assert!(matches!(
        report.findings[0].kind,
        FindingKind::Differs {
            truncated: false,
            ..
        }
    ));
    assert_eq!((report.checked, report.clean), (1, 0));
}

#[test]
fn a_missing_final_newline_is_shown() {
    let world = World::new();
    let deployed = world.root.join("a.txt");
    put(&deployed, "x\ny");
    let report = run(&world, &[text_pair("a", "x\ny\n", &deployed)], &[]);
    let FindingKind::Differs { diff, .. } = &report.findings[0].kind else {
        panic!("expected a diff, got {:?}", report.findings);
    };
    assert!(
        diff.ends_with("@@ -1,2 +1,2 @@\n x\n-y\n+y\n\\ No newline at end of file\n"),
        "{diff}"
    );
}

#[test]
fn context_lines_follow_the_limits() {
    let world = World::new();
    let deployed = world.root.join("a.txt");
    put(&deployed, "1\n2\nX\n4\n5\n");
    let limits = Limits {
        context_lines: 0,
        ..Limits::default()
    };
    let report = check(
        &[text_pair("a", "1\n2\n3\n4\n5\n", &deployed)],
        &[],
        &world.roots(),
        &limits,
    )
    .expect("check runs");
    let FindingKind::Differs { diff, .. } = &report.findings[0].kind else {
        panic!("expected a diff, got {:?}", report.findings);
    };
    assert!(diff.ends_with("@@ -3 +3 @@\n-3\n+X\n"), "{diff}");
}

#[test]
fn a_missing_deployed_file_is_its_own_finding() {
    let world = World::new();
    let deployed = world.root.join("etc/router.yaml");
    let report = run(
        &world,
        &[text_pair("router.yaml.tmpl", "x\n", &deployed)],
        &[],
    );
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: missing (canonical: router.yaml.tmpl)",
            deployed.display()
        )]
    );
}

#[test]
fn a_canonical_file_that_does_not_exist_is_an_error_finding_not_a_pass() {
    let world = World::new();
    let deployed = world.root.join("app.conf");
    put(&deployed, "x\n");
    let canonical = world.canonical.join("nope.conf");
    let report = run(
        &world,
        &[Pair::new(Source::File(canonical.clone()), &deployed)],
        &[],
    );
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: canonical source {} does not exist",
            deployed.display(),
            canonical.display()
        )]
    );
    assert!(report.findings[0].kind.tag().is_error());
}

#[test]
fn a_canonical_file_is_read_as_is() {
    let world = World::new();
    let canonical = world.canonical.join("app.conf");
    let deployed = world.root.join("app.conf");
    put(&canonical, "same\n");
    put(&deployed, "same\n");
    let pair = Pair::new(Source::File(canonical.clone()), &deployed);
    assert_eq!(
        run(&world, std::slice::from_ref(&pair), &[]).findings,
        vec![]
    );
    put(&deployed, "other\n");
    let report = run(&world, &[pair], &[]);
    let FindingKind::Differs { diff, .. } = &report.findings[0].kind else {
        panic!("expected a diff, got {:?}", report.findings);
    };
    assert!(
        diff.starts_with(&format!("--- {} (canonical)\n", canonical.display())),
        "{diff}"
    );
}

// Expected digests computed independently with `sha256sum`.
const SHA_BIN_A: &str = "53d4b83e186bc87097e9742e1cb16fc87b30996389131bb3a5732a8d8e374893";
const SHA_BIN_B: &str = "a4fb257469bf507108cfcaf247ece9c0c16d755526221c06feb7561bb0f92335";

#[test]
fn binary_files_compare_by_hash_with_a_clear_message() {
    let world = World::new();
    let canonical = world.canonical.join("model.bin");
    let deployed = world.root.join("model.bin");
    put(&canonical, b"bin\0a");
    put(&deployed, b"bin\0b");
    let report = run(
        &world,
        &[Pair::new(Source::File(canonical), &deployed)],
        &[],
    );
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: binary content differs from canonical (sha256 canonical {SHA_BIN_A}, deployed {SHA_BIN_B})",
            deployed.display()
        )]
    );
}

#[test]
fn invalid_utf8_counts_as_binary() {
    let world = World::new();
    let deployed = world.root.join("latin1.txt");
    put(&deployed, b"caf\xe9\n");
    let report = run(&world, &[text_pair("t", "caf\u{e9}\n", &deployed)], &[]);
    assert_eq!(report.findings[0].kind.tag(), FindingTag::BinaryDiffers);
}

#[test]
fn identical_binary_files_are_clean() {
    let world = World::new();
    let canonical = world.canonical.join("model.bin");
    let deployed = world.root.join("model.bin");
    put(&canonical, b"bin\0a\xff");
    put(&deployed, b"bin\0a\xff");
    let report = run(
        &world,
        &[Pair::new(Source::File(canonical), &deployed)],
        &[],
    );
    assert_eq!((report.findings.len(), report.clean), (0, 1));
}

#[test]
fn files_over_the_size_cap_are_compared_by_hash_and_say_so() {
    let world = World::new();
    let canonical = world.canonical.join("big.txt");
    let deployed = world.root.join("big.txt");
    let same = world.root.join("same.txt");
    put(&canonical, "0123456789abcdef0123456789\n");
    put(&deployed, "0123456789abcdef0123456789X\n");
    put(&same, "0123456789abcdef0123456789\n");
    let limits = Limits {
        max_file_bytes: 16,
        ..Limits::default()
    };
    let report = check(
        &[
            Pair::new(Source::File(canonical.clone()), &deployed),
            Pair::new(Source::File(canonical), &same),
        ],
        &[],
        &world.roots(),
        &limits,
    )
    .expect("check runs");
    assert_eq!((report.checked, report.clean), (2, 1));
    assert_eq!(report.findings.len(), 1);
    let finding = &report.findings[0];
    assert_eq!(finding.path, deployed);
    // Expected digests computed independently with `sha256sum`.
    assert_eq!(
        finding.message(),
        format!(
            "{}: too large to diff (28 bytes, limit 16); compared by sha256: differs \
             (canonical b3b0203a9b5bace61234efe5222252db15e265b37ebe16b70bf81bfe8233a102, \
             deployed cf980a946e11020ce65910a55d326913f4db587d7dfd5428c627ccc167e56bcb)",
            deployed.display()
        )
    );
}

#[test]
fn a_wrong_mode_is_its_own_finding_beside_a_content_diff() {
    let world = World::new();
    let deployed = world.root.join("secret.env");
    put(&deployed, "TOKEN=old\n");
    chmod(&deployed, 0o644);
    let mut pair = text_pair("secret.env", "TOKEN=new\n", &deployed);
    pair.mode = Some(0o600);
    let report = run(&world, &[pair], &[]);
    let tags: Vec<FindingTag> = report.findings.iter().map(|f| f.kind.tag()).collect();
    assert_eq!(tags, vec![FindingTag::Differs, FindingTag::ModeDiffers]);
    assert_eq!(
        report.findings[1].message(),
        format!("{}: mode is 0644, expected 0600", deployed.display())
    );
}

/// Runs `check` on another thread and waits a bounded time, so a regression that blocks on a
/// FIFO fails the test instead of hanging the suite.
fn check_within(pairs: Vec<Pair>, roots: Vec<PathBuf>) -> Report {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check(&pairs, &[], &roots, &Limits::default()));
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("check returned instead of blocking")
        .expect("check runs")
}

#[test]
fn a_fifo_in_place_of_a_deployed_file_is_unreadable_and_never_opened() {
    let world = World::new();
    let deployed = world.root.join("pipe.conf");
    let status = std::process::Command::new("mkfifo")
        .arg(&deployed)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let report = check_within(vec![text_pair("p", "x\n", &deployed)], world.roots());
    assert_eq!(
        messages(&report),
        vec![format!(
            "{0}: cannot read {0}: is a FIFO, not a regular file",
            deployed.display()
        )]
    );
    assert!(report.findings[0].kind.tag().is_error());
}

#[test]
fn a_dangling_symlink_is_unreadable() {
    let world = World::new();
    let deployed = world.root.join("gone.conf");
    symlink(world.root.join("nowhere"), &deployed).expect("symlink");
    let report = run(&world, &[text_pair("g", "x\n", &deployed)], &[]);
    assert_eq!(
        messages(&report),
        vec![format!(
            "{0}: cannot read {0}: dangling symlink to {1}",
            deployed.display(),
            world.root.join("nowhere").display()
        )]
    );
}

#[test]
fn a_directory_in_place_of_a_canonical_file_is_unreadable() {
    let world = World::new();
    let deployed = world.root.join("a.conf");
    put(&deployed, "x\n");
    let report = run(
        &world,
        &[Pair::new(Source::File(world.canonical.clone()), &deployed)],
        &[],
    );
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: cannot read {}: is a directory, not a regular file",
            deployed.display(),
            world.canonical.display()
        )]
    );
}

#[test]
fn a_symlink_escaping_the_roots_is_reported_and_not_read() {
    let world = World::new();
    let outside = world.base().join("outside.conf");
    put(&outside, "the same text\n");
    let deployed = world.root.join("escape.conf");
    symlink(&outside, &deployed).expect("symlink");
    // Identical content: were the file read, the pair would pass.
    let report = run(&world, &[text_pair("e", "the same text\n", &deployed)], &[]);
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: resolves to {}, outside the allowed roots; not read or written",
            deployed.display(),
            outside.display()
        )]
    );
    assert_eq!(report.checked, 0);
}

#[test]
fn a_symlinked_directory_escaping_the_roots_is_caught_on_a_missing_file_too() {
    let world = World::new();
    let outside = world.base().join("elsewhere");
    fs::create_dir_all(&outside).expect("mkdir");
    symlink(&outside, world.root.join("linked")).expect("symlink");
    let deployed = world.root.join("linked/new.conf");
    let report = run(&world, &[text_pair("n", "x\n", &deployed)], &[]);
    assert_eq!(
        report.findings[0].kind,
        FindingKind::OutsideRoots {
            resolved: outside.join("new.conf")
        }
    );
}

#[test]
fn dot_dot_escaping_the_roots_is_reported() {
    let world = World::new();
    let sneaky = world.root.join("sub/../../canonical/x.conf");
    put(&world.canonical.join("x.conf"), "x\n");
    let report = run(&world, &[text_pair("x", "x\n", &sneaky)], &[]);
    assert_eq!(
        messages(&report),
        vec![format!(
            "{0}: resolves to {0}, outside the allowed roots; not read or written",
            world.canonical.join("x.conf").display()
        )]
    );
}

#[test]
fn no_roots_means_nothing_is_read() {
    let world = World::new();
    let deployed = world.root.join("a.conf");
    put(&deployed, "x\n");
    let report = check(
        &[text_pair("a", "x\n", &deployed)],
        &[],
        &[],
        &Limits::default(),
    )
    .expect("check runs");
    assert_eq!(report.findings[0].kind.tag(), FindingTag::OutsideRoots);
}

fn dir_rule(world: &World, include: &[&str], exclude: &[&str]) -> DirRule {
    DirRule {
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        ..DirRule::new(world.canonical.join("conf.d"), world.root.join("conf.d"))
    }
}

#[test]
fn a_managed_directory_reports_missing_extra_and_differing_files_in_path_order() {
    let world = World::new();
    let canonical = world.canonical.join("conf.d");
    let deployed = world.root.join("conf.d");
    put(&canonical.join("a.yaml"), "a\n");
    put(&canonical.join("b.yaml"), "b\n");
    put(&canonical.join("sub/c.yaml"), "c\n");
    put(&canonical.join("README.md"), "not selected\n");
    put(&deployed.join("a.yaml"), "a\n");
    put(&deployed.join("b.yaml"), "B\n");
    put(&deployed.join("sub/stray.yaml"), "?\n");
    put(&deployed.join("notes.txt"), "not selected either\n");
    put(&deployed.join("skip.yaml"), "excluded\n");
    let report = run(
        &world,
        &[],
        &[dir_rule(&world, &["**/*.yaml"], &["skip.*"])],
    );
    let found: Vec<(PathBuf, FindingTag)> = report
        .findings
        .iter()
        .map(|f| (f.path.clone(), f.kind.tag()))
        .collect();
    assert_eq!(
        found,
        vec![
            (deployed.join("b.yaml"), FindingTag::Differs),
            (deployed.join("sub/c.yaml"), FindingTag::Missing),
            (deployed.join("sub/stray.yaml"), FindingTag::Extra),
        ]
    );
    assert_eq!(
        report.findings[2].message(),
        format!(
            "{}: unmanaged file in managed directory {}",
            deployed.join("sub/stray.yaml").display(),
            deployed.display()
        )
    );
    assert_eq!((report.checked, report.clean), (3, 1));
}

#[test]
fn a_single_star_does_not_cross_directories() {
    let world = World::new();
    put(&world.canonical.join("conf.d/top.yaml"), "t\n");
    put(&world.canonical.join("conf.d/sub/deep.yaml"), "d\n");
    let report = run(&world, &[], &[dir_rule(&world, &["*.yaml"], &[])]);
    let paths: Vec<PathBuf> = report.findings.iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths, vec![world.root.join("conf.d/top.yaml")]);
}

#[test]
fn a_file_claimed_by_a_pair_is_not_extra_in_its_directory() {
    let world = World::new();
    put(&world.canonical.join("conf.d/a.yaml"), "a\n");
    put(&world.root.join("conf.d/a.yaml"), "a\n");
    put(&world.root.join("conf.d/local.yaml"), "l\n");
    let report = run(
        &world,
        &[text_pair(
            "local",
            "l\n",
            &world.root.join("conf.d/local.yaml"),
        )],
        &[dir_rule(&world, &[], &[])],
    );
    assert_eq!(report.findings, vec![]);
    assert_eq!(report.checked, 2);
}

#[test]
fn a_missing_canonical_directory_is_an_error_finding() {
    let world = World::new();
    let report = run(&world, &[], &[dir_rule(&world, &[], &[])]);
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: canonical source {} does not exist",
            world.root.join("conf.d").display(),
            world.canonical.join("conf.d").display()
        )]
    );
}

#[test]
fn a_deployed_directory_outside_the_roots_is_not_walked() {
    let world = World::new();
    put(&world.canonical.join("conf.d/a.yaml"), "a\n");
    let rule = DirRule::new(world.canonical.join("conf.d"), world.base().join("other"));
    let report = run(&world, &[], &[rule]);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].kind.tag(), FindingTag::OutsideRoots);
    assert_eq!(report.checked, 0);
}

fn input_error(world: &World, pairs: &[Pair], dirs: &[DirRule], roots: &[PathBuf]) -> String {
    let err = check(pairs, dirs, roots, &Limits::default()).expect_err("bad input is an error");
    let _: Kind = err.kind();
    err.to_string()
        .replace(&world.base().display().to_string(), "<base>")
}

#[test]
fn bad_input_is_a_clear_error_naming_the_path() {
    let world = World::new();
    let roots = world.roots();
    let good = world.root.join("a.conf");
    assert_eq!(
        input_error(
            &world,
            &[text_pair("a", "", "etc/a.conf".as_ref())],
            &[],
            &roots
        ),
        "path must be absolute: etc/a.conf: resolve it against the host profile first"
    );
    assert_eq!(
        input_error(
            &world,
            &[text_pair("a", "", &good)],
            &[],
            &[PathBuf::from("deployed")]
        ),
        "path must be absolute: deployed: resolve it against the host profile first"
    );
    assert_eq!(
        input_error(&world, &[], &[dir_rule(&world, &["[a-"], &[])], &roots),
        "invalid glob: <base>/deployed/conf.d: include glob \"[a-\": \
         error parsing glob '[a-': unclosed character class; missing ']'"
    );
    assert_eq!(
        input_error(
            &world,
            &[
                text_pair("a", "", &good),
                text_pair("b", "", &world.root.join("x/../a.conf"))
            ],
            &[],
            &roots
        ),
        "deployed file claimed twice: <base>/deployed/a.conf: also claimed as \
         <base>/deployed/a.conf; each deployed file needs exactly one canonical source"
    );
    let mut bad_mode = text_pair("a", "", &good);
    bad_mode.mode = Some(0o10644);
    assert_eq!(
        input_error(&world, &[bad_mode], &[], &roots),
        "invalid mode: <base>/deployed/a.conf: 10644 is not a permission mode (at most 7777 octal)"
    );
}

#[test]
fn a_pathological_five_megabyte_pair_comes_back_marked_truncated() {
    let world = World::new();
    let deployed = world.root.join("huge.txt");
    // Every other line differs, so Myers' work grows with the square of the line count.
    let mut old = String::with_capacity(5 << 20);
    let mut new = String::with_capacity(5 << 20);
    let mut i = 0u64;
    while old.len() < 5 << 20 {
        old.push_str(&format!("line {i} same\n"));
        new.push_str(&format!(
            "line {i} {}\n",
            if i % 2 == 0 { "same" } else { "changed" }
        ));
        i += 1;
    }
    put(&deployed, &new);
    let limits = Limits {
        diff_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let report = check(
        &[text_pair("huge", &old, &deployed)],
        &[],
        &world.roots(),
        &limits,
    )
    .expect("check runs");
    let FindingKind::Differs { diff, truncated } = &report.findings[0].kind else {
        panic!("expected a diff, got {:?}", report.findings[0].kind.tag());
    };
    assert!(truncated);
    assert!(diff.len() <= limits.max_diff_bytes + 200, "{}", diff.len());
    // With ~350,000 lines half of which differ, no machine finishes Myers in 200 ms.
    assert!(
        diff.contains(
            "[auditwall: the diff hit its 200 ms time cap; it is correct but may not be minimal]\n"
        ),
        "{}",
        &diff[diff.len().saturating_sub(300)..]
    );
}

#[test]
fn a_diff_over_the_size_cap_is_cut_at_a_line_and_says_so() {
    let world = World::new();
    let deployed = world.root.join("long.txt");
    let old: String = (0..100).map(|i| format!("old {i}\n")).collect();
    let new: String = (0..100).map(|i| format!("new {i}\n")).collect();
    put(&deployed, &new);
    let limits = Limits {
        max_diff_bytes: 300,
        ..Limits::default()
    };
    let report = check(
        &[text_pair("long", &old, &deployed)],
        &[],
        &world.roots(),
        &limits,
    )
    .expect("check runs");
    let FindingKind::Differs { diff, truncated } = &report.findings[0].kind else {
        panic!("expected a diff");
    };
    assert!(truncated);
    let (shown, note) = diff
        .rsplit_once("[auditwall:")
        .expect("the diff ends with a note");
    assert_eq!(note, " diff cut at 300 bytes; the rest is not shown]\n");
    assert!(shown.len() <= 300 && shown.ends_with("\n"), "{shown}");
    assert!(shown.contains("\n-old 0\n"), "{shown}");
}

#[test]
fn findings_serialize_with_their_kind_name() {
    let finding = Finding {
        path: PathBuf::from("/srv/a.conf"),
        kind: FindingKind::ModeDiffers {
            expected: 0o600,
            actual: 0o644,
        },
    };
    assert_eq!(
        serde_json::to_string(&finding).expect("serialize"),
        r#"{"path":"/srv/a.conf","kind":"mode_differs","expected":384,"actual":420}"#
    );
}

#[test]
fn finding_tags_parse_by_name_and_name_the_choices_when_wrong() {
    assert_eq!(
        "binary_differs".parse::<FindingTag>(),
        Ok(FindingTag::BinaryDiffers)
    );
    assert_eq!(FindingTag::TooLarge.to_string(), "too_large");
    assert_eq!(
        "drift".parse::<FindingTag>().map_err(|e| e.to_string()),
        Err(
            "unknown finding kind \"drift\"; expected one of: missing, extra, differs, \
             binary_differs, mode_differs, too_large, unreadable, outside_roots, canonical_missing"
                .to_string()
        )
    );
}

#[test]
fn a_directory_of_listed_sources_manages_the_deployed_directory_like_a_canonical_one() {
    let world = World::new();
    let deployed = world.root.join("conf.d");
    put(&deployed.join("router.yaml"), "port: 1\n");
    put(&deployed.join("stray.yaml"), "x\n");
    let rule = DirRule {
        canonical: DirSource::Files(vec![
            (
                PathBuf::from("router.yaml"),
                Source::Text {
                    name: "canonical/router.yaml.tmpl".into(),
                    text: "port: 2\n".into(),
                },
            ),
            (
                PathBuf::from("hub.yaml"),
                Source::Text {
                    name: "canonical/hub.yaml.tmpl".into(),
                    text: "fault: none\n".into(),
                },
            ),
            (
                PathBuf::from("notes.txt"),
                Source::Text {
                    name: "canonical/notes.txt".into(),
                    text: "excluded\n".into(),
                },
            ),
        ]),
        include: vec!["*.yaml".into()],
        ..DirRule::new("unused", &deployed)
    };
    let report = run(&world, &[], &[rule]);
    let tags: Vec<(PathBuf, FindingTag)> = report
        .findings
        .iter()
        .map(|f| (f.path.clone(), f.kind.tag()))
        .collect();
    assert_eq!(
        tags,
        vec![
            (deployed.join("hub.yaml"), FindingTag::Missing),
            (deployed.join("router.yaml"), FindingTag::Differs),
            (deployed.join("stray.yaml"), FindingTag::Extra),
        ]
    );
    assert_eq!(report.checked, 2);
    let diff = report.findings[1].diff().expect("a diff");
    assert!(diff.contains("--- canonical/router.yaml.tmpl"), "{diff}");
    assert!(diff.contains("-port: 2\n+port: 1"), "{diff}");
}
