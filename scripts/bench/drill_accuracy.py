#!/usr/bin/env python3
"""Reads what scripts/bench/drills.sh collected and prints the tables for docs/performance.md.

  drill_accuracy.py accuracy REP_DIR...   each REP_DIR holds one drill run's report.json and
                                           the router's GET /events fetched right after it
  drill_accuracy.py durations REPORT      per-drill durations and phases of one report.json
  drill_accuracy.py hyperfine EXPORT      median/min/max of a hyperfine --export-json file

Accuracy: the drill's recovery instant on the wall clock is t0_unix_ms + recover.at_ms (the
moment its polling request came back served by the fallback); the router's own instant is the
time_ms of its first `model-primary -> model-fallback` switch at or after t0 (logged when the
fallback's answer reached the router, before it relayed it). difference = drill - router.
Nothing is adjusted: a repetition without a switch or without a recovery is listed as such and
counted as outside the resolution.
"""
import json
import math
import os
import statistics
import sys

FROM, TO = "model-primary", "model-fallback"


def fail(msg):
    print(f"drill_accuracy.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")


def drill_check(report, path):
    drills = [c for c in report.get("checks", []) if c.get("timeline") is not None]
    if len(drills) != 1:
        fail(f"{path}: expected one drill with a timeline, found {len(drills)}")
    return drills[0]


def phase(check, name):
    for e in check["timeline"]["events"]:
        if e["phase"] == name:
            return e.get("at_ms")
    return None


def one_rep(rep_dir):
    report_path = os.path.join(rep_dir, "report.json")
    check = drill_check(load(report_path), report_path)
    t0 = check["observations"].get("t0_unix_ms", {}).get("value")
    if not isinstance(t0, (int, float)):
        fail(f"{report_path}: no observations.t0_unix_ms")
    events = load(os.path.join(rep_dir, "events.json")).get("events", [])
    # time_ms is truncated to whole ms, t0 is not: compare against t0's whole ms.
    switches = [
        e for e in events
        if e.get("from") == FROM and e.get("to") == TO and e.get("time_ms", -1) >= math.floor(t0)
    ]
    switches.sort(key=lambda e: e["time_ms"])
    recover = phase(check, "recover")
    row = {
        "rep": os.path.basename(rep_dir.rstrip("/")),
        "id": check["id"],
        "verdict": check["verdict"],
        "poll_ms": check["timeline"]["poll_ms"],
        "recover_ms": recover,
        "detect_ms": phase(check, "detect"),
        "switches": len(switches),
        "router_ms": None,
        "diff_ms": None,
        "skipped": "",
    }
    if switches:
        first = switches[0]
        row["router_ms"] = first["time_ms"] - t0
        row["skipped"] = "; ".join(first.get("skipped", []))
        if recover is not None:
            row["diff_ms"] = (t0 + recover) - first["time_ms"]
    return row


def fmt(x, digits=1):
    return "—" if x is None else f"{x:.{digits}f}"


def accuracy(rep_dirs):
    rows = [one_rep(d) for d in rep_dirs]
    if not rows:
        fail("no repetitions given")
    ids = {r["id"] for r in rows}
    if len(ids) != 1:
        fail(f"repetitions of different drills: {sorted(ids)}")
    poll = rows[0]["poll_ms"]
    print(f"drill {rows[0]['id']}, {len(rows)} repetitions, poll {poll:g} ms")
    print()
    print("| rep | verdict | detect (ms after t0) | recover, drill (ms after t0) | switch, router log (ms after t0) | difference drill − router (ms) | switches after t0 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rep']} | {r['verdict']} | {fmt(r['detect_ms'])} | {fmt(r['recover_ms'])} | "
              f"{fmt(r['router_ms'])} | {fmt(r['diff_ms'])} | {r['switches']} |")
    diffs = [r["diff_ms"] for r in rows if r["diff_ms"] is not None]
    within = sum(1 for d in diffs if abs(d) <= poll)
    missing = len(rows) - len(diffs)
    print()
    if diffs:
        print(f"difference: median {statistics.median(diffs):.1f} ms, min {min(diffs):.1f} ms, "
              f"max {max(diffs):.1f} ms, largest |difference| {max(abs(d) for d in diffs):.1f} ms")
        recs = [r["recover_ms"] for r in rows if r["diff_ms"] is not None]
        routs = [r["router_ms"] for r in rows if r["diff_ms"] is not None]
        print(f"recover (drill) median {statistics.median(recs):.1f} ms; switch (router) median "
              f"{statistics.median(routs):.1f} ms after t0")
    print(f"within the {poll:g} ms poll: {within} of {len(rows)}"
          + (f" ({missing} without a matched switch or recovery)" if missing else ""))
    reasons = {}
    for r in rows:
        if r["skipped"]:
            reasons[r["skipped"]] = reasons.get(r["skipped"], 0) + 1
    if reasons:
        print("router's reason for skipping the primary: "
              + " | ".join(f"{n}× {why}" for why, n in sorted(reasons.items())))
    verdicts = {}
    for r in rows:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    print("verdicts: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))


def durations(path):
    report = load(path)
    print(f"{path}: run duration_ms {report.get('duration_ms')}, state {report.get('state')}")
    print()
    print("| drill | verdict | duration_ms | phases (ms after t0) | message |")
    print("|---|---|---|---|---|")
    for c in report.get("checks", []):
        tl = c.get("timeline")
        phases = ", ".join(
            f"{e['phase']} {fmt(e.get('at_ms'))}" for e in (tl or {}).get("events", [])
        )
        message = "" if c["verdict"] == "pass" else (c.get("message") or "")
        print(f"| {c['id']} | {c['verdict']} | {c['duration_ms']} | {phases} | {message} |")
    print()


def hyperfine(path):
    for r in load(path).get("results", []):
        times = r.get("times", [])
        print(f"{r['command']}: median {r['median']:.2f} s, mean {r['mean']:.2f} s, "
              f"min {r['min']:.2f} s, max {r['max']:.2f} s, {len(times)} runs, "
              f"exit codes {sorted(set(r.get('exit_codes', [])))}")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("accuracy", "durations", "hyperfine"):
        fail("usage: drill_accuracy.py accuracy REP_DIR... | durations REPORT | hyperfine EXPORT")
    if argv[1] == "accuracy":
        accuracy(argv[2:])
    elif argv[1] == "durations":
        durations(argv[2])
    else:
        hyperfine(argv[2])


if __name__ == "__main__":
    main(sys.argv)
