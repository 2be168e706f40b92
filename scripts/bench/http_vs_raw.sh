#!/usr/bin/env bash
# 1,000 HTTP probes through `auditwall verify --jobs 8` vs ApacheBench `ab -n 1000 -c 8 -k`,
# both against the same URL (GET /health of the reference model-primary server on 127.0.0.1),
# both keep-alive. Prints the hyperfine medians and the ratio auditwall / ab.
#
# Why ab and not wrk: wrk runs for a duration, ab sends exactly N requests, so both sides do
# the same amount of work. auditwall's time also includes process start, loading and planning
# the 1,000-check wall, judging each response and writing the JUnit/JSON/Markdown reports; the
# `verify --dry-run` line (load + plan + print, no probes) shows that fixed part on its own,
# and the `reports on tmpfs` line shows what the reports' fsync costs on this disk.
#
# Env: AUDITWALL_BIN (default target/release/auditwall), CHECKS (1000), JOBS (8), RUNS (10).
# Needs: python3, curl, hyperfine, ab (apt-get install -y hyperfine apache2-utils).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${AUDITWALL_BIN:-$repo/target/release/auditwall}"
checks="${CHECKS:-1000}"
jobs="${JOBS:-8}"
runs="${RUNS:-10}"

for tool in python3 curl hyperfine ab; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "error: $bin not built (cargo build --release -p auditwall)" >&2; exit 2; }

work="$(mktemp -d)"
shm="$(mktemp -d -p /dev/shm)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port, chosen by the kernel.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/health"

# The deployed config, rendered from the canonical template with the templates' own syntax:
# `${name}` is replaced by its value, `$${` is a literal `${`, any other `$` stays. A
# placeholder without a value, or one not closed on its line, stops the script: the server
# must not start from a config it would misread.
python3 - "$repo/reference/templates/model-primary.yaml.tmpl" "$work/model-primary.yaml" \
    "ports.model_primary=$port" "paths.run_dir=$work" <<'EOF' || exit 2
import re, sys
template, out, *pairs = sys.argv[1:]
values = dict(pair.split("=", 1) for pair in pairs)
def substitute(match):
    if match.group(0) == "$${":
        return "${"
    name = match.group(1)
    if name is None:
        sys.exit(f'error: {template}: "${{" is never closed with "}}" on its line')
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        sys.exit(f'error: {template}: "{name}" is not a variable name')
    if name not in values:
        sys.exit(f'error: {template}: no value for variable "{name}"')
    return values[name]
with open(template) as f:
    text = f.read()
with open(out, "w") as f:
    f.write(re.sub(r"\$\$\{|\$\{(?:([^}\n]*)\})?", substitute, text))
EOF

AUDITWALL_SERVE=model-primary AUDITWALL_SERVE_CONFIG="$work/model-primary.yaml" \
    AUDITWALL_SERVE_LISTEN="127.0.0.1:$port" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!

# Bounded readiness poll: at most 100 tries, each bounded by curl's own 1 s timeout.
ready=""
for _ in $(seq 1 100); do
    if curl -fsS -m 1 "$url" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 3; }
    sleep 0.1
done
[[ -n "$ready" ]] || { echo "error: $url not ready after 100 polls" >&2; cat "$work/server.log" >&2; exit 3; }

python3 "$repo/scripts/bench/gen_wall.py" "$work/wall" --checks "$checks" --jobs "$jobs" --http "$url"

verify=("$bin" verify "$work/wall" --jobs "$jobs" --color never --report-dir "$work/reports")
shm_reports=("$bin" verify "$work/wall" --jobs "$jobs" --color never --report-dir "$shm/reports")
dry=("$bin" verify "$work/wall" --jobs "$jobs" --color never --dry-run)
raw=(ab -q -k -n "$checks" -c "$jobs" "$url")

# Both sides must do the real work once before being timed: every probe passes, every request
# succeeds over keep-alive.
"${verify[@]}" > "$work/verify.out" || { echo "error: verify was not green" >&2; tail -5 "$work/verify.out" >&2; exit 1; }
"${raw[@]}" > "$work/ab.out" || { echo "error: ab failed" >&2; cat "$work/ab.out" >&2; exit 1; }
grep -q "^Complete requests: *$checks\$" "$work/ab.out" || { echo "error: ab did not complete $checks requests" >&2; exit 1; }
grep -q "^Failed requests: *0\$" "$work/ab.out" || { echo "error: ab saw failed requests" >&2; exit 1; }
grep -q "^Keep-Alive requests: *$checks\$" "$work/ab.out" || { echo "error: ab did not keep connections alive" >&2; exit 1; }

q() { printf '%q ' "$@"; }
hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$work/hyperfine.json" \
    -n "auditwall verify ($checks http, --jobs $jobs)" "$(q "${verify[@]}")" \
    -n "ab -k -n $checks -c $jobs" "$(q "${raw[@]}")" \
    -n "auditwall verify, reports on tmpfs" "$(q "${shm_reports[@]}")" \
    -n "auditwall verify --dry-run" "$(q "${dry[@]}")"

python3 - "$work/hyperfine.json" "$work/reports/report.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
# The engine's own share (engine::run start to end, as report.json records it), last timed run.
print(f"engine run inside the last verify: {json.load(open(sys.argv[2]))['duration_ms']} ms")
verify, ab = results[0]["median"], results[1]["median"]
for r in results:
    print(f"median {r['command']}: {r['median'] * 1000:.1f} ms ({r['median'] / ab:.2f}x ab)")
print(f"ratio auditwall verify / ab: {verify / ab:.2f}x (target <= 1.3x)")
EOF
