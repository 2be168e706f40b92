//! `write` against real files: it fixes what `check` reports, atomically and with backups,
//! and leaves alone what it must not touch.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use auditwall_calibration::{
    check, write, DirRule, FindingTag, Limits, Pair, Source, WriteAction, WriteOptions,
    WriteOutcome, WriteReport,
};
use common::{chmod, mode_of, put, text_pair, World};

const STAMP: u64 = 1_700_000_000_000;

fn options(world: &World) -> WriteOptions {
    WriteOptions {
        backup_dir: world.base().join("backups"),
        stamp_unix_ms: STAMP,
        adopt_unmanaged: false,
    }
}

fn write_all(world: &World, pairs: &[Pair], dirs: &[DirRule], opts: &WriteOptions) -> WriteReport {
    write(pairs, dirs, &world.roots(), &Limits::default(), opts).expect("write runs")
}

fn messages(report: &WriteReport) -> Vec<String> {
    report.actions.iter().map(WriteAction::message).collect()
}

/// A world with one of every fixable problem: missing (in a missing directory), differing
/// text, differing binary, too large, wrong mode alone, wrong mode with wrong content, and a
/// managed directory with a missing and a differing file.
fn drifted_world() -> (World, Vec<Pair>, Vec<DirRule>) {
    let world = World::new();
    let r = &world.root;
    put(&r.join("text.conf"), "old\n");
    put(&r.join("blob.bin"), b"\0old");
    put(&world.canonical.join("blob.bin"), b"\0new");
    put(&r.join("big.txt"), "x".repeat(64));
    put(&r.join("mode-only.env"), "same\n");
    chmod(&r.join("mode-only.env"), 0o644);
    put(&r.join("both.env"), "old\n");
    chmod(&r.join("both.env"), 0o640);
    put(&world.canonical.join("conf.d/a.yaml"), "a\n");
    put(&world.canonical.join("conf.d/deep/b.yaml"), "b\n");
    put(&r.join("conf.d/a.yaml"), "A\n");
    let mut mode_only = text_pair("mode-only", "same\n", &r.join("mode-only.env"));
    mode_only.mode = Some(0o600);
    let mut both = text_pair("both", "new\n", &r.join("both.env"));
    both.mode = Some(0o600);
    let pairs = vec![
        text_pair("missing", "created\n", &r.join("new/dir/missing.conf")),
        text_pair("text", "new\n", &r.join("text.conf")),
        Pair::new(
            Source::File(world.canonical.join("blob.bin")),
            r.join("blob.bin"),
        ),
        text_pair("big", &"y".repeat(64), &r.join("big.txt")),
        mode_only,
        both,
    ];
    let mut rule = DirRule::new(world.canonical.join("conf.d"), r.join("conf.d"));
    rule.mode = Some(0o640);
    (world, pairs, vec![rule])
}

#[test]
fn write_then_check_is_clean_including_modes() {
    let (world, pairs, dirs) = drifted_world();
    let limits = Limits {
        max_file_bytes: 32,
        ..Limits::default()
    };
    let before = check(&pairs, &dirs, &world.roots(), &limits).expect("check runs");
    assert_eq!(before.clean, 0, "{:?}", before.findings);
    let report = write(&pairs, &dirs, &world.roots(), &limits, &options(&world)).expect("write");
    assert!(!report.has_failures(), "{:?}", messages(&report));
    let after = check(&pairs, &dirs, &world.roots(), &limits).expect("check runs");
    assert_eq!(after.findings, vec![]);
    assert_eq!(after.clean, after.checked);
    assert_eq!(after.checked, 8);
    let r = &world.root;
    assert_eq!(
        fs::read_to_string(r.join("new/dir/missing.conf")).expect("read"),
        "created\n"
    );
    assert_eq!(mode_of(&r.join("mode-only.env")), 0o600);
    assert_eq!(mode_of(&r.join("both.env")), 0o600);
    assert_eq!(mode_of(&r.join("conf.d/deep/b.yaml")), 0o640);
    // Nothing but the deployed files: no temporary files left beside them.
    let mut left: Vec<String> = fs::read_dir(r)
        .expect("list root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            "big.txt",
            "blob.bin",
            "both.env",
            "conf.d",
            "mode-only.env",
            "new",
            "text.conf"
        ]
    );
}

