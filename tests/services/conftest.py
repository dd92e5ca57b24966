"""Fixtures: real service processes on free loopback ports, stopped after the module."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.stack.native import free_port
from harness.stack.process import ProcessRecord, spawn, stop_all
from harness.stack.readiness import HttpReady, Waiting, wait_all

Launch = Callable[[str, list[str], int], None]


@pytest.fixture(scope="module")
def launch() -> Iterator[Launch]:
    """launch(name, args, ready_port): python -m harness.services.<name> args..."""
    records: list[ProcessRecord] = []
    logs = Path(tempfile.mkdtemp(prefix="harness-svc-test-"))

    def run(module: str, args: list[str], ready_port: int) -> None:
        proc, rec = spawn(module, [sys.executable, "-m", f"harness.services.{module}", *args],
                          logs / f"{module}-{len(records)}.log")
        records.append(rec)
        wait_all([Waiting(module, HttpReady(ready_port, "/health"), Path(rec.log), proc.poll)],
                 timeout=15)
    yield run
    stop_all(records, grace=2)


@pytest.fixture
def port() -> int:
    return free_port()
