#!/usr/bin/env python3
"""Writes a big, deterministic wall for the benchmarks in docs/performance.md.

Usage:
  gen_wall.py OUT_DIR --checks N [--files F] (--http URL | --tcp HOST:PORT | --file PATH)
              [--jobs J]

N checks (ids c0000, c0001, ...) spread round-robin over F spec files (probes/pNNNN.yaml),
every check running the same probe. Same arguments, same bytes: no clock, no randomness.
OUT_DIR must not exist yet, so a typo cannot overwrite a real wall.
"""

import argparse
import json
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--checks", type=int, required=True)
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=8)
    kind = ap.add_mutually_exclusive_group(required=True)
    kind.add_argument("--http", metavar="URL")
    kind.add_argument("--tcp", metavar="HOST:PORT")
    kind.add_argument("--file", metavar="PATH")
    args = ap.parse_args()

    if args.checks < 1 or args.files < 1 or args.files > args.checks:
        ap.error("need 1 <= --files <= --checks")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if os.path.exists(args.out):
        ap.error(f"{args.out} already exists")

    # JSON strings are valid YAML flow scalars, so every value is quoted safely.
    if args.http:
        probe, expect = f"http: {{ url: {json.dumps(args.http)} }}", '["status == 200"]'
    elif args.tcp:
        probe, expect = f"tcp: {{ address: {json.dumps(args.tcp)} }}", '["connected == true"]'
    else:
        probe, expect = f"file: {{ path: {json.dumps(args.file)} }}", '["exists == true"]'

    os.makedirs(os.path.join(args.out, "probes"))
    with open(os.path.join(args.out, "wall.yaml"), "w", encoding="utf-8") as f:
        f.write(
            "name: bench\n"
            f"description: generated - {args.checks} checks, {args.files} spec file(s)\n"
            'include: ["probes/*.yaml"]\n'
            f"settings: {{ timeout: 5s, retries: 0, deadline: 10m, jobs: {args.jobs} }}\n"
        )
    files = [[] for _ in range(args.files)]
    for i in range(args.checks):
        files[i % args.files].append(f"  - id: c{i:04d}\n    {probe}\n    expect: {expect}\n")
    for n, checks in enumerate(files):
        with open(os.path.join(args.out, "probes", f"p{n:04d}.yaml"), "w", encoding="utf-8") as f:
            f.write("probes:\n" + "".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
