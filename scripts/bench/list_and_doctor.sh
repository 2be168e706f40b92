#!/usr/bin/env bash
# Two start-up costs a 1,000-check wall must keep small (docs/performance.md):
#   1. the probes suite binary listing its trials (`--list --format terse`, what nextest runs
#      before every test run) for a wall of 1,000 checks in one spec file;
#   2. `auditwall doctor` on a wall of 1,000 spec files (one check each).
# Both walls are file probes of /etc/hosts: listing and doctor never run a probe, so the kind
# only changes parsing, and file is the simplest.
#
# Build first (release): cargo build --release -p auditwall
#                        cargo test --release -p auditwall-suites --no-run
# Env: AUDITWALL_BIN (default target/release/auditwall), SUITE_BIN (default: the newest
# target/release/deps/probes-*), CHECKS (1000), RUNS (20).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${AUDITWALL_BIN:-$repo/target/release/auditwall}"
checks="${CHECKS:-1000}"
runs="${RUNS:-20}"
suite_bin="${SUITE_BIN:-}"
if [[ -z "$suite_bin" ]]; then
    suite_bin="$(find "$repo/target/release/deps" -maxdepth 1 -type f -name 'probes-*' -perm -u+x \
        -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)"
fi

for tool in python3 hyperfine; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "error: $bin not built (cargo build --release -p auditwall)" >&2; exit 2; }
[[ -n "$suite_bin" && -x "$suite_bin" ]] || {
    echo "error: no probes suite binary (cargo test --release -p auditwall-suites --no-run)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 "$repo/scripts/bench/gen_wall.py" "$work/one-file" --checks "$checks" --file /etc/hosts
python3 "$repo/scripts/bench/gen_wall.py" "$work/many-files" --checks "$checks" --files "$checks" --file /etc/hosts

# Each command must do the whole job before it is timed.
listed="$(AUDITWALL_WALL="$work/one-file" "$suite_bin" --list --format terse | grep -c ': test$' || true)"
[[ "$listed" == "$checks" ]] || { echo "error: the suite listed $listed trials, not $checks" >&2; exit 1; }
"$bin" doctor "$work/many-files" > "$work/doctor.out"
grep -q ": $checks checks in $checks spec files\$" "$work/doctor.out" || {
    echo "error: doctor did not see $checks checks in $checks files" >&2; cat "$work/doctor.out" >&2; exit 1; }

echo "suite binary: $suite_bin"
hyperfine --style basic --warmup 3 --runs "$runs" -N --export-json "$work/hyperfine.json" \
    -n "suite --list --format terse ($checks checks)" \
    "env AUDITWALL_WALL=$work/one-file $suite_bin --list --format terse" \
    -n "auditwall doctor ($checks spec files)" \
    "$bin doctor $work/many-files"

python3 - "$work/hyperfine.json" <<'EOF'
import json, sys
targets = [50, 200]
for r, target in zip(json.load(open(sys.argv[1]))["results"], targets):
    ms = r["median"] * 1000
    print(f"median {r['command']}: {ms:.1f} ms (target <= {target} ms, {ms / target:.2f}x of target)")
EOF
