"""Processes of the native stack: own process group each, recorded so that a
later `harness down` (even after the launcher was SIGKILLed) can find and stop
exactly them, and nothing else.

A record holds pid, pgid, the process's start time and the program name; a
pid counts as ours only if all still match (pids are reused).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psutil  # type: ignore[import-untyped, unused-ignore]

__all__ = ["ProcessRecord", "alive", "signals_deferred", "spawn", "stop_all", "stop_group"]

# Popen objects of the processes this interpreter started: polled (not
# os.waitpid'ed) so their exit status is kept and no ResourceWarning is raised.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _collect_exited_children() -> None:
    # A child stopped by another process (the orphan reaper, `harness down`, a test's
    # kill) was never waited here: collect it now, before its Popen is destroyed with
    # no exit status ("ResourceWarning: subprocess N is still running"). One still
    # running is left alone (`harness up` leaves its stack running on purpose).
    for proc in list(_CHILDREN.values()):
        if proc.poll() is not None:
            del _CHILDREN[proc.pid]


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    pgid: int
    create_time: float
    exe_name: str
    log: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(**{k: data[k] for k in ("name", "pid", "pgid", "create_time", "exe_name",
                                           "log")})


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM in the block (Ctrl-C between starting a process and recording
    it would orphan it) and deliver them after. Held by a handler, not a blocked signal
    mask: the mask is inherited across exec, so a child started meanwhile would ignore
    the SIGTERM meant to stop it (every stop then waited out its grace and SIGKILLed)."""
    if threading.current_thread() is not threading.main_thread():
        yield            # Python runs signal handlers in the main thread only
        return
    got: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(got):
            signal.raise_signal(signum)


def spawn(name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None,
          user: str | None = None, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes],
                                                                     ProcessRecord]:
    """Start argv in a new session (so its own process group), output to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                user=user, cwd=cwd, close_fds=True)
    _CHILDREN[proc.pid] = proc
    try:
        p = psutil.Process(proc.pid)
        created = p.create_time()
    except psutil.Error:
        created = 0.0
    return proc, ProcessRecord(name, proc.pid, proc.pid, created, Path(argv[0]).name, str(log))


def alive(rec: ProcessRecord) -> bool:
    """True if rec.pid still runs and is the process we started (not a reused pid)."""
    try:
        p = psutil.Process(rec.pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(p.create_time() - rec.create_time) < 0.05)
    except psutil.Error:
        return False


def _group_members(pgid: int, since: float = 0.0) -> list[psutil.Process]:
    """Live processes of group pgid started no earlier than `since` (pgids are reused)."""
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if (os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE
                    and p.create_time() >= since - 0.05):
                out.append(p)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return out


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(rec: ProcessRecord, grace: float) -> None:
    stop_all([rec], grace)


def stop_all(records: list[ProcessRecord], grace: float, *, hard: bool = False) -> None:
    """SIGTERM every group that is still ours, wait up to grace, SIGKILL the rest.

    A group whose leader already died is still signalled if members remain
    (a crashed parent must not leave its workers behind).
    """
    groups: list[int] = []
    since: dict[int, float] = {}
    for rec in records:
        if alive(rec) or _group_members(rec.pgid, rec.create_time):
            groups.append(rec.pgid)
            since[rec.pgid] = rec.create_time
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL if hard else signal.SIGTERM)
    deadline = time.monotonic() + (0.0 if hard else grace)
    pending = list(groups)
    while pending and time.monotonic() < deadline:
        _reap(records)
        pending = [g for g in pending if _group_members(g, since[g])]
        if pending:
            time.sleep(0.02)
    for pgid in pending:
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while pending and time.monotonic() < deadline:
        _reap(records)
        pending = [g for g in pending if _group_members(g, since[g])]
        if pending:
            time.sleep(0.02)
    _reap_finally(records)


def _reap(records: list[ProcessRecord]) -> None:
    # Our direct children become zombies until waited for; collect them (only
    # ours: other Popen objects of this process must keep their exit status).
    for rec in records:
        proc = _CHILDREN.get(rec.pid)
        if proc is not None and proc.poll() is not None:
            del _CHILDREN[rec.pid]


def _reap_finally(records: list[ProcessRecord]) -> None:
    # A killed child of ours stays a zombie, and its pid "exists" (PostgreSQL's
    # lock-file check, for one, would refuse to restart): wait for it.
    for rec in records:
        proc = _CHILDREN.pop(rec.pid, None)
        if proc is not None:
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                _CHILDREN[rec.pid] = proc
