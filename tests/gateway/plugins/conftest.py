"""Fixtures for plugin tests: the repo's gateway model, a standalone runtime and a
real redis-server on a free port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import ROOT, RedisServer

from harness.gateway.plugins import StandaloneRuntime
from harness.model import Gateway, load_gateway



@pytest.fixture(scope="session")
def gateway() -> Gateway:
    return load_gateway(ROOT)


@pytest.fixture
def runtime(gateway: Gateway, tmp_path: Path) -> StandaloneRuntime:
    return StandaloneRuntime(gateway=gateway, log_dir=tmp_path)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
