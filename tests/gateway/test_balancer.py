"""kong-behaviour.md §4: round-robin, passive and active health checks, retries, 502/503/504."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.gateway.balancer import Balancer, TargetState
from harness.model import Healthchecks
from harness.stack.ports import free_port
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, request, run

pytestmark = pytest.mark.breaker


def _targets(*weights: int) -> list[TargetState]:
    return [TargetState(f"t{i}:80", f"t{i}", 80, ("127.0.0.1", 1000 + i), w)
            for i, w in enumerate(weights)]


def test_round_robin_follows_weights_and_skips_zero_weight():
    # §4 Target weight; round-robin
    bal = Balancer("u", _targets(200, 100, 0), None)
    picks = [bal.pick().target for _ in range(30)]  # type: ignore[union-attr]
    assert picks.count("t0:80") == 20 and picks.count("t1:80") == 10
    assert "t2:80" not in picks
    assert picks[:3] != ["t0:80", "t0:80", "t0:80"]   # smooth, interleaved


def _checks(**passive_unhealthy: int) -> Healthchecks:
    return Healthchecks.model_validate({"passive": {
        "healthy": {"successes": 1}, "unhealthy": passive_unhealthy}})


def test_passive_failures_reach_threshold_and_a_success_resets_them():
    # §4 passive mechanics: "a success resets failure counters"
    bal = Balancer("u", _targets(100), _checks(http_failures=2))
    t = bal.targets[0]
    bal.report_status(t, 500)
    bal.report_status(t, 200)
    bal.report_status(t, 500)
    assert t.healthy
    bal.report_status(t, 503)
    assert not t.healthy
    assert bal.pick() is None
    assert bal.health() == [("t0:80", "127.0.0.1:1000", "unhealthy")]


def test_zero_thresholds_mean_no_healthchecker():
    # §4 "No healthchecker is created ... (HEALTHCHECKS_OFF)"
    bal = Balancer("u", _targets(100), Healthchecks())
    for _ in range(10):
        bal.report_status(bal.targets[0], 500)
        bal.report_tcp_failure(bal.targets[0])
    assert bal.targets[0].healthy
    assert bal.health()[0][2] == "healthchecks_off"


def kong_yml(active_interval: int = 0, retries: int = 2, passive: bool = True) -> str:
    fails = 2 if passive else 0
    return f"""
