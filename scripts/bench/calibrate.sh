#!/usr/bin/env bash
# `auditwall calibrate WALL --check` end to end, as a user runs it (release binary: process
# start, loading the wall, rendering templates, comparing, judging, three reports, the ledger):
#   1. one managed directory of 1,000 files of ~10 KB (20 subdirectories; half `.tmpl`
#      templates with a few ${...} each, half plain), deployed files rendered to match:
#      (a) clean, (b) 10% drifted (one changed line in each of 100 files, 50 templates and
#      50 plain); `auditwall list` of the same wall is the process-start + wall-load share
#      (loading renders every template), `list` of an empty wall the process start alone;
#   2. pathological pairs under `diff_timeout: 500ms, max_file_size: 8MiB`: a 5 MB text whose
#      deployed copy is the same lines shuffled (a diff that cannot finish inside the cap),
#      the same 5 MB pair identical (what reading and comparing costs without a diff), and a
#      20 MB pair over max_file_size, shuffled and identical (compared by sha256).
# Every case is run once and its exit code and report checked before it is timed.
#
# hyperfine runs without a shell (-N): the empty-wall line is ~1 ms, where a shell would be
# noise. Each timed run starts from an empty ledger (--prepare), so every run does the same
# work; the last line times the drifted case once more with the ledger at its 1,000-entry cap,
# which is where a ledger ends up after 1,000 runs.
#
# Build first: cargo build --release -p auditwall
# Env: AUDITWALL_BIN (default target/release/auditwall), RUNS (10).
# Needs: python3, hyperfine (apt-get install -y hyperfine).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${AUDITWALL_BIN:-$repo/target/release/auditwall}"
runs="${RUNS:-10}"

for tool in python3 hyperfine; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "error: $bin not built (cargo build --release -p auditwall)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# Relative deployed paths, roots and ledgers resolve against the working directory.
cd "$work"

# Deterministic: a fixed seed, so every run of the script compares the same bytes.
python3 - <<'EOF'
import os, random

rng = random.Random(20261127)
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()
PROFILE = {"app.name": "calbench", "app.host": "127.0.0.1", "app.port": "8080"}

def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)

