"""rate-limiting plugin against kong-behaviour.md §3, with a real redis-server."""

from __future__ import annotations

import asyncio
import calendar
import time

import pytest
from plugin_helpers import make_ctx, make_request, run

from harness.gateway.plugin_api import Exit, Headers, Response
from harness.gateway.plugins import REGISTRY, PluginCrash
from harness.gateway.plugins import rate_limiting as rl
from harness.gateway.plugins.rate_limiting import LOCAL_COUNTERS, RateLimitingPlugin, window_starts
from harness.model.plugins import RateLimitingConfig, RedisConfig

pytestmark = pytest.mark.rate_limit


def cfg(policy="local", port=6379, **kw) -> RateLimitingConfig:
    base = dict(minute=3.0, hour=5.0, limit_by="header", header_name="X-Tenant-ID",
                policy=policy, redis=RedisConfig(host="redis", port=6379, timeout=300))
    base.update(kw)
    return RateLimitingConfig(**base)


@pytest.fixture(autouse=True)
def _fresh_state():
    LOCAL_COUNTERS.values.clear()
    rl._REDIS_CLIENTS.clear()
    yield
    rl._REDIS_CLIENTS.clear()


def run_closing(coro):
    """Run in one event loop, closing the Redis connections before it ends."""
    async def wrapper():
        try:
            return await coro
        finally:
            for client in rl._REDIS_CLIENTS.values():
                client.close()
            await asyncio.sleep(0)
    return run(wrapper())


def frozen(monkeypatch, t: float) -> None:
    monkeypatch.setattr("harness.gateway.plugins.rate_limiting.time.time", lambda: t)


async def hit(p, gateway, tenant="t1"):
    req = make_request(headers=[("X-Tenant-ID", tenant)])
    ctx = make_ctx(gateway)
    try:
        await p.access(req, ctx)
    except Exit as exc:
        return exc.status, exc.headers, exc
    resp = Response(200, Headers())
    p.header_filter(req, resp, ctx)
    return 200, resp.headers, None


def test_registry_maps_rate_limiting_with_priority_910():
    assert REGISTRY["rate-limiting"] is RateLimitingPlugin and RateLimitingPlugin.priority == 910


def test_windows_are_aligned_to_utc_calendar():
    t = calendar.timegm((2026, 3, 17, 13, 45, 30))
    s = window_starts(t)
    assert s["minute"] == calendar.timegm((2026, 3, 17, 13, 45, 0)) * 1000
    assert s["hour"] == calendar.timegm((2026, 3, 17, 13, 0, 0)) * 1000
    assert s["day"] == calendar.timegm((2026, 3, 17, 0, 0, 0)) * 1000
    assert s["month"] == calendar.timegm((2026, 3, 1, 0, 0, 0)) * 1000
    assert s["year"] == calendar.timegm((2026, 1, 1, 0, 0, 0)) * 1000


def test_local_policy_allows_exactly_limit_then_429_with_headers(runtime, gateway, monkeypatch):
    t = calendar.timegm((2026, 3, 17, 13, 45, 30))
    frozen(monkeypatch, t)
    p = RateLimitingPlugin(cfg(), runtime)
    results = [run(hit(p, gateway)) for _ in range(4)]
    assert [r[0] for r in results] == [200, 200, 200, 429]
    h = results[0][1]
    # §3 Response headers: per window + RateLimit-* of the lowest remaining
    assert h.get("X-RateLimit-Limit-Minute") == "3" and h.get("X-RateLimit-Remaining-Minute") == "2"
    assert h.get("X-RateLimit-Limit-Hour") == "5" and h.get("X-RateLimit-Remaining-Hour") == "4"
    assert h.get("RateLimit-Limit") == "3" and h.get("RateLimit-Remaining") == "2"
    assert h.get("RateLimit-Reset") == "30"  # 30 s left in the minute at hh:mm:30
    status, h, exc = results[3]
    assert exc.error_message == "API rate limit exceeded"
    assert h.get("Retry-After") == "30" and h.get("RateLimit-Remaining") == "0"
    # on rejection only the exceeded window is decremented
    assert h.get("X-RateLimit-Remaining-Hour") == "2"


def test_local_policy_counts_per_identifier_and_falls_back_to_ip(runtime, gateway):
    p = RateLimitingPlugin(cfg(minute=1.0, hour=None), runtime)
    assert run(hit(p, gateway, "a"))[0] == 200
    assert run(hit(p, gateway, "b"))[0] == 200
    assert run(hit(p, gateway, "a"))[0] == 429
    # header missing -> client IP identifier
    req = make_request()
    run(p.access(req, make_ctx(gateway)))
    assert any(":10.0.0.7:" in k for k in LOCAL_COUNTERS.values)


def test_tie_on_remaining_prefers_the_longer_window(runtime, gateway, monkeypatch):
    t = calendar.timegm((2026, 3, 17, 13, 45, 30))
    frozen(monkeypatch, t)
    p = RateLimitingPlugin(cfg(minute=2.0, hour=2.0), runtime)
    _, h, _ = run(hit(p, gateway))
    assert h.get("RateLimit-Remaining") == "1"
    assert h.get("RateLimit-Reset") == str(3600 - 45 * 60 - 30)


def test_hide_client_headers_keeps_only_retry_after_on_429(runtime, gateway):
    p = RateLimitingPlugin(cfg(minute=1.0, hour=None, hide_client_headers=True), runtime)
    status, h, _ = run(hit(p, gateway))
    assert status == 200 and len(h) == 0
    status, h, exc = run(hit(p, gateway))
    assert status == 429 and h.names() == ["Retry-After"]


