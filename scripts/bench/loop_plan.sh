#!/usr/bin/env bash
# `auditwall loop plan` on a generated spec surface of 10,000 cells (4 dimensions × 10
# values, one rule, 100 blocked cells) claimed by 100 scenarios; hyperfine, no shell.
set -euo pipefail
BIN="${AUDITWALL_BIN:-target/release/auditwall}"
RUNS="${RUNS:-30}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wall/scenarios"
python3 - "$work/wall" <<'PY'
import sys
wall = sys.argv[1]
lines = ["surface:", "  dimensions:"]
for i in range(4):
    lines.append(f"    d{i}: [{', '.join(f'v{j}' for j in range(10))}]")
lines += ["  rules:", "    - when: { d0: [v0] }",
          "      require: { d1: [v0, v1, v2, v3, v4, v5, v6, v7, v8] }",
          "  blocked:", "    - cell: { d0: v9, d1: v9 }", "      reason: not yet"]
open(f"{wall}/scenarios/surface.yaml", "w").write("\n".join(lines) + "\n")
sc = ["scenarios:"]
for i in range(100):
    sc.append(f"  - id: s{i}\n    cell: {{ d0: v{i % 10}, d1: v{(i // 10) % 9} }}\n    compile: {{ entities: [a] }}")
open(f"{wall}/scenarios/s.yaml", "w").write("\n".join(sc) + "\n")
open(f"{wall}/wall.yaml", "w").write("name: plan10k\n")
PY
"$BIN" loop plan "$work/wall" > "$work/plan.txt"
head -2 "$work/plan.txt"
hyperfine -N --warmup 3 --runs "$RUNS" "$BIN loop plan $work/wall"
