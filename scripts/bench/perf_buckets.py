#!/usr/bin/env python3
"""Splits a `perf script` dump of an auditwall run into phases, to explain where time goes.

Usage:
  perf record -F 4999 --call-graph dwarf,65528 -o perf.data -- auditwall verify WALL ...
  perf script -i perf.data > perf.txt
  perf_buckets.py perf.txt

First the samples per thread (robust even where a stack did not unwind: `auditwall` is the
main thread: loading, the terminal, reports; `engine` runs the scheduling loop; the
`tokio-rt-worker`s run the checks). Then each sample is charged to the first bucket whose pattern appears anywhere in its stack
(checked in the order below), so nested phases are not counted twice. Prints each bucket's
share of all samples; the numbers are CPU samples, not wall time.
"""

import collections
import re
import sys

# Most specific first: a probe runs inside the engine, the engine inside the runtime. The third
# field, when set, limits a bucket to one thread: the runtime's workers also sit in
# `enter_runtime`, only the `engine` thread's samples there are the scheduling loop.
BUCKETS = [
    # serde-saphyr's deep stacks often unwind only partly: its own frames still name the phase.
    ("load wall (YAML parse + validate)", r"auditwall_harness::load::load|serde_saphyr|granit_parser", None),
    ("plan", r"auditwall_harness::plan::plan", None),
    ("write reports (JUnit/JSON/Markdown)", r"auditwall_reports::dir::write_all", None),
    ("terminal reporter", r"auditwall_reports::terminal::Terminal", None),
    ("judge conditions", r"auditwall_harness::engine::judge", None),
    ("probe: reqwest/hyper client", r"reqwest::|hyper::|hyper_util::", None),
    ("probe: other", r"auditwall_probes::", None),
    ("result clones for events", r"CheckResult as core::clone::Clone", None),
    ("per-check task (spawn, redact, drop)", r"engine::run::\{\{closure\}\}::\{\{closure\}\}", None),
    ("engine scheduling loop", r"enter_runtime|engine::run", "engine"),
    ("dropping results at exit", r"drop_in_place<auditwall", None),
    ("tokio runtime (idle, wakeups)", r"tokio::runtime", None),
    ("process start (dynamic loader)", r"_dl_|dl_main", None),
]


def frames(sample: str) -> list:
    out = []
    for line in sample.splitlines()[1:]:
        m = re.match(r"\s*[0-9a-f]+ (.*) \(", line)
        if m:
            out.append(m.group(1))
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        samples = [s for s in f.read().split("\n\n") if s.strip()]
    threads = collections.Counter(s.split(None, 1)[0] for s in samples)
    counts = collections.Counter()
    for sample in samples:
        thread = sample.split(None, 1)[0]
        stack = "\n".join(frames(sample))
        for name, pattern, only in BUCKETS:
            if (only is None or only == thread) and re.search(pattern, stack):
                counts[name] += 1
                break
        else:
            counts["other (kernel network, malloc, threads)"] += 1
    total = len(samples)
    print(f"{total} samples")
    for name, n in threads.most_common():
        print(f"{100 * n / total:5.1f}%  thread {name}")
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