_format_version: "3.0"
upstreams:
  - name: pair
    healthchecks:
      active:
        http_path: /health
        timeout: 1
        healthy: {{interval: {active_interval}, successes: 1}}
        unhealthy: {{interval: {active_interval}, http_failures: 1, tcp_failures: 1,
                     timeouts: 1}}
      passive:
        unhealthy: {{http_failures: {fails}, tcp_failures: {fails // 2}, timeouts: {fails // 2},
                     http_statuses: [500, 502, 503, 504]}}
    targets:
      - target: a:8080
      - target: b:8080
services:
  - name: svc
    host: pair
    port: 8080
    retries: {retries}
    read_timeout: 300
    routes:
      - name: r
        paths: [/]
"""


def scenario(tmp_path, body, *, two_live: bool = False, **kw: Any):
    async def main() -> Any:
        a = await Upstream(name="a").start()
        b = await Upstream(name="b").start() if two_live else None
        b_port = b.port if b else free_port()    # nothing listens: connection refused
        gw = gateway_from(tmp_path, kong_yml(**kw))
        resolve = {("a", 8080): ("127.0.0.1", a.port), ("b", 8080): ("127.0.0.1", b_port)}
        try:
            async with gateway(gw, resolve) as srv:
                return await body(srv, srv.ports["http"], a, b)
        finally:
            await a.stop()
            if b:
                await b.stop()
    return run(main())


def test_connection_refused_target_is_retried_elsewhere_and_ejected(tmp_path):
    # §4 retries on connection errors; passive tcp_failures ejects the dead target
    async def body(srv, port, a, b):
        replies = [await request(port, path=f"/x{i}") for i in range(6)]
        assert [r.status for r in replies] == [200] * 6
        health = await request(srv.ports["status"], path="/upstreams/pair/health")
        states = {d["target"]: d["health"] for d in health.json()["data"]}
        assert states == {"a:8080": "HEALTHY", "b:8080": "UNHEALTHY"}
        assert len(a.seen) == 6
    scenario(tmp_path, body)


def test_http_5xx_is_not_retried_and_counts_as_passive_failure(tmp_path):
    # §4 "HTTP 5xx responses are not retried"; passive http_failures=2 ejects
    async def body(srv, port, a, b):
        a.fail_status = 500
        b.fail_status = 500
        for _ in range(4):
            r = await request(port, path="/x")
            assert r.status == 500
        assert len(a.seen) + len(b.seen) == 4
        r = await request(port, path="/x")
        assert r.status == 503
        assert b'"message":"failure to get a peer from the ring-balancer"' in r.body
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        # passive checks never bring a target back (no active checks configured)
        a.fail_status = b.fail_status = None
        await asyncio.sleep(0.2)
        assert (await request(port, path="/x")).status == 503
    scenario(tmp_path, body, two_live=True)


def test_active_checks_bring_an_ejected_target_back(tmp_path):
    # §4 Recovery: only active checks (interval > 0) re-enable a target
    async def body(srv, port, a, b):
        a.fail_status = b.fail_status = 503
        deadline = asyncio.get_running_loop().time() + 5
        while (await request(port, path="/x")).status != 503 or \
                b"ring-balancer" not in (await request(port, path="/x")).body:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        a.fail_status = b.fail_status = None
        deadline = asyncio.get_running_loop().time() + 5
        while (await request(port, path="/x")).status != 200:
            assert asyncio.get_running_loop().time() < deadline, "target never recovered"
            await asyncio.sleep(0.2)
    scenario(tmp_path, body, two_live=True, active_interval=1)


def test_all_targets_refusing_gives_502_in_text_plain_by_default(tmp_path):
    # §4 "connection refused/reset after all tries" -> 502; §0 nginx errors default text/plain
    async def body(srv, port, a, b):
        await a.stop()
        r = await request(port, path="/x")
        assert r.status == 502
        assert r.body.startswith(b"An invalid response was received from the upstream "
                                 b"server\nrequest_id: ")
        assert r.header("Content-Type") == "text/plain; charset=utf-8"
        r = await request(port, path="/x", headers={"Content-Type": "application/json"})
        assert r.status == 502 and r.json()["request_id"] == r.header("X-Kong-Request-Id")
    scenario(tmp_path, body, retries=3, passive=False)


def test_retry_without_a_healthy_peer_answers_503_unavailable(tmp_path):
    # §4: first try without peer -> ring-balancer 503; a retry without peer -> nginx 503
    async def body(srv, port, a, b):
        await a.stop()
        r = await request(port, path="/x")   # a and b both refuse and get ejected
        assert r.status == 503
        assert r.body.startswith(b"The upstream server is currently unavailable\n")
        r = await request(port, path="/x")
        assert r.status == 503 and b"failure to get a peer from the ring-balancer" in r.body
    scenario(tmp_path, body, retries=3)


def test_read_timeout_gives_504_and_post_is_not_resent(tmp_path):
    # §4 "connect/read/write timeout -> 504"; non-idempotent requests are not re-sent
    async def body(srv, port, a, b):
        r = await request(port, "POST", "/sleep/1000", body=b"x")
        assert r.status == 504
        assert r.body.startswith(b"The upstream server is timing out\nrequest_id: ")
        assert len(a.seen) + len(b.seen) == 1
    scenario(tmp_path, body, two_live=True)


def test_get_timeout_is_retried_up_to_service_retries(tmp_path):
    # §4 retries cover timeouts for idempotent requests (retries=2: three tries)
    async def body(srv, port, a, b):
        r = await request(port, "GET", "/sleep/1000")
        assert r.status == 504
        assert len(a.seen) + len(b.seen) == 3
    scenario(tmp_path, body, two_live=True, passive=False)
