"""Print one echo stub's requests/s on one core (issue 4: must be >= 5,000).

The stub is pinned to CPU 1 and wrk to CPU 0 (perf-baselines.md method),
keep-alive, 50 connections, a short warm-up then a measured run.

    .venv/bin/python bench/stub_throughput.py [--seconds 5] [--connections 50]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.stack.native import free_port  # noqa: E402
from harness.stack.process import spawn, stop_all  # noqa: E402
from harness.stack.readiness import HttpReady, Waiting, wait_all  # noqa: E402


def _wrk(url: str, seconds: int, conns: int, cpu: str) -> tuple[float, str]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    if cpu:
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    return float(m.group(1)) if m else 0.0, p99.group(1) if p99 else "?"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    args = p.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'}")
            return 2
    pinned = len(__import__("os").sched_getaffinity(0)) >= 2
    port, admin = free_port(), free_port()
    log = Path(tempfile.mkdtemp(prefix="stub-bench-")) / "stub.log"
    argv = [sys.executable, "-m", "harness.services.stub", "--service", "user", "--instance",
            "user-1", "--port", str(port), "--admin-port", str(admin)]
    if pinned:
        argv = ["taskset", "-c", "1", *argv]
    proc, rec = spawn("stub", argv, log)
    try:
        wait_all([Waiting("stub", HttpReady(port, "/health"), log, proc.poll)], 15)
        url = f"http://127.0.0.1:{port}/v1/users/42?x=1"
        _wrk(url, 2, args.connections, "0" if pinned else "")  # warm-up, discarded
        rps, p99 = _wrk(url, args.seconds, args.connections, "0" if pinned else "")
    finally:
        stop_all([rec], 2)
    verdict = "OK" if rps >= 5000 else "BELOW TARGET"
    print(f"stub throughput: {rps:,.0f} requests/s on one core "
          f"(wrk -c{args.connections} {args.seconds}s, p99 {p99}, "
          f"{'stub on CPU 1, wrk on CPU 0' if pinned else 'unpinned'}); target >= 5,000: "
          f"{verdict}")
    return 0 if rps >= 5000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
