#!/usr/bin/env bash
# Kitchen Loop exercise benchmark: actions verified at L3 and L4 per second against the
# reference hub, and the RSS of the exerciser and of the hub over the run (flat memory).
#   - starts a reference system with `auditwall up` in a temporary directory
#   - runs `auditwall loop exercise --duration <seconds>s --seed <seed>` against it (or, if
#     that binary has no `loop exercise` yet, the library's bench driver
#     target/release/examples/exercise against the same hub)
#   - samples VmRSS of both processes every 5 s into rss.csv and prints first, last and max
# Loopback only; everything it starts is stopped on exit.
# Usage: scripts/bench/exercise.sh [seconds (60)] [seed (1)]
# Needs: cargo build --release -p auditwall
#        cargo build --release -p auditwall-kitchen --example exercise   (fallback driver)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS="${1:-60}"
SEED="${2:-1}"
BIN="$PWD/target/release/auditwall"
DRIVER="$PWD/target/release/examples/exercise"
[ -x "$BIN" ] || { echo "build first: cargo build --release -p auditwall" >&2; exit 2; }
WORK="$(mktemp -d)"
DIR="$WORK/reference"
EXPID=""
cleanup() {
  [ -n "$EXPID" ] && kill "$EXPID" 2>/dev/null || true
  "$BIN" down --dir "$DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" up --dir "$DIR" >/dev/null
HUB_PID="$(cat "$DIR/run/hub.pid")"
HUB="$(python3 -c 'import json,sys; print("http://127.0.0.1:%d" % json.load(open(sys.argv[1]))["ports"]["hub"])' "$DIR/system.json")"

if "$BIN" loop exercise --help >/dev/null 2>&1; then
  WHO="auditwall loop exercise"
  AUDITWALL_REFERENCE_DIR="$DIR" "$BIN" loop exercise --duration "${SECS}s" --seed "$SEED" \
    --findings "$WORK/findings" >"$WORK/out.txt" 2>"$WORK/err.txt" &
else
  [ -x "$DRIVER" ] || { echo "no 'auditwall loop exercise' and no driver: cargo build --release -p auditwall-kitchen --example exercise" >&2; exit 2; }
  WHO="examples/exercise (bench driver; auditwall has no 'loop exercise' yet)"
  "$DRIVER" "$HUB" "$SECS" "$SEED" "$WORK/findings" >"$WORK/out.txt" 2>"$WORK/err.txt" &
fi
EXPID=$!

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
echo "t_s,exerciser_kib,hub_kib" >"$WORK/rss.csv"
T=0
# Bounded: the run ends after SECS (plus shrinking and shutdown); allow 60 s more.
while kill -0 "$EXPID" 2>/dev/null && [ "$T" -le $((SECS + 60)) ]; do
  sleep 5 # the sampling interval of a measurement, not a readiness wait
  T=$((T + 5))
  E="$(rss_kib "$EXPID")"
  [ "$E" = "0" ] && break
  echo "$T,$E,$(rss_kib "$HUB_PID")" >>"$WORK/rss.csv"
done
STATUS=0
wait "$EXPID" || STATUS=$?
EXPID=""

echo "== exerciser: $WHO, ${SECS}s, seed $SEED, hub $HUB (pid $HUB_PID)"
cat "$WORK/out.txt"
[ -s "$WORK/err.txt" ] && tail -n 3 "$WORK/err.txt"
echo "exit status: $STATUS"
# A run that errors is explained, not guessed at: did the hub restart under it?
WATCHDOG="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ports"]["watchdog"])' "$DIR/system.json")"
echo "hub pid at start $HUB_PID, at end $(cat "$DIR/run/hub.pid" 2>/dev/null || echo none); watchdog: $(python3 - "$WATCHDOG" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/status", timeout=5) as r:
        hub = [s for s in json.load(r)["services"] if s["name"] == "hub"][0]
    print(f"hub {hub['state']}, {hub['restarts']} restarts, last error {hub['last_error']}")
except Exception as e:
    print(f"unreadable ({e})")
PY
)"
python3 - "$WORK/rss.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    print("no RSS samples (the run was shorter than 5 s)")
    sys.exit(0)
for col, name in (("exerciser_kib", "exerciser"), ("hub_kib", "hub")):
    v = [int(r[col]) for r in rows]
    print(f"RSS {name:<9} first {v[0]/1024:6.1f} MiB (t={rows[0]['t_s']}s)  last {v[-1]/1024:6.1f} MiB (t={rows[-1]['t_s']}s)  max {max(v)/1024:6.1f} MiB  ({len(v)} samples)")
    # The curve's shape (growing or levelling off), at tenths of the run.
    marks = sorted({round(i * (len(v) - 1) / 10) for i in range(11)})
    print("    curve: " + "  ".join(f"{rows[i]['t_s']}s {v[i]/1024:.1f}" for i in marks))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