def test_custom_error_code_and_message(runtime, gateway):
    p = RateLimitingPlugin(cfg(minute=1.0, hour=None, error_code=503, error_message="slow"),
                           runtime)
    run(hit(p, gateway))
    status, _, exc = run(hit(p, gateway))
    assert status == 503 and exc.error_message == "slow"


def redis_plugin(runtime, server, **kw) -> RateLimitingPlugin:
    runtime.resolve_map[("redis", 6379)] = ("127.0.0.1", server.port)
    return RateLimitingPlugin(cfg(policy="redis", **kw), runtime)


def test_redis_policy_counts_rejected_requests_and_uses_kong_key_format(
        runtime, gateway, redis_server, monkeypatch):
    t = calendar.timegm((2026, 3, 17, 13, 45, 30))
    frozen(monkeypatch, t)
    p = redis_plugin(runtime, redis_server)

    async def go():
        return [await hit(p, gateway, "acme") for _ in range(5)]

    statuses = [r[0] for r in run_closing(go())]
    assert statuses == [200, 200, 200, 429, 429]
    minute_ms = calendar.timegm((2026, 3, 17, 13, 45, 0)) * 1000
    key = f"ratelimit:{rl.ZERO_UUID}:{rl.ZERO_UUID}:acme:{minute_ms}:minute"
    # synchronous counting: the two 429s incremented too (Kong's redis script)
    assert redis_server.command("GET", key) == b"$1\r\n5\r\n"
    ttl = int(redis_server.command("TTL", key)[1:].split(b"\r\n")[0])
    assert 0 < ttl <= 60


def test_redis_policy_is_exact_under_concurrency(runtime, gateway, redis_server):
    p = redis_plugin(runtime, redis_server, minute=50.0, hour=1000.0)

    async def go():
        return await asyncio.gather(*(hit(p, gateway, "burst") for _ in range(80)))

    statuses = [r[0] for r in run_closing(go())]
    assert statuses.count(200) == 50 and statuses.count(429) == 30


def test_redis_down_fault_tolerant_proxies_without_headers(runtime, gateway, redis_server):
    p = redis_plugin(runtime, redis_server)
    redis_server.stop()
    started = time.monotonic()
    status, h, _ = run(hit(p, gateway))
    assert status == 200 and len(h) == 0
    assert time.monotonic() - started < 0.3


def test_redis_down_not_fault_tolerant_crashes_the_request(runtime, gateway, redis_server):
    p = redis_plugin(runtime, redis_server, fault_tolerant=False)
    redis_server.stop()
    with pytest.raises(PluginCrash):
        run(hit(p, gateway))


def test_redis_hung_fails_within_timeout(runtime, gateway, redis_server):
    p = redis_plugin(runtime, redis_server)
    redis_server.command("CLIENT", "PAUSE", "1500")  # Redis stops answering clients
    started = time.monotonic()
    status, h, _ = run_closing(hit(p, gateway))
    elapsed = time.monotonic() - started
    assert status == 200 and len(h) == 0
    assert 0.25 <= elapsed < 0.8  # redis.timeout is 300 ms


def test_recovers_within_one_second_of_redis_returning(runtime, gateway, redis_server):
    p = redis_plugin(runtime, redis_server)

    async def go():
        assert (await hit(p, gateway))[1].get("X-RateLimit-Limit-Minute") == "3"
        redis_server.stop()
        for _ in range(3):
            assert len((await hit(p, gateway))[1]) == 0
            await asyncio.sleep(0.05)
        redis_server.start()
        back = time.monotonic()
        while time.monotonic() - back < 2:
            _, h, _ = await hit(p, gateway)
            if h.get("X-RateLimit-Limit-Minute") == "3":
                return time.monotonic() - back
            await asyncio.sleep(0.02)
        return None

    recovered = run_closing(go())
    assert recovered is not None and recovered < 1.0


def test_redis_client_works_on_uvloop_like_the_gateway(redis_server):
    # The gateway runs on uvloop, whose transports are not asyncio.Transport
    # subclasses; the client once asserted they were and every call timed out.
    import uvloop

    from harness.gateway.plugins._redis import RedisClient

    async def go():
        client = RedisClient("127.0.0.1", redis_server.port, timeout=1.0)
        try:
            return await client.incr_windows(["uv:a", "uv:b"], [60, 3600])
        finally:
            client.close()

    assert uvloop.run(go()) == [0, 0]


@pytest.mark.patches_gateway
def test_script_command_built_from_a_cached_frame_is_the_whole_encoding(monkeypatch):
    from harness.gateway.plugins import _redis

    sent = []

    async def fake_call(self, payload):
        sent.append(payload)
        return [0, 0]

    monkeypatch.setattr(_redis.RedisClient, "call", fake_call)
    client = _redis.RedisClient("127.0.0.1", 1, timeout=1)
    keys = ["ratelimit:0:0:acme:60000:minute", "ratelimit:0:0:caf\u00e9:0:hour"]
    for _ in range(2):   # the second call uses the cached frame
        asyncio.run(client.incr_windows(keys, [60, 3600]))
    whole = _redis.encode(b"EVALSHA", _redis.INCR_SHA, 2, *keys, 60, 3600)
    assert sent == [whole, whole]
