"""Wait strategies and the readiness timeout message (STYLE §9)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from harness.errors import ReadinessTimeout
from harness.stack.native import free_port
from harness.stack.readiness import AllOf, HttpReady, LogReady, PortReady, Waiting, wait_all


def test_port_ready_passes_only_while_something_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert PortReady(port).check()
    assert not PortReady(port).check()


def test_log_ready_matches_a_pattern_in_the_log(tmp_path):
    log = tmp_path / "x.log"
    assert not LogReady(log, "ready").check()
    log.write_text("booting\nready to go\n")
    assert LogReady(log, r"ready to \w+").check()
    assert AllOf(LogReady(log, "ready"), LogReady(log, "booting")).check()
    assert not AllOf(LogReady(log, "ready"), LogReady(log, "nope")).check()


def test_timeout_message_names_what_how_long_status_log_lines_and_hint(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("line one\nbind failed: address in use\n")
    port = free_port()
    with pytest.raises(ReadinessTimeout) as info:
        wait_all([Waiting("svc", HttpReady(port, "/health"), log, lambda: None,
                          "is the port free?")], timeout=0.3)
    msg = str(info.value)
    assert msg.startswith("svc: not ready after 0.3s")
    assert f"waited for: GET http://127.0.0.1:{port}/health answering 200" in msg
    assert "process: still running" in msg
    assert "    bind failed: address in use" in msg
    assert msg.endswith("Hint: is the port free?")


def test_a_process_that_exits_fails_at_once_with_its_exit_status(tmp_path):
    log = tmp_path / "dead.log"
    log.write_text("fatal: no config\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(ReadinessTimeout, match="exited with status 3"):
        wait_all([Waiting("dead", PortReady(free_port()), log, proc.poll)], timeout=10)
