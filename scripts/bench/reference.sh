#!/usr/bin/env bash
# Reference-system benchmarks (issue: runtime and reference system):
#   1. `auditwall up` until every service is ready (hyperfine, each run from a stopped system)
#   2. RSS of the whole idle system (supervisor + four services), from /proc
#   3. router overhead: p50 latency of a chat request through the router minus direct to the
#      primary, over the same keep-alive client (python3 http.client), sequential requests
# Loopback only; everything it starts is stopped on exit.
# Usage: scripts/bench/reference.sh [runs]   (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-20}"
BIN="$PWD/target/release/auditwall"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
WORK="$(mktemp -d)"
DIR="$WORK/reference"
trap '"$BIN" down --dir "$DIR" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

echo "== 1. auditwall up to all-ready ($RUNS runs)"
hyperfine --style basic --runs "$RUNS" --prepare "$BIN down --dir $DIR" \
  "$BIN up --dir $DIR" --export-json "$WORK/up.json" >/dev/null
python3 - "$WORK/up.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"up: median {r['median']*1000:.0f} ms, mean {r['mean']*1000:.0f} ms, min {r['min']*1000:.0f} ms, max {r['max']*1000:.0f} ms")
PY

"$BIN" down --dir "$DIR" >/dev/null
"$BIN" up --dir "$DIR" >/dev/null
sleep 2 # let the idle system settle (watchdog probes, allocator) before sampling: a measurement pause, not a readiness wait
echo "== 2. idle RSS of the whole system"
python3 - "$DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
info = json.load(open(os.path.join(d, "system.json")))
state = json.load(open(os.path.join(d, "state.json")))
pids = {"supervisor": info["daemon_pid"]}
pids.update({s["name"]: s["pid"] for s in state["services"]})
total = 0
for name, pid in pids.items():
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    total += rss
    print(f"  {name:<15} {rss/2**20:6.1f} MiB")
print(f"idle RSS total: {total/2**20:.1f} MiB")
PY

echo "== 3. router overhead on a warm backend"
python3 - "$DIR" <<'PY'
import http.client, json, os, statistics, sys, time
info = json.load(open(os.path.join(sys.argv[1], "system.json")))
body = json.dumps({"messages": [{"role": "user", "content": "2+2?"}]})
def sample(port, n=2000):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    out = []
    for i in range(n + 200):
        t = time.perf_counter()
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status != 200: raise SystemExit(f"status {r.status}")
        if i >= 200: out.append(time.perf_counter() - t)  # first 200 warm up
    c.close()
    return out
direct = sample(info["ports"]["model-primary"])
routed = sample(info["ports"]["router"])
p50d, p50r = statistics.median(direct), statistics.median(routed)
q = lambda xs, p: sorted(xs)[int(len(xs) * p)]
print(f"direct p50 {p50d*1000:.3f} ms (p95 {q(direct,.95)*1000:.3f}); via router p50 {p50r*1000:.3f} ms (p95 {q(routed,.95)*1000:.3f})")
print(f"router overhead p50: {(p50r-p50d)*1000:.3f} ms")
PY
