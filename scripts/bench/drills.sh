#!/usr/bin/env bash
# Drill benchmarks (issue: drills):
#   1. accuracy: each repetition runs one drill (`verify --id <drill> --allow-disruptive`) against
#      an `up` reference system, then fetches the router's own switch log (GET /events), and
#      compares t0_unix_ms + recover.at_ms with the time_ms of the router's first
#      model-primary -> model-fallback switch after t0 (scripts/bench/drill_accuracy.py).
#      router.failover (the primary stopped) and router.blackhole (the primary hangs until the
#      router's timeout).
#   2. full run: hyperfine of `verify --suite drills --allow-disruptive` (all five reference
#      drills) against the same system, red runs timed too, plus each run's exit code and
#      per-drill durations from its own report.json.
# Before the timed parts it waits (polling every 30 s, at most 15 minutes in all) for the
# 1-minute load average to fall below LOAD_MAX, and prints the load next to every result.
# Loopback only; the system it starts, its journal and its reports are removed on exit.
# Usage: [REPS=20] [BLACKHOLE_REPS=20] [RUNS=5] [LOAD_MAX=1.0] scripts/bench/drills.sh
#   (needs a release build: cargo build --release -p auditwall; hyperfine, python3, curl)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${REPS:-20}"
BLACKHOLE_REPS="${BLACKHOLE_REPS:-20}"
RUNS="${RUNS:-5}"
LOAD_MAX="${LOAD_MAX:-1.0}"
BUILT="$PWD/target/release/auditwall"
HERE="$PWD/scripts/bench"
[ -x "$BUILT" ] || { echo "build first: cargo build --release -p auditwall" >&2; exit 2; }
for tool in hyperfine python3 curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
WORK="$(mktemp -d)"
BIN="$WORK/auditwall"
# A private system and journal, so drills never touch another run's system on this machine.
export AUDITWALL_REFERENCE_DIR="$WORK/reference"
export AUDITWALL_JOURNAL="$WORK/journal.json"
trap '[ -x "$BIN" ] && "$BIN" down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
# A copy, so a rebuild in the shared target dir cannot swap the binary in the middle of a run.
cp "$BUILT" "$BIN"

load() { cut -d' ' -f1-3 /proc/loadavg; }

WAITED=0 # seconds spent waiting for a quiet machine, over the whole script
wait_for_quiet() {
  while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$LOAD_MAX" 'BEGIN { exit !(l >= m) }'; do
    if [ "$WAITED" -ge 900 ]; then
      echo "load still $(load) after 15 minutes; measuring anyway" >&2
      return
    fi
    echo "load $(load) >= $LOAD_MAX, waiting (${WAITED}s so far)" >&2
    sleep 30 # polling the load average, not waiting for readiness
    WAITED=$((WAITED + 30))
  done
}

"$BIN" up >/dev/null
ROUTER_PORT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ports"]["router"])' \
  "$AUDITWALL_REFERENCE_DIR/system.json")"
echo "$(date -u "+%F %T UTC"): reference system up in $AUDITWALL_REFERENCE_DIR (router on 127.0.0.1:$ROUTER_PORT), HEAD $(git rev-parse --short HEAD)"

accuracy() {
  local drill="$1" reps="$2" i dir rc
  wait_for_quiet
  echo "== 1. $drill: $reps repetitions (load before: $(load))"
  for i in $(seq -w 1 "$reps"); do
    dir="$WORK/$drill/$i"
    mkdir -p "$dir"
    rc=0
    "$BIN" verify --id "$drill" --allow-disruptive --color never --report-dir "$dir" \
      >"$dir/verify.log" 2>&1 || rc=$?
    curl -sf --max-time 5 "http://127.0.0.1:$ROUTER_PORT/events" >"$dir/events.json"
    # exit 1 is a red drill (reported in the table); anything else means it could not run.
    if [ "$rc" -gt 1 ]; then
      echo "verify exited $rc in repetition $i:" >&2
      cat "$dir/verify.log" >&2
      exit 1
    fi
  done
  echo "(load after: $(load))"
  python3 "$HERE/drill_accuracy.py" accuracy "$WORK/$drill"/*
}

accuracy router.failover "$REPS"
accuracy router.blackhole "$BLACKHOLE_REPS"

FULL="$BIN verify --suite drills --allow-disruptive --color never --report-dir $WORK/full/run"
mkdir -p "$WORK/full"
wait_for_quiet
echo "== 2. full run of the reference drills: hyperfine, $RUNS runs (load before: $(load))"
# -i: a red run is still a full run and is timed; its exit code and verdicts are listed
# below, from its own report (the untimed --prepare moves the previous one aside).
hyperfine --style basic --runs "$RUNS" -i --export-json "$WORK/full.json" \
  --prepare "if [ -d $WORK/full/run ]; then mv $WORK/full/run $WORK/full/\$(date +%s%N); fi" \
  "$FULL" >/dev/null
mv "$WORK/full/run" "$WORK/full/$(date +%s%N)"
echo "(load after: $(load))"
python3 "$HERE/drill_accuracy.py" hyperfine "$WORK/full.json"
echo "$(ls "$WORK"/full/*/report.json | wc -l) reports for $RUNS runs; per-drill durations of each:"
for report in "$WORK"/full/*/report.json; do
  python3 "$HERE/drill_accuracy.py" durations "$report"
done
