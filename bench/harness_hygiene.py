"""Harness hygiene: the harness killed mid-run leaves no orphans, frees its ports, keeps a report.

For each signal (SIGINT as Ctrl-C to the harness's process group, SIGTERM and
SIGKILL to the pytest process only, as a CI runner would) this starts a
contract run (`pytest scenarios/ -k <subset>`, native target, its own TMPDIR so
its run directory is found), waits until the stack is up and cases are being
recorded, sends the signal, waits for the harness to exit, then counts:

- orphans: processes of the stack's state.json (pid/pgid) still alive, including the
  transient ones (extra.transient, e.g. a fault scenario's extra gateway) seen during
  the run;
- busy ports: the stack's endpoints that still accept a connection;
- the partial conformance report: present, and marked `incomplete`.

Anything left over is killed afterwards (by the recorded process groups), so
the bench itself leaves nothing behind. Prints one line per signal and the
total orphan count; writes JSON to --out (default
reports/reliability/hygiene.json), which the conformance report's reliability
section picks up. Exit status 1 if any orphan, busy port or missing/unmarked
report.

    .venv/bin/python bench/harness_hygiene.py [--signals INT,TERM,KILL] [-k hostile-inputs]
        [--reaper]   # HARNESS_REAP_WITH_LAUNCHER=1 (NativeStack's orphan reaper)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATE = "state.json"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(pred: Any, limit: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:        # bounded by `limit`
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


# Transient processes (extra.transient: e.g. a fault scenario's extra gateway) come and
# go during a run: every one seen in any read of the state file is checked afterwards.
_TRANSIENT: dict[int, dict[str, Any]] = {}


def _state(tmp: Path) -> dict[str, Any] | None:
    for path in tmp.glob(f"harness-contracts-*/{STATE}"):
        with contextlib.suppress(OSError, ValueError):
            got = dict(json.loads(path.read_text()))
            for rec in (got.get("extra") or {}).get("transient") or []:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    _TRANSIENT[int(rec["pid"])] = rec
            return got
    return None


def _reports(report_dir: Path) -> list[Path]:
    return sorted(report_dir.rglob("conformance-*.json"))


def _running_cases(report_dir: Path, state: dict[str, Any] | None, min_cases: int) -> bool:
    if state is None or not any(n.startswith("gateway-") for n in state.get("services", {})):
        return False
    for path in _reports(report_dir):
        with contextlib.suppress(OSError, ValueError):
            if len(json.loads(path.read_text()).get("results", [])) >= min_cases:
                return True
    # The report is rewritten only at the end; an up stack with a report started will do.
    return bool(_reports(report_dir))


def one_run(sig: signal.Signals, subset: str, settle: float, reaper: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hygiene-"))
    tmp.chmod(0o755)                               # PostgreSQL runs as its own user
    report_dir = tmp / "reports"
    env = {**os.environ, "TMPDIR": str(tmp), "HARNESS_REPORT_DIR": str(report_dir),
           "HARNESS_REAP_WITH_LAUNCHER": "1" if reaper else "0"}
    cmd = [sys.executable, "-m", "pytest", "scenarios/", "-q", "-p", "no:cacheprovider",
           "-k", subset]
    log = (tmp / "pytest.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    state: dict[str, Any] | None = None
    _TRANSIENT.clear()
    out: dict[str, Any] = {"signal": sig.name}
    try:
        up = _wait_for(lambda: _running_cases(report_dir, _state(tmp), 1), 90)
        state = _state(tmp)
        out["stack_was_up"] = up
        time.sleep(settle)                          # bench only: be mid-run when it lands
        state = _state(tmp) or state
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)                # Ctrl-C reaches the foreground group
        else:
            os.kill(proc.pid, sig)
        try:
            out["exit_status"] = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            out["exit_status"] = "hung (killed by the bench)"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        services = (state or {}).get("services", {})
        pids = {int(s["pid"]) for s in services.values()} | set(_TRANSIENT)
        ports = sorted({int(e["port"]) for s in [*services.values(), *_TRANSIENT.values()]
                        for e in (s.get("endpoints") or {}).values()})
        # The launcher's own stop has a grace period: give it the same before counting.
        _wait_for(lambda: not any(_alive(p) for p in pids), 5)
        orphans = sorted(p for p in pids if _alive(p))
        busy = [p for p in ports if _port_busy(p)]
        reports = _reports(report_dir)
        incomplete = None
        if reports:
            with contextlib.suppress(OSError, ValueError):
                incomplete = bool(json.loads(reports[-1].read_text()).get("incomplete"))
        out.update(services=len(services), transient_seen=len(_TRANSIENT),
                   orphans=len(orphans), orphan_pids=orphans,
                   ports_checked=len(ports), ports_busy=len(busy), report_kept=bool(reports),
                   report_marked_incomplete=incomplete)
        return out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        # Leave nothing behind whatever the harness did.
        for s in [*((state or {}).get("services", {}) or {}).values(), *_TRANSIENT.values()]:
            with contextlib.suppress(ProcessLookupError, PermissionError, KeyError):
                os.killpg(int(s["pgid"]), signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--signals", default="INT,TERM,KILL")
    p.add_argument("-k", dest="subset", default="hostile-inputs",
                   help="pytest -k expression of the contract run to interrupt")
    p.add_argument("--settle", type=float, default=2.0,
                   help="seconds into the cases before the signal")
    p.add_argument("--reaper", action="store_true",
                   help="HARNESS_REAP_WITH_LAUNCHER=1: the stack's orphan reaper is on")
    p.add_argument("--out", type=Path,
                   default=ROOT / "reports" / "reliability" / "hygiene.json")
    args = p.parse_args()
    runs = []
    for name in args.signals.split(","):
        sig = signal.Signals[f"SIG{name.strip().upper()}"]
        r = one_run(sig, args.subset, args.settle, args.reaper)
        runs.append(r)
        print(f"{r['signal']}: exit {r.get('exit_status')}, {r.get('services', 0)} services "
              f"+ {r.get('transient_seen', 0)} transient, "
              f"orphans {r.get('orphans')}, ports busy {r.get('ports_busy')}/"
              f"{r.get('ports_checked')}, report kept {r.get('report_kept')}, marked "
              f"incomplete {r.get('report_marked_incomplete')}", flush=True)
    orphans = sum(int(r.get("orphans", 0)) for r in runs)
    busy = sum(int(r.get("ports_busy", 0)) for r in runs)
    reports_ok = all(r.get("report_kept") and r.get("report_marked_incomplete") for r in runs)
    doc = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reaper": args.reaper,
           "orphans": orphans,
           "ports_busy": busy, "reports_kept_incomplete": reports_ok, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"orphans after kill: {orphans}; ports still busy: {busy}; partial reports kept "
          f"and marked incomplete: {reports_ok}")
    return 0 if orphans == 0 and busy == 0 and reports_ok else 1


if __name__ == "__main__":
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
