"""file-log plugin: one JSON line per request in Kong's basic serializer shape."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

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


def test_two_writers_of_one_file_append_whole_lines_only(runtime, gateway, tmp_path):
    # Two sinks on one path stand for two gateway replicas sharing a log file.
    p = FileLogPlugin(FileLogConfig(path="/x/shared.log"), runtime)
    other = file_log._Sink(p.path, reopen=False)

    async def go():
        for i in range(200):
            log_request(p, gateway, path=f"/api/users/{i}" + "x" * 3000)
            other.write(*logged_objects(gateway, i))
            if i % 10 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(go())
    other.close()
    lines = (tmp_path / "shared.log").read_text().splitlines()
    assert len(lines) == 400
    assert all(json.loads(line)["response"]["status"] in (201, 202) for line in lines)


def logged_objects(gateway, i):
    req = make_request(path=f"/api/other/{i}")
    return req, Response(202, Headers()), make_ctx(gateway)


def test_each_batch_goes_to_the_file_in_one_append_write(runtime, gateway, tmp_path,
                                                         monkeypatch):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log"), runtime)
    writes = []
    real_write = os.write

    def spy(fd, data):
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(file_log.os, "write", spy)

    async def go():
        for _ in range(5):
            log_request(p, gateway)
        await asyncio.sleep(0)

    asyncio.run(go())
    assert len(writes) == 1 and writes[0].count(b"\n") == 5 and writes[0].endswith(b"\n")
    flags = Path(f"/proc/self/fdinfo/{p.sink.fd}").read_text()
    assert int(flags.split("flags:")[1].split()[0], 8) & os.O_APPEND


def test_latencies_are_taken_when_the_log_phase_runs_not_when_the_line_is_written(
        runtime, gateway, tmp_path, monkeypatch):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log"), runtime)
    clock = [1000.0]
    monkeypatch.setattr(file_log.time, "time", lambda: clock[0])

    async def go():
        req = make_request()
        ctx = make_ctx(gateway)
        ctx.started_at = 999.5
        p.log(req, Response(200, Headers()), ctx)
        clock[0] = 1010.0   # the flush runs later
        await asyncio.sleep(0)

    asyncio.run(go())
    entry = json.loads((tmp_path / "access.log").read_text())
    assert entry["latencies"]["request"] == 500


def test_values_orjson_refuses_are_written_with_the_standard_encoder(runtime, gateway,
                                                                     tmp_path):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log"), runtime)
    ctx = make_ctx(gateway)
    ctx.serialize["huge"] = 2 ** 70
    ctx.serialize["text"] = "café \u2603"
    p.log(make_request(), Response(200, Headers()), ctx)
    entry = json.loads((tmp_path / "access.log").read_text(encoding="utf-8"))
    assert entry["huge"] == 2 ** 70 and entry["text"] == "café \u2603"


def test_a_line_that_cannot_be_encoded_costs_only_that_line(runtime, gateway, tmp_path,
                                                            caplog):
    p = FileLogPlugin(FileLogConfig(path="/x/access.log"), runtime)
    bad = make_ctx(gateway)
    bad.serialize["loop"] = loop = {}
    loop["self"] = loop   # neither encoder can write a cycle

    async def go():
        p.log(make_request(), Response(200, Headers()), bad)
        log_request(p, gateway)
        await asyncio.sleep(0)

    asyncio.run(go())
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["response"]["status"] == 201
    assert "cannot serialize" in caplog.text


def test_line_holds_exactly_the_serializer_fields_whichever_path_encodes_it(gateway):
    # The usual path appends a per-(route, consumer, credential) tail encoded once; a
    # serialize value that overrides one of those keys takes the whole-dict path.
    req = make_request(path="/api/users/7", headers=[("X-Custom", "v")])
    resp = Response(200, Headers([("Content-Type", "application/json")]))
    for consumer, credential in (("tier-enterprise", "auth-dev-1"), ("tier-basic", None),
                                 (None, None)):
        ctx = make_ctx(gateway)
        ctx.consumer = gateway.consumers[consumer] if consumer else None
        ctx.credential = credential
        ctx.serialize["tenant"] = {"id": "acme"}
        now = ctx.started_at + 0.005
        line = file_log._encode(req, resp, ctx, now)
        assert line.endswith(b"}\n") and line.count(b"\n") == 1
        expected = json.loads(json.dumps(file_log._serialize(req, resp, ctx, now),
                                         default=str))
        ents = file_log._entities(ctx)
        expected["route"], expected["service"] = ents[1], ents[2]
        assert json.loads(line) == json.loads(json.dumps(expected, default=str))
        assert ("consumer" in json.loads(line)) == (consumer is not None)
        assert ("authenticated_entity" in json.loads(line)) == (credential is not None)
    ctx = make_ctx(gateway)
    ctx.consumer = gateway.consumers["tier-basic"]
    ctx.serialize["consumer"] = {"overridden": True}
    assert json.loads(file_log._encode(req, resp, ctx, ctx.started_at))["consumer"] == \
        {"overridden": True}