#[test]
fn each_action_is_reported_and_replaced_files_are_backed_up_with_their_old_bytes() {
    let (world, pairs, dirs) = drifted_world();
    let report = write_all(&world, &pairs, &dirs, &options(&world));
    let r = &world.root;
    let backup = |name: &str| {
        world
            .base()
            .join("backups")
            .join(STAMP.to_string())
            .join(r.join(name).strip_prefix("/").expect("absolute"))
    };
    assert_eq!(
        messages(&report),
        vec![
            format!(
                "{}: replaced (previous content saved to {})",
                r.join("big.txt").display(),
                backup("big.txt").display()
            ),
            format!(
                "{}: replaced (previous content saved to {})",
                r.join("blob.bin").display(),
                backup("blob.bin").display()
            ),
            format!(
                "{}: replaced (previous content saved to {})",
                r.join("both.env").display(),
                backup("both.env").display()
            ),
            format!(
                "{}: replaced (previous content saved to {})",
                r.join("conf.d/a.yaml").display(),
                backup("conf.d/a.yaml").display()
            ),
            format!("{}: created", r.join("conf.d/deep/b.yaml").display()),
            format!(
                "{}: mode changed from 0644 to 0600",
                r.join("mode-only.env").display()
            ),
            format!("{}: created", r.join("new/dir/missing.conf").display()),
            format!(
                "{}: replaced (previous content saved to {})",
                r.join("text.conf").display(),
                backup("text.conf").display()
            ),
        ]
    );
    assert_eq!(
        serde_json::to_string(&report.actions[4]).expect("serialize"),
        format!(
            r#"{{"path":"{}","outcome":"created"}}"#,
            r.join("conf.d/deep/b.yaml").display()
        )
    );
    assert_eq!(fs::read(backup("blob.bin")).expect("backup"), b"\0old");
    assert_eq!(
        fs::read_to_string(backup("text.conf")).expect("backup"),
        "old\n"
    );
    assert_eq!(
        fs::read_to_string(backup("both.env")).expect("backup"),
        "old\n"
    );
    assert_eq!(fs::read(r.join("blob.bin")).expect("read"), b"\0new");
}

#[test]
fn a_replaced_file_keeps_its_mode_when_none_is_required() {
    let world = World::new();
    let deployed = world.root.join("run.sh");
    put(&deployed, "echo old\n");
    chmod(&deployed, 0o750);
    write_all(
        &world,
        &[text_pair("run", "echo new\n", &deployed)],
        &[],
        &options(&world),
    );
    assert_eq!(fs::read_to_string(&deployed).expect("read"), "echo new\n");
    assert_eq!(mode_of(&deployed), 0o750);
}

#[test]
fn a_symlinked_deployed_file_inside_the_roots_has_its_target_replaced() {
    let world = World::new();
    let target = world.root.join("real/app.conf");
    let link = world.root.join("app.conf");
    put(&target, "old\n");
    symlink(&target, &link).expect("symlink");
    let pairs = [text_pair("app", "new\n", &link)];
    write_all(&world, &pairs, &[], &options(&world));
    assert!(fs::symlink_metadata(&link).expect("stat").is_symlink());
    assert_eq!(fs::read_to_string(&target).expect("read"), "new\n");
    let after = check(&pairs, &[], &world.roots(), &Limits::default()).expect("check");
    assert_eq!(after.findings, vec![]);
}

#[test]
fn an_unmanaged_file_is_refused_unless_adopted() {
    let world = World::new();
    let deployed = world.root.join("owned-by-apt.conf");
    put(&deployed, "theirs\n");
    let mut pair = text_pair("ours", "ours\n", &deployed);
    pair.managed = false;
    let pairs = [pair];
    let refused = write_all(&world, &pairs, &[], &options(&world));
    assert_eq!(
        messages(&refused),
        vec![format!(
            "{}: not managed by auditwall; left as is (adopt unmanaged files to overwrite it)",
            deployed.display()
        )]
    );
    assert!(refused.has_failures());
    assert_eq!(fs::read_to_string(&deployed).expect("read"), "theirs\n");
    assert!(!world.base().join("backups").exists());

    let adopted = write_all(
        &world,
        &pairs,
        &[],
        &WriteOptions {
            adopt_unmanaged: true,
            ..options(&world)
        },
    );
    assert!(matches!(
        adopted.actions[0].outcome,
        WriteOutcome::Replaced { .. }
    ));
    assert_eq!(fs::read_to_string(&deployed).expect("read"), "ours\n");
}

