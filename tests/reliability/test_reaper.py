"""The orphan reaper stops the recorded groups once their launcher is gone (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.stack.process import alive, spawn, stop_all


def _launcher() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            start_new_session=True)


def _state(path: Path, launcher: int, child_json: dict[str, object],
           transient: list[dict[str, object]] | None = None) -> None:
    path.write_text(json.dumps({"launcher_pid": launcher,
                                "services": {"sleeper": {"process": child_json}},
                                "extra": {"transient": transient or []}}))


def _reaper(launcher: subprocess.Popen[bytes], state: Path) -> subprocess.Popen[bytes]:
    ct = psutil.Process(launcher.pid).create_time()
    return subprocess.Popen([sys.executable, "-m", "harness.reliability.reaper", "--pid",
                             str(launcher.pid), "--create-time", repr(ct), "--state",
                             str(state)], start_new_session=True)


def _wait(pred, limit: float = 8.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


def test_a_killed_launchers_stack_processes_are_stopped(tmp_path: Path) -> None:
    launcher = _launcher()
    sleeper, child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                           tmp_path / "sleeper.log")
    state = tmp_path / "state.json"
    _state(state, launcher.pid, child.to_json())
    reaper = _reaper(launcher, state)
    try:
        time.sleep(0.7)                       # the reaper has seen the state file
        assert alive(child)
        launcher.kill()
        launcher.wait(5)
        assert _wait(lambda: not alive(child)), "the child outlived its launcher"
        assert sleeper.wait(5) < 0, "the child was not stopped by a signal"
        assert reaper.wait(8) == 0
    finally:
        for p in (launcher, reaper):
            if p.poll() is None:
                p.kill()
                p.wait(5)
        stop_all([child], grace=1.0)          # kills it if alive, and waits our Popen


def test_a_clean_stop_ends_the_reaper_without_touching_anything(tmp_path: Path) -> None:
    launcher = _launcher()
    _, child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                     tmp_path / "sleeper.log")
    state = tmp_path / "state.json"
    _state(state, launcher.pid, child.to_json())
    reaper = _reaper(launcher, state)
    try:
        time.sleep(0.7)
        state.unlink()                        # what NativeStack.stop does
        assert reaper.wait(5) == 0
        assert alive(child)
    finally:
        for p in (launcher, reaper):
            if p.poll() is None:
                p.kill()
                p.wait(5)
        stop_all([child], grace=1.0)          # kills it if alive, and waits our Popen


def test_a_killed_launchers_transient_is_stopped_and_its_working_directory_removed(
        tmp_path: Path) -> None:
    launcher = _launcher()
    _, child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                     tmp_path / "sleeper.log")
    work = tmp_path / "fault-gw-x"
    (work / "logs").mkdir(parents=True)
    (work / "logs" / "fault-gateway.log").write_text("ready\n")
    _, extra = spawn("fault-gateway", [sys.executable, "-c", "import time; time.sleep(30)"],
                     work / "logs" / "fault-gateway.log")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    state = tmp_path / "state.json"
    _state(state, launcher.pid, child.to_json(), [
        {**extra.to_json(), "workdir": str(work)},
        # A record naming a directory outside the run directory (or the run directory
        # itself) is never acted on: the reaper removes only what a transient owned.
        {**extra.to_json(), "pid": 2 ** 22 + 7, "workdir": str(outside)},
        {**extra.to_json(), "pid": 2 ** 22 + 8, "workdir": str(tmp_path)}])
    reaper = _reaper(launcher, state)
    try:
        time.sleep(0.7)                       # the reaper has seen the state file
        assert work.is_dir() and alive(extra)
        launcher.kill()
        launcher.wait(5)
        assert reaper.wait(8) == 0
        assert not alive(extra) and not alive(child)
        assert not work.exists(), "the dead transient's working directory stayed"
        assert outside.is_dir() and state.exists(), "the reaper removed what it does not own"
    finally:
        for p in (launcher, reaper):
            if p.poll() is None:
                p.kill()
                p.wait(5)
        stop_all([child, extra], grace=1.0)   # kills them if alive, and waits our Popens
        outside.rmdir()
