"""Orphan reaper: stops a native stack whose launcher died without stopping it.

A harness run that owns its stack (a pytest session, a bench) stops it in a
`finally`; SIGTERM (no handler in pytest) and SIGKILL skip that, and the stack's
processes run in sessions of their own, so they would outlive the run, ports
and all. `NativeStack(..., reap_with_launcher=True)` starts this watcher in
its own session: it polls the launcher (pid + start time, pids are reused)
and, once it is gone while the run directory's state.json still names it,
stops every recorded process group exactly as `harness down` would, and removes
the working directories recorded with transient processes (a fault gateway's). A clean
stop removes state.json, and the watcher exits. `harness up` does not use it:
there the stack must outlive the launcher.

    python -m harness.reliability.reaper --pid PID --create-time T --state PATH
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]

from harness.stack.process import ProcessRecord, stop_all
from harness.stack.run_state import transient_workdirs

__all__ = ["launcher_alive", "main", "reap"]

POLL_S = 0.5
GRACE_S = 2.0


def launcher_alive(pid: int, create_time: float) -> bool:
    try:
        p = psutil.Process(pid)
        return bool(p.status() != psutil.STATUS_ZOMBIE
                    and abs(p.create_time() - create_time) < 0.05)
    except psutil.Error:
        return False


def reap(state_path: Path, launcher_pid: int) -> int:
    """Stop the groups state_path records if it still belongs to launcher_pid; return how
    many records were signalled."""
    try:
        data = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return 0
    if int(data.get("launcher_pid", -1)) != launcher_pid:
        return 0                       # another launcher took the run directory over
    records = [ProcessRecord.from_json(s["process"]) for s in data.get("services", {}).values()]
    records += [ProcessRecord.from_json(r) for r in data.get("extra", {}).get("transient", [])]
    stop_all(records, GRACE_S)
    # A transient's files (a fault gateway's config copy and logs) would otherwise stay in
    # the run directory until it is removed: its owner's `finally` never ran.
    for work in transient_workdirs(state_path, data):
        shutil.rmtree(work, ignore_errors=True)
    return len(records)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.reliability.reaper",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, required=True, help="the launcher's pid")
    p.add_argument("--create-time", type=float, required=True,
                   help="the launcher's start time (psutil create_time)")
    p.add_argument("--state", type=Path, required=True, help="the run directory's state.json")
    args = p.parse_args(argv)
    seen_state = False
    # Runs as long as the launcher does (that is its job); each turn is one poll.
    while launcher_alive(args.pid, args.create_time):
        exists = args.state.exists()
        if seen_state and not exists:
            return 0                   # stopped cleanly by the launcher
        seen_state = seen_state or exists
        time.sleep(POLL_S)
    reap(args.state, args.pid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
