//! Signing and verifying a 10 MB release bundle (the brief's budget: <= 1 s each).
//!
//! Owns: a throwaway bundle and key in one temp dir. Must not touch: anything else; it opens
//! no socket and starts no process.
//!
//! The bundle is three files the shape of a real one — `report.json` 8 MiB, `junit.xml`
//! 1.5 MiB, `release-notes.md` 0.5 MiB (10 MiB in all) — so the time is dominated by the
//! sha256 of every byte, which signing and verifying each do once. `sign` is
//! `write_manifest` + `sign_manifest` on a bundle without MANIFEST (removing the two files is
//! setup, not timed); `verify` is the whole offline check. See docs/performance.md.

use std::hint::black_box;
use std::path::Path;

use auditwall_release::{
    allowed_signers_line, keygen, sign_manifest, verify, write_manifest, MANIFEST_FILE,
    SIGNATURE_FILE,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const FILES: [(&str, usize); 3] = [
    ("report.json", 8 * 1024 * 1024),
    ("junit.xml", 1536 * 1024),
    ("release-notes.md", 512 * 1024),
];

/// Deterministic text-like bytes (a cheap LCG), so every run hashes the same content.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b' ' + (state >> 58) as u8
        })
        .collect()
}

fn unsign(bundle: &Path) {
    for name in [MANIFEST_FILE, SIGNATURE_FILE] {
        std::fs::remove_file(bundle.join(name)).expect("remove the previous manifest");
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bundle = tmp.path().join("v1.0.0");
    std::fs::create_dir(&bundle).expect("bundle dir");
    let mut total = 0;
    for (i, (name, len)) in FILES.into_iter().enumerate() {
        std::fs::write(bundle.join(name), content(len, i as u64)).expect("bundle file");
        total += len;
    }
    let key = tmp.path().join("release_key");
    let public = keygen(&key, "bench").expect("keygen");
    let allowed = tmp.path().join("allowed_signers");
    let line = allowed_signers_line("bench", &public).expect("allowed signers line");
    std::fs::write(&allowed, format!("{line}\n")).expect("allowed signers");
    write_manifest(&bundle).expect("manifest");
    sign_manifest(&bundle, &key).expect("sign");

    let mut group = c.benchmark_group("release_bundle_10MiB");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(20);
    group.bench_function("sign", |b| {
        b.iter_batched(
            || unsign(&bundle),
            |()| {
                write_manifest(&bundle).expect("manifest");
                sign_manifest(&bundle, &key).expect("sign");
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(verify(&bundle, &allowed).expect("verify")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
