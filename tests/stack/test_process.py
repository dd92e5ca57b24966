"""Every child the stack's process layer starts is waited by this interpreter, and stops on
SIGTERM even if started while SIGINT/SIGTERM were held."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.stack.process import signals_deferred, spawn, stop_all

ROOT = Path(__file__).resolve().parents[2]

# A child stopped by another process (what the orphan reaper or `harness down` does), so
# this interpreter never calls stop_all on it; then a plain exit.
_STOPPED_ELSEWHERE = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    import psutil
    from harness.stack.process import spawn
    proc, rec = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                      Path(sys.argv[1]))
    os.killpg(rec.pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(rec.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child did not die"
        time.sleep(0.02)
    print("stopped", flush=True)
""")


def test_a_child_stopped_by_another_process_is_waited_at_exit_without_resource_warning(
        tmp_path):
    proc = subprocess.run([sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-c",
                           _STOPPED_ELSEWHERE, str(tmp_path / "sleeper.log")],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == "stopped\n", proc.stderr
    assert "ResourceWarning" not in proc.stderr, proc.stderr


def _blocked_mask(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))


def test_a_child_spawned_while_signals_are_deferred_still_stops_on_sigterm(tmp_path):
    with signals_deferred():
        proc, rec = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                          tmp_path / "sleeper.log")
    try:
        assert _blocked_mask(proc.pid) & (1 << (signal.SIGTERM - 1)) == 0
        t0 = time.monotonic()
        stop_all([rec], grace=5.0)
        assert time.monotonic() - t0 < 2.0, "SIGTERM was ignored: stopped by SIGKILL"
        assert proc.returncode == -signal.SIGTERM
    finally:
        stop_all([rec], grace=0.0, hard=True)


def test_a_ctrl_c_inside_the_deferred_block_is_delivered_after_it():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
            reached.append("after the signal, still inside")
    assert reached == ["after the signal, still inside"]
