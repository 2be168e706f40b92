//! Drift-check speed: 1,000 deployed files of ~10 KB with 1% differing (target ≤ 1 s on the
//! 2-core machine), and one pathological 5 MB pair that must stay near the diff time cap.
//!
//! Run: `cargo bench -p auditwall-calibration --bench drift`. Numbers are in docs/performance.md.

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auditwall_calibration::{check, DirRule, Limits, Pair, Source};
use criterion::{criterion_group, criterion_main, Criterion};

const FILES: usize = 1_000;
const DIFFERING_EVERY: usize = 100;

fn config_text(i: usize) -> String {
    // ~10 KB of config-like lines, different per file so nothing is trivially shared.
    (0..250)
        .map(|line| format!("service_{i}.option_{line:03} = value-{}\n", i * 31 + line))
        .collect()
}

fn write_tree(base: &Path) -> (PathBuf, PathBuf) {
    let canonical = base.join("canonical");
    let deployed = base.join("deployed");
    for i in 0..FILES {
        let dir = format!("group{:02}", i % 20);
        let name = format!("service{i:04}.conf");
        let text = config_text(i);
        let live = if i % DIFFERING_EVERY == 0 {
            text.replacen("value-", "drifted-", 3)
        } else {
            text.clone()
        };
        for (root, body) in [(&canonical, &text), (&deployed, &live)] {
            let path = root.join(&dir).join(&name);
            fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            fs::write(&path, body).expect("write");
        }
    }
    (canonical, deployed)
}

fn thousand_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonicalize");
    let (canonical, deployed) = write_tree(&base);
    let rule = DirRule::new(&canonical, &deployed);
    let roots = vec![deployed.clone()];
    let limits = Limits::default();
    let report = check(&[], std::slice::from_ref(&rule), &roots, &limits).expect("check");
    assert_eq!(
        (report.checked, report.findings.len()),
        (FILES, FILES / DIFFERING_EVERY)
    );
    c.bench_function("check 1,000 x 10 KB files, 1% differing", |b| {
        b.iter(|| {
            black_box(check(&[], std::slice::from_ref(&rule), &roots, &limits).expect("check"))
        })
    });
}

fn pathological_pair(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonicalize");
    let deployed = base.join("huge.txt");
    let mut old = String::new();
    let mut new = String::new();
    let mut i = 0u64;
    while old.len() < 5 << 20 {
        old.push_str(&format!("line {i} same\n"));
        new.push_str(&format!(
            "line {i} {}\n",
            if i % 2 == 0 { "same" } else { "changed" }
        ));
        i += 1;
    }
    fs::write(&deployed, &new).expect("write");
    let pair = Pair::new(
        Source::Text {
            name: "huge".to_string(),
            text: old,
        },
        &deployed,
    );
    let roots = vec![base.clone()];
    let limits = Limits::default();
    let mut group = c.benchmark_group("pathological");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("check one 5 MB pair, every other line differs", |b| {
        b.iter(|| {
            black_box(check(std::slice::from_ref(&pair), &[], &roots, &limits).expect("check"))
        })
    });
    group.finish();
}

criterion_group!(benches, thousand_files, pathological_pair);
criterion_main!(benches);
