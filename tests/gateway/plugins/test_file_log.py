"""file-log plugin: one JSON line per request in Kong's basic serializer shape."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from plugin_helpers import make_ctx, make_request

from harness.gateway.plugin_api import Headers, Response
from harness.gateway.plugins import file_log
from harness.gateway.plugins.file_log import FileLogPlugin
from harness.model.plugins import FileLogConfig

pytestmark = pytest.mark.observability


@pytest.fixture(autouse=True)
def _fresh_sinks():
    yield
    for sink in file_log._SINKS.values():
        sink.close()
    file_log._SINKS.clear()


def log_request(p, gateway, path="/api/users/7"):
    req = make_request(path=path, query="a=1",
                       headers=[("Authorization", "Bearer secret"), ("X-Custom", "v")])
    req.upstream_path = "/v1/users/7"
    ctx = make_ctx(gateway)
    ctx.consumer = gateway.consumers["tier-enterprise"]
    ctx.credential = "auth-dev-1"
    ctx.serialize["tenant"] = {"id": "acme", "tier": "enterprise"}
    ctx.upstream_latency_ms, ctx.proxy_latency_ms, ctx.upstream_target = 12, 2, "127.0.0.1:9001"
    p.log(req, Response(201, Headers([("Content-Type", "application/json")])), ctx)


def test_writes_one_json_line_in_kongs_serializer_shape(runtime, gateway, tmp_path):
    p = FileLogPlugin(FileLogConfig(path="/var/log/kong/access.json.log"), runtime)
    log_request(p, gateway)
    lines = (tmp_path / "access.json.log").read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request"]["method"] == "GET"
    assert entry["request"]["uri"] == "/api/users/7?a=1"
    assert entry["request"]["url"] == "http://acme.app.example.com:8000/api/users/7?a=1"
    assert entry["request"]["querystring"] == {"a": "1"}
    assert entry["request"]["headers"]["x-custom"] == "v"
    assert entry["request"]["headers"]["authorization"] == "REDACTED"
    assert entry["upstream_uri"] == "/v1/users/7?a=1"
    assert entry["response"]["status"] == 201
    assert entry["latencies"]["proxy"] == 12 and entry["latencies"]["kong"] == 2
    assert entry["route"]["name"] == "users" and entry["service"]["name"] == "user-service"
    assert entry["consumer"]["username"] == "tier-enterprise"
    assert entry["tenant"] == {"id": "acme", "tier": "enterprise"}
    assert entry["tries"] == [{"ip": "127.0.0.1", "port": 9001}]
    assert entry["client_ip"] == "10.0.0.7" and isinstance(entry["started_at"], int)


def test_lines_are_buffered_per_loop_turn_and_flushed(runtime, gateway, tmp_path):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log"), runtime)

    async def go():
        for _ in range(3):
            log_request(p, gateway)
        before = (tmp_path / "access.log").exists()
        await asyncio.sleep(0)
        return before

    assert asyncio.run(go()) is False
    assert len((tmp_path / "access.log").read_text().splitlines()) == 3


def test_reopen_follows_log_rotation(runtime, gateway, tmp_path):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log", reopen=True), runtime)
    log_request(p, gateway)
    os.rename(tmp_path / "access.log", tmp_path / "access.log.1")
    log_request(p, gateway)
    assert len((tmp_path / "access.log").read_text().splitlines()) == 1
    assert len((tmp_path / "access.log.1").read_text().splitlines()) == 1
