"""The production kong.yml end to end (real sockets, Redis, RS256 tokens, tenant-context in
LuaJIT): kong-behaviour.md §2 (jwt), §3 (rate-limiting) and §8 (plugin order) rows as a
client of our gateway sees them. The plugin unit tests check the same rows one plugin at a
time; these check what the whole chain makes of them."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.gateway.plugins._kong import ZERO_UUID
from tests.gateway.dataplane_support import request
from tests.gateway.fidelity_support import MINTER, Prod, production

pytestmark = pytest.mark.rate_limit

BASIC = "umbrella"                      # a basic-tier tenant of kong/tenants.yaml (30/min)
BASIC_HOST = "umbrella.app.example.com"
USERS = "/api/users/1"


def names(reply) -> set[str]:
    return {k.lower() for k, _ in reply.headers}


def rl_headers(reply) -> set[str]:
    return {n for n in names(reply) if n.startswith(("ratelimit-", "x-ratelimit-"))}


def minute_key(tenant: str, now: float) -> str:
    start_ms = (int(now) - int(now) % 60) * 1000
    return f"ratelimit:{ZERO_UUID}:{ZERO_UUID}:{tenant}:{start_ms}:minute"


def redis_int(p: Prod, *args: str) -> int:
    raw = p.redis.command(*args)
    if raw.startswith(b"$-1"):
        return 0
    return int(raw.split(b"\r\n")[1] if raw.startswith(b"$") else raw[1:].split(b"\r\n")[0])


async def away_from_minute_end() -> None:
    """Start a window-sensitive check at least 4 s before the minute ends (waits <= 4 s)."""
    left = 60 - time.time() % 60
    if left < 4:
        await asyncio.sleep(left + 0.05)


# -- §2 jwt ----------------------------------------------------------------------------
def test_jwt_401s_are_compact_exit_json_with_kong_generated_headers(tmp_path):
    # kong-behaviour.md §2 "Failures" rows (kong.response.exit: compact JSON, no request_id,
    # WWW-Authenticate 3.8+); §1.7 "Kong-generated" headers on them
    async def body(p: Prod):
        r = await request(p.port, path=USERS)
        assert r.status == 401 and r.body == b'{"message":"Unauthorized"}'
        assert r.header("WWW-Authenticate") == "Bearer"
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        assert r.header("X-Kong-Response-Latency") is not None
        assert r.header("Server") == "kong/3.9.1"
        now = int(time.time())
        expired = MINTER.sign(MINTER.claims("acme", now=now - 100, ttl=100))
        r = await request(p.port, path=USERS, headers={"Authorization": f"Bearer {expired}"})
        assert r.status == 401 and r.body == b'{"exp":"token expired"}'
        assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
        r = await request(p.port, path=USERS, headers=p.auth(ttl=3601))
        assert r.body == b'{"exp":"exceeds maximum allowed expiration"}'
        assert p.up.seen == []
    production(tmp_path, body)


def test_token_in_query_or_cookie_is_ignored_with_our_empty_lookup_lists(tmp_path):
    # kong-behaviour.md §2 config rows uri_param_names / cookie_names (kong.yml sets both [])
    # and "Token lookup"
    async def body(p: Prod):
        token = p.token()
        r = await request(p.port, path=f"{USERS}?jwt={token}")
        assert r.status == 401 and r.body == b'{"message":"Unauthorized"}'
        r = await request(p.port, path=USERS, headers={"Cookie": f"jwt={token}"})
        assert r.status == 401
    production(tmp_path, body)


def test_valid_token_reaches_the_service_with_authorization_unchanged(tmp_path):
    # kong-behaviour.md §2 "Upstream headers on success": Authorization forwarded unchanged,
    # X-Credential-Identifier = credential key (kid); tenant-context then authenticates the
    # tier consumer, whose X-Consumer-* headers the service sees
    async def body(p: Prod):
        token = p.token(kid="auth-dev-2")
        r = await request(p.port, path=USERS, headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200
        h = p.up.seen[-1].headers
        assert h["authorization"] == f"Bearer {token}"
        assert h["x-credential-identifier"] == "auth-dev-2"
        assert h["x-consumer-username"] == "tier-enterprise"
        assert "x-anonymous-consumer" not in h
    production(tmp_path, body)


# -- §3 rate-limiting ----------------------------------------------------------------
def test_rate_limit_headers_on_proxied_answers_and_kong_429_at_the_limit(tmp_path):
    # kong-behaviour.md §3 "Response headers", "Decision" (exactly `limit` allowed), 429 via
    # kong.response.error with Retry-After = RateLimit-Reset, "Counter key" (consumer-scoped
    # plugin: zero route/service ids), redis sync_rate -1 counts rejected requests too
    async def body(p: Prod):
        await away_from_minute_end()
        now = time.time()
        key = minute_key(BASIC, now)
        p.redis.command("SET", key, "29", "EX", "60")   # 29 of basic's 30 used
        ok = await request(p.port, path=USERS, host=BASIC_HOST, headers=p.auth(BASIC))
        assert ok.status == 200
        assert ok.header("X-RateLimit-Limit-Minute") == "30"
        assert ok.header("X-RateLimit-Remaining-Minute") == "0"
        assert ok.header("X-RateLimit-Limit-Hour") == "600"
        assert ok.header("X-RateLimit-Remaining-Hour") == "599"
        assert ok.header("RateLimit-Limit") == "30" and ok.header("RateLimit-Remaining") == "0"
        reset = int(ok.header("RateLimit-Reset"))
        assert 1 <= reset <= 60 - int(now) % 60
        seen = len(p.up.seen)
        r = await request(p.port, path=USERS, host=BASIC_HOST, headers=p.auth(BASIC))
        assert r.status == 429
        rid = r.header("X-Kong-Request-Id")
        assert r.body == (b'{\n  "message":"API rate limit exceeded",\n  "request_id":"'
                          + rid.encode() + b'"\n}')
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        assert r.header("Retry-After") == r.header("RateLimit-Reset")
        assert r.header("X-RateLimit-Remaining-Minute") == "0"
        assert r.header("X-RateLimit-Remaining-Hour") == "599"   # not the exceeded window
        assert r.header("X-RateLimit-Limit-Minute") == "30"
        assert r.header("X-Content-Type-Options") == "nosniff"   # §8: later plugins filter
        assert len(p.up.seen) == seen
        assert redis_int(p, "GET", key) == 31
        assert 0 < redis_int(p, "TTL", key) <= 60
    production(tmp_path, body)


def test_redis_down_fault_tolerant_proxies_without_any_rate_limit_header(tmp_path):
    # kong-behaviour.md §3 "Datastore down": fault_tolerant=true (kong.yml) => 200, no headers
    async def body(p: Prod):
        r = await request(p.port, path=USERS, headers=p.auth())
        assert r.status == 200 and rl_headers(r)
        p.redis.stop()
        r = await request(p.port, path=USERS, headers=p.auth())
        assert r.status == 200 and not rl_headers(r)
        assert r.header("Via") == "1.1 kong/3.9.1"
    production(tmp_path, body)


# -- §8 plugin order ------------------------------------------------------------------
def test_cors_preflight_is_answered_before_authentication(tmp_path):
    # kong-behaviour.md §8 "cors preflight answered before jwt" (cors 2000 > jwt 1450)
    async def body(p: Prod):
        r = await request(p.port, "OPTIONS", USERS, headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
        assert r.status == 200 and r.body == b""
        assert r.header("Access-Control-Allow-Origin") == "https://app.example.com"
        assert not rl_headers(r)
        assert p.up.seen == [] and p.directory.hits == 0
    production(tmp_path, body)


def test_size_limit_answers_after_auth_and_before_rate_limiting_counts(tmp_path):
    # kong-behaviour.md §8 "ip-restriction/size-limit before rate-limiting" (951 > 910) and
    # jwt 1450 / tenant-context 1000 before both; §6 request-size-limiting 413 row
    async def body(p: Prod):
        await away_from_minute_end()
        key = minute_key(BASIC, time.time())
        big = {"Content-Length": str(1048577)}
        r = await request(p.port, "POST", USERS, host=BASIC_HOST, headers=big)
        assert r.status == 401            # jwt first: no token, no size check
        r = await request(p.port, "POST", USERS, host=BASIC_HOST,
                          headers={**big, **p.auth(BASIC)})
        assert r.status == 413
        assert r.body == (b'{\n  "message":"Request size limit exceeded",\n  "request_id":"'
                          + r.header("X-Kong-Request-Id").encode() + b'"\n}')
        assert not rl_headers(r)
        assert redis_int(p, "GET", key) == 0      # rate-limiting's access never ran
        r = await request(p.port, path=USERS, host=BASIC_HOST, headers=p.auth("acme"))
        assert r.status == 403            # tenant-context (1000) refuses: not counted either
        assert redis_int(p, "GET", key) == 0 and not rl_headers(r)
        assert p.up.seen == []
    production(tmp_path, body)


def test_generated_answers_pass_through_the_later_plugins_header_filters(tmp_path):
    # kong-behaviour.md §8 delay_response: after a plugin's exit the rest are collected, so
    # correlation-id (echo_downstream), cors and response-transformer still shape a 401
    async def body(p: Prod):
        r = await request(p.port, path=USERS, headers={"Origin": "https://admin.example.com",
                                                       "X-Request-ID": "client-id-1"})
        assert r.status == 401
        assert r.header("X-Request-ID") == "client-id-1"
        assert r.header("Access-Control-Allow-Origin") == "https://admin.example.com"
        assert r.header("X-Content-Type-Options") == "nosniff"
        assert r.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    production(tmp_path, body)