#[test]
fn extra_files_are_reported_and_never_deleted() {
    let world = World::new();
    put(&world.canonical.join("conf.d/a.yaml"), "a\n");
    put(&world.root.join("conf.d/a.yaml"), "a\n");
    let stray = world.root.join("conf.d/stray.yaml");
    put(&stray, "keep me\n");
    let dirs = [DirRule::new(
        world.canonical.join("conf.d"),
        world.root.join("conf.d"),
    )];
    let report = write_all(&world, &[], &dirs, &options(&world));
    assert_eq!(
        messages(&report),
        vec![format!(
            "{}: left as is: unmanaged file in a managed directory; reported, never deleted",
            stray.display()
        )]
    );
    assert!(!report.has_failures());
    assert_eq!(fs::read_to_string(&stray).expect("read"), "keep me\n");
    let after = check(&[], &dirs, &world.roots(), &Limits::default()).expect("check");
    let tags: Vec<FindingTag> = after.findings.iter().map(|f| f.kind.tag()).collect();
    assert_eq!(tags, vec![FindingTag::Extra]);
}

#[test]
fn nothing_is_written_outside_the_roots_or_without_a_canonical_source() {
    let world = World::new();
    let outside = world.base().join("outside.conf");
    let escape = world.root.join("escape.conf");
    put(&outside, "outside\n");
    symlink(&outside, &escape).expect("symlink");
    let no_canonical = world.root.join("orphan.conf");
    let pairs = [
        text_pair("e", "overwritten?\n", &escape),
        text_pair("d", "x\n", &world.root.join("../sibling/new.conf")),
        Pair::new(Source::File(world.canonical.join("nope")), &no_canonical),
    ];
    let report = write_all(&world, &pairs, &[], &options(&world));
    let outcomes: Vec<(PathBuf, bool)> = report
        .actions
        .iter()
        .map(|a| {
            (
                a.path.clone(),
                matches!(a.outcome, WriteOutcome::Left { .. }),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (escape.clone(), true),
            (no_canonical.clone(), true),
            (world.base().join("sibling/new.conf"), true),
        ]
    );
    assert_eq!(fs::read_to_string(&outside).expect("read"), "outside\n");
    assert!(!world.base().join("sibling").exists());
    assert!(!no_canonical.exists());
}

#[test]
fn a_file_that_cannot_be_backed_up_is_not_replaced() {
    let world = World::new();
    let deployed = world.root.join("app.conf");
    put(&deployed, "old\n");
    // A file where the backup directory should be: the backup, and so the write, must fail.
    let blocked = world.base().join("backups");
    put(&blocked, "not a directory\n");
    let report = write_all(
        &world,
        &[text_pair("app", "new\n", &deployed)],
        &[],
        &options(&world),
    );
    assert!(report.has_failures());
    let WriteOutcome::Failed { error } = &report.actions[0].outcome else {
        panic!("expected a failure, got {:?}", report.actions);
    };
    let parent = blocked
        .join(STAMP.to_string())
        .join(world.root.strip_prefix("/").expect("absolute"));
    assert!(
        error.starts_with(&format!(
            "cannot create backup directory {}: ",
            parent.display()
        )),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&deployed).expect("read"), "old\n");
}

#[test]
fn a_replaced_file_keeps_its_owner() {
    use std::os::unix::fs::{chown, MetadataExt};
    let world = World::new();
    let deployed = world.root.join("service.conf");
    put(&deployed, "old\n");
    if fs::metadata(&deployed).expect("stat").uid() != 0 {
        eprintln!("skipped: giving a file to another owner needs root");
        return;
    }
    chown(&deployed, Some(4321), Some(4322)).expect("chown");
    let mut pair = text_pair("service", "new\n", &deployed);
    pair.mode = Some(0o600);
    write_all(&world, &[pair], &[], &options(&world));
    let meta = fs::metadata(&deployed).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert_eq!(mode_of(&deployed), 0o600);
    assert_eq!(fs::read_to_string(&deployed).expect("read"), "new\n");
}
