"""Each Stack implementation is assigned to the Protocol type (mypy checks it) and exercised."""

from __future__ import annotations

import importlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from harness.errors import StackError
from harness.settings import Settings
from harness.stack.base import Stack
from harness.stack.native import NativeStack

ROOT = Path(__file__).resolve().parents[2]


def _native() -> Stack:
    run_dir = Path(tempfile.mkdtemp(prefix="harness-compliance-"))
    stack: Stack = NativeStack(Settings(run_dir=run_dir, gateway=False))
    return stack


def _compose_class() -> type | None:
    try:
        return importlib.import_module("harness.stack.compose").ComposeStack  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None


def _exercise(stack: Stack) -> tuple[list[int], list[int]]:
    """Start, check every Protocol member, stop; returns (pids, ports) that were in use."""
    assert isinstance(stack, Stack)
    stack.start()
    pids: list[int] = []
    ports: list[int] = []
    try:
        names = stack.services()
        assert "redis" in names and "tenant-service" in names
        for name in names:
            health = stack.status(name)
            assert health.name == name and health.state == "healthy", health
            pids.append(health.pid or 0)
            ports.append(stack.endpoint(name).port)
        ep = stack.endpoint("user-1")
        assert httpx.get(ep.url + "/health", timeout=5).status_code == 200
        assert isinstance(stack.logs("tenant-service", lines=5), str)
        with pytest.raises(StackError):
            stack.endpoint("no-such-service")
    finally:
        t0 = time.monotonic()
        stack.stop()
        stop_seconds = time.monotonic() - t0
    assert stack.status("redis").state == "stopped"
    assert stop_seconds < 3, f"stop took {stop_seconds:.1f}s (target <= 3 s)"
    return pids, ports


def _ps_pids() -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    return {int(p) for p, stat in (line.split() for line in out.splitlines()) if "Z" not in stat}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


@pytest.mark.stack
def test_native_stack_satisfies_the_stack_protocol_and_down_leaves_nothing():
    stack = _native()
    try:
        pids, ports = _exercise(stack)
        # down leaves no process (as ps sees it) and frees every port.
        assert not set(pids) & _ps_pids()
        assert not [p for p in ports if _listening(p)]
    finally:
        shutil.rmtree(stack.run_dir, ignore_errors=True)  # type: ignore[attr-defined]


def _compose() -> Stack:
    module = importlib.import_module("harness.stack.compose")
    stack: Stack = module.ComposeStack(module.ComposeSettings(root=ROOT))
    return stack


def test_compose_stack_is_a_stack_when_importable():
    if _compose_class() is None:
        pytest.skip("harness.stack.compose.ComposeStack is not importable")
    stack = _compose()
    assert isinstance(stack, Stack)
    # The offline part of the protocol works without Docker.
    assert "redis" in stack.services()


@pytest.mark.docker
def test_compose_stack_satisfies_the_stack_protocol():
    cls = _compose_class()
    if cls is None:
        pytest.skip("harness.stack.compose.ComposeStack is not importable")
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True,
                                        timeout=20).returncode != 0:
        pytest.skip("no Docker engine runs on this machine")
    _exercise(_compose())