def lines_of(i):
    """~10 KB of config-like lines for file i; templates get a placeholder every ~60 lines."""
    out = [f"# generated file {i:04d}\n"]
    n = 0
    while sum(map(len, out)) < 10_000:
        value = " ".join(rng.choice(WORDS) for _ in range(5))
        if i % 2 == 0 and n % 60 == 30:
            key = ("app.name", "app.host", "app.port")[(n // 60) % 3]
            value += f" ${{{key}}}"
        out.append(f"key_{i:04d}_{n:03d} = {value}\n")
        n += 1
    return out

def render(text):
    for key, value in PROFILE.items():
        text = text.replace(f"${{{key}}}", value)
    return text

# 1. 1,000 files, two walls that differ only in the deployed directory they check.
for case in ("clean", "drift"):
    write(f"wall-{case}/wall.yaml",
          f"name: calbench-{case}\ncalibration:\n  roots: [deployed-{case}]\n"
          f"  ledger: ledger-{case}.json\n")
    write(f"wall-{case}/profiles/base.yaml",
          "app:\n  name: calbench\n  host: \"127.0.0.1\"\n  port: \"8080\"\n")
    write(f"wall-{case}/calibration/bench.yaml",
          f"calibration:\n  - id: bench.many\n    dirs:\n"
          f"      - {{ canonical: canonical, deployed: deployed-{case} }}\n")
drifted = 0
for i in range(1000):
    sub = f"d{i % 20:02d}"
    lines = lines_of(i)
    name = f"f{i:04d}.conf"
    canonical = "".join(lines)
    for case in ("clean", "drift"):
        write(f"wall-{case}/canonical/{sub}/{name}" + (".tmpl" if i % 2 == 0 else ""), canonical)
    deployed = render(canonical)
    write(f"deployed-clean/{sub}/{name}", deployed)
    # 100 files drift, half of them templates: i % 10 is 0 (even) or 1 (odd) by decade.
    if i % 10 == (i // 10) % 2:
        middle = len(lines) // 2
        lines[middle] = lines[middle].rstrip("\n") + " # edited by hand\n"
        deployed = render("".join(lines))
        drifted += 1
    write(f"deployed-drift/{sub}/{name}", deployed)
assert drifted == 100, drifted

# Process start alone: a wall with nothing in it.
write("wall-empty/wall.yaml", "name: calbench-empty\n")

# 2. Pathological pairs: unique lines, so the shuffled copy differs on nearly every line.
def text_of(size, tag):
    lines, total, n = [], 0, 0
    while total < size:
        line = f"{tag} line {n:08d} {rng.choice(WORDS)}\n"
        lines.append(line)
        total += len(line)
        n += 1
    return lines

write("wall-big/wall.yaml",
      "name: calbench-big\ncalibration:\n  roots: [deployed-big]\n  ledger: ledger-big.json\n"
      "  diff_timeout: 500ms\n  max_file_size: 8MiB\n")
spec = "calibration:\n"
for name, size in (("big", 5_000_000), ("huge", 20_000_000)):
    lines = text_of(size, name)
    write(f"wall-big/canonical/{name}.txt", "".join(lines))
    write(f"deployed-big/{name}-same.txt", "".join(lines))
    rng.shuffle(lines)
    write(f"deployed-big/{name}-shuffled.txt", "".join(lines))
    for variant in ("same", "shuffled"):
        spec += (f"  - id: {name}.{variant}\n    files:\n"
                 f"      - {{ source: canonical/{name}.txt, deployed: deployed-big/{name}-{variant}.txt }}\n")
write("wall-big/calibration/big.yaml", spec)
EOF

die() { echo "error: $*" >&2; exit 1; }

# Runs `calibrate --check` once, insists on the exit code, and leaves the report in reports/$1.
once() {
    local name="$1" want="$2"
    shift 2
    local code=0
    "$bin" calibrate "$@" --check --color never --report-dir "reports/$name" >"$name.out" 2>&1 || code=$?
    [[ "$code" == "$want" ]] || { tail -20 "$name.out" >&2; die "$name: exit $code, expected $want"; }
}

# The finding kinds of report $1 as "kind count" lines, e.g. "differs 100".
kinds() {
    python3 - "reports/$1/report.json" <<'EOF'
import collections, json, sys
checks = json.load(open(sys.argv[1]))["checks"]
counts = collections.Counter(f["kind"] for c in checks for f in c.get("findings", []))
print(" ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none")
EOF
}

once clean 0 wall-clean
[[ "$(kinds clean)" == "none" ]] || die "clean: findings $(kinds clean)"
once drift 1 wall-drift
[[ "$(kinds drift)" == "differs 100" ]] || die "drift: findings $(kinds drift), expected differs 100"
listed="$("$bin" list wall-clean)"
grep -q 'bench.many' <<<"$listed" || die "list did not show bench.many: $listed"

once big-same 0 wall-big --id big.same
once big-shuffled 1 wall-big --id big.shuffled
[[ "$(kinds big-shuffled)" == "differs 1" ]] || die "big.shuffled: findings $(kinds big-shuffled)"
grep -q 'the diff hit its 500 ms time cap' reports/big-shuffled/report.json \
    || die "big.shuffled: the report does not say the diff hit its time cap"
grep -q 'diff cut at 262144 bytes' reports/big-shuffled/report.json \
    || die "big.shuffled: the report does not say the diff was cut"
once huge-same 0 wall-big --id huge.same
once huge-shuffled 1 wall-big --id huge.shuffled
[[ "$(kinds huge-shuffled)" == "too_large 1" ]] || die "huge.shuffled: findings $(kinds huge-shuffled)"

echo "== what the pathological 5 MB pair reports (report.json, diff markers) =="
python3 - reports/big-shuffled/report.json reports/huge-shuffled/report.json <<'EOF'
import json, sys
for path in sys.argv[1:]:
    for check in json.load(open(path))["checks"]:
        for f in check.get("findings", []):
            diff = f.get("diff") or ""
            marks = [l for l in diff.splitlines() if l.startswith("[auditwall:")]
            print(f"{check['id']}: {f['kind']}: {f.get('message', '')}")
            print(f"  diff {len(diff)} bytes, {diff.count(chr(10))} lines" if diff else "  no diff")
            for m in marks:
                print(f"  {m}")
EOF

q() { printf '%q ' "$@"; }
check() { q "$bin" calibrate "$@" --check --color never --report-dir "$work/reports/timed"; }
fresh() { echo "rm -f $(q "$work/ledger-$1.json")"; }

echo "== 1,000 files of ~10 KB =="
hyperfine -N --style basic --warmup 2 --runs "$runs" -i --export-json "$work/many.json" \
    --prepare "$(fresh clean)" -n "calibrate --check, clean" "$(check wall-clean)" \
    --prepare "$(fresh drift)" -n "calibrate --check, 10% drifted" "$(check wall-drift)" \
    --prepare "true" -n "list (process start + wall load)" "$(q "$bin" list wall-clean)" \
    --prepare "true" -n "list of an empty wall (process start)" "$(q "$bin" list wall-empty)"

echo "== pathological pairs (diff_timeout 500ms, max_file_size 8MiB) =="
hyperfine -N --style basic --warmup 1 --runs "$runs" -i --export-json "$work/big.json" \
    --prepare "$(fresh big)" \
    -n "5 MB pair, shuffled (diff hits the cap)" "$(check wall-big --id big.shuffled)" \
    -n "5 MB pair, identical (read + compare)" "$(check wall-big --id big.same)" \
    -n "20 MB pair, shuffled (sha256, too_large)" "$(check wall-big --id huge.shuffled)" \
    -n "20 MB pair, identical (sha256)" "$(check wall-big --id huge.same)"

echo "== 10% drifted with the ledger at its cap (1,000 entries of 100 findings) =="
python3 - ledger-drift.json <<'EOF'
import json, sys
ledger = json.load(open(sys.argv[1]))
ledger["entries"] = [ledger["entries"][-1]] * 1000
json.dump(ledger, open(sys.argv[1], "w"), indent=2)
EOF
ls -l ledger-drift.json | awk '{print "ledger: " $5 " bytes"}'
hyperfine -N --style basic --warmup 1 --runs "$runs" -i --export-json "$work/ledger.json" \
    -n "calibrate --check, 10% drifted, full ledger" "$(check wall-drift)"

python3 - "$work/many.json" "$work/big.json" "$work/ledger.json" <<'EOF'
import json, sys
print("== medians ==")
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"{r['median'] * 1000:8.1f} ms  (min {r['min'] * 1000:.1f}, max {r['max'] * 1000:.1f})  {r['command']}")
EOF
