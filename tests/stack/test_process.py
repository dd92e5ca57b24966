"""Every child the stack's process layer starts is waited by this interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
