"""Figure: wall time of the whole `pytest scenarios/` on the native stack, start-up included,
and how many contract cases ran (from the conformance report the run wrote).

    .venv/bin/python bench/contract_suite.py [extra pytest args]

Budget (issue 6): <= 60 s on the 2-core machine (stretch 30 s).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="contract-bench-") as reports:
        cmd = [sys.executable, "-m", "pytest", "scenarios/", "-q", "-p", "no:cacheprovider",
               "--target", "native", "--report-dir", reports, "--durations=0",
               "--durations-min=0", *argv]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - started
        found = sorted(Path(reports).rglob("conformance-*.json"))
        doc = json.loads(found[-1].read_text()) if found else None  # read before cleanup
    tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"pytest scenarios/ (native, start-up included): {wall:.1f} s wall, "
          f"exit {proc.returncode}")
    print(f"pytest summary: {tail[0]}")
    if doc is None:
        print("no conformance report was written")
        return 1
    counts = {o: sum(r["outcome"] == o for r in doc["results"])
              for o in ("passed", "failed", "skipped")}
    print(f"contract cases: {doc['cases_run']} ran of {doc['cases_total']} "
          f"({counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped)")
    print(f"budget: <= 60 s ({'OK' if wall <= 60 else 'OVER'}), stretch 30 s "
          f"({'OK' if wall <= 30 else 'not met'})")
    print("where the time goes (wall s per scenario, pytest phases summed; top 12):")
    for name, secs in profile(proc.stdout)[:12]:
        print(f"  {secs:6.2f}  {name}")
    for name, value in doc["figures"].items():
        print(f"figure {name}: {value}")
    for r in doc["results"]:
        if r["outcome"] != "passed":
            first = (r["message"] or "").splitlines()[:1]
            print(f"{r['outcome']:7} {r['scenario']}/{r['case']}: {first[0] if first else ''}")
    return 0


_DURATION = re.compile(r"^([0-9.]+)s (setup|call|teardown)\s+(\S+)")


def profile(stdout: str) -> list[tuple[str, float]]:
    """Wall seconds per scenario from pytest's --durations table; the session's stack
    start-up and stop land on the first and last item's setup/teardown."""
    by: dict[str, float] = {}
    for line in stdout.splitlines():
        m = _DURATION.match(line)
        if m is None:
            continue
        secs, phase, node = float(m.group(1)), m.group(2), m.group(3)
        case = re.search(r"\[([^/\]]+)", node)
        name = case.group(1) if case else node.split("::")[-1]
        if phase != "call" and secs >= 1.0:  # a session fixture's start-up or stop
            name = f"{phase} (stack {'start' if phase == 'setup' else 'stop'})"
        by[name] = by.get(name, 0.0) + secs
    return sorted(by.items(), key=lambda kv: -kv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
