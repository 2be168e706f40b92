#!/usr/bin/env bash
# The same check a stranger would run by hand, on a 10 MiB bundle the size of the criterion
# bench's: `sha256sum -c MANIFEST` plus `ssh-keygen -Y verify`, timed with hyperfine. It is the
# yardstick for `cargo bench -p auditwall-release --bench bundle` (see docs/performance.md).
# Needs hyperfine, ssh-keygen, sha256sum. Works in a mktemp dir it removes on exit; no network.
set -euo pipefail
RUNS=${RUNS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
b="$tmp/v1.0.0"
mkdir "$b"
# Text of exactly $2 bytes: base64 of 3/4 as many random bytes.
text() { head -c $(($2 * 3 / 4)) /dev/urandom | base64 -w 0 > "$b/$1"; }
text report.json $((8 * 1024 * 1024))
text junit.xml $((1536 * 1024))
text release-notes.md $((512 * 1024))
ssh-keygen -q -t ed25519 -N '' -C bench -f "$tmp/key"
(cd "$b" && sha256sum junit.xml release-notes.md report.json > MANIFEST)
ssh-keygen -Y sign -q -f "$tmp/key" -n auditwall-release < "$b/MANIFEST" > "$b/MANIFEST.sig" 2>/dev/null
echo "bench namespaces=\"auditwall-release\" $(cat "$tmp/key.pub")" > "$tmp/allowed_signers"
cd "$b"
# Through a shell (hyperfine subtracts its start-up): ssh-keygen reads the message on stdin.
allowed="$tmp/allowed_signers"
hyperfine --runs "$RUNS" --warmup 3 \
  'sha256sum -c --quiet MANIFEST' \
  "ssh-keygen -Y verify -f $allowed -I bench -n auditwall-release -s MANIFEST.sig < MANIFEST" \
  "sha256sum -c --quiet MANIFEST && ssh-keygen -Y verify -f $allowed -I bench -n auditwall-release -s MANIFEST.sig < MANIFEST"
