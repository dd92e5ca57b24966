"""tenant-context (kong/custom-plugins/tenant-context/handler.lua) run unchanged in LuaJIT,
after the jwt plugin, against a real HTTP Tenant Directory (docs/pdk-subset.md)."""

from __future__ import annotations

import asyncio
import json

import pytest
from plugin_helpers import TenantDirectoryServer, make_ctx, make_request

from harness.gateway.plugin_api import Exit
from harness.gateway.plugins import REGISTRY, LuaPlugin, PluginCrash
from harness.gateway.plugins.jwt import JwtPlugin
from harness.model.plugins import JwtConfig
from harness.tokens import dev_minter

pytestmark = pytest.mark.tenant

MINTER = dev_minter()
JWT = JwtConfig(key_claim_name="kid", claims_to_verify=["exp", "nbf"], maximum_expiration=3600,
                uri_param_names=[], run_on_preflight=False)


class Chain:
    def __init__(self, runtime, gateway, directory):
        self.gateway = gateway
        runtime.resolve_map[("tenant-service", 8081)] = ("127.0.0.1", directory.port)
        self.jwt = JwtPlugin(JWT, runtime)
        self.tc = REGISTRY["tenant-context"](gateway.tenant_context, runtime)

    async def send(self, host, token=None, headers=(), route="users"):
        hdrs = list(headers)
        if token:
            hdrs.append(("Authorization", f"Bearer {token}"))
        req = make_request(host=host, headers=hdrs)
        ctx = make_ctx(self.gateway, route)
        try:
            if route not in ("auth-token", "auth-jwks"):
                await self.jwt.access(req, ctx)
            await self.tc.access(req, ctx)
        except Exit as exc:
            return exc, req, ctx
        return None, req, ctx


def scenario(runtime, gateway, body):
    async def main():
        directory = TenantDirectoryServer(gateway)
        await directory.start()
        try:
            return await body(Chain(runtime, gateway, directory), directory)
        finally:
            await directory.stop()
    return asyncio.run(main())


def message(exc):
    return json.loads(exc.body)["message"]


def test_registry_runs_tenant_context_as_a_lua_plugin_with_priority_1000(runtime, gateway):
    cls = REGISTRY["tenant-context"]
    assert issubclass(cls, LuaPlugin) and cls.priority == 1000


def test_resolves_tenant_sets_context_headers_and_tier_consumer(runtime, gateway):
    async def body(chain, directory):
        return await chain.send("acme.app.example.com", MINTER.mint("acme", sub="alice"),
                                [("X-Tenant-ID", "evil"), ("x_tenant_tier", "gold"),
                                 ("X-Consumer-Username", "admin")])
    exc, req, ctx = scenario(runtime, gateway, body)
    assert exc is None
    h = req.headers
    assert h.get_all("X-Tenant-ID") == ["acme"] and h.get("X-Tenant-Tier") == "enterprise"
    assert "x_tenant_tier" not in [n.lower() for n in h.names()]
    assert h.get("X-Tenant-User") == "alice"
    assert h.get("X-Consumer-Username") == "tier-enterprise"
    assert h.get("X-Credential-Identifier") == "auth-dev-1"
    assert h.get("Connection") == "keep-alive"
    assert ctx.consumer is not None and ctx.consumer.username == "tier-enterprise"
    assert ctx.credential == "auth-dev-1"
    assert ctx.serialize["tenant"] == {"id": "acme", "tier": "enterprise"}


def test_custom_domain_resolves_and_cache_avoids_second_lookup(runtime, gateway):
    async def body(chain, directory):
        token = MINTER.mint("stark")
        first = await chain.send("api.stark.dev", token)
        second = await chain.send("api.stark.dev", token)
        return first, second, directory.hits
    first, second, hits = scenario(runtime, gateway, body)
    assert first[0] is None and second[0] is None and hits == 1


def test_token_for_another_tenant_is_refused_403(runtime, gateway):
    async def body(chain, directory):
        return await chain.send("globex.app.example.com", MINTER.mint("acme"))
    exc, _, _ = scenario(runtime, gateway, body)
    assert exc.status == 403 and message(exc) == "Token tenant does not match host"
    assert exc.body == b'{"message":"Token tenant does not match host"}'


def test_unknown_host_is_404_and_negatively_cached(runtime, gateway):
    async def body(chain, directory):
        a = await chain.send("nobody.app.example.com", MINTER.mint("acme"))
        b = await chain.send("nobody.app.example.com", MINTER.mint("acme"))
        return a, b, directory.hits
    a, b, hits = scenario(runtime, gateway, body)
    assert a[0].status == 404 and message(a[0]) == "Unknown tenant host"
    assert b[0].status == 404 and hits == 1


def test_directory_down_is_503_and_not_cached(runtime, gateway):
    async def body(chain, directory):
        directory.status = 500
        a = await chain.send("acme.app.example.com", MINTER.mint("acme"))
        directory.status = None
        b = await chain.send("acme.app.example.com", MINTER.mint("acme"))
        return a, b
    a, b = scenario(runtime, gateway, body)
    assert a[0].status == 503 and message(a[0]) == "Tenant directory unavailable"
    assert b[0] is None


def test_directory_timeout_is_503_within_the_configured_timeout(runtime, gateway):
    async def body(chain, directory):
        directory.delay = 3
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        res = await chain.send("acme.app.example.com", MINTER.mint("acme"))
        return res, loop.time() - t0
    (exc, _, _), elapsed = scenario(runtime, gateway, body)
    assert exc.status == 503 and elapsed < 1.6  # conf.timeout is 1000 ms


def test_concurrent_misses_share_one_directory_call(runtime, gateway):
    async def body(chain, directory):
        directory.delay = 0.1
        token = MINTER.mint("globex")
        results = await asyncio.gather(*(chain.send("globex.app.example.com", token)
                                         for _ in range(10)))
        return results, directory.hits
    results, hits = scenario(runtime, gateway, body)
    assert all(r[0] is None for r in results) and hits == 1
    assert all(r[1].headers.get("X-Tenant-ID") == "globex" for r in results)


def test_public_route_needs_no_token_but_still_resolves_tenant(runtime, gateway):
    async def body(chain, directory):
        return await chain.send("umbrella.app.example.com", route="auth-token")
    exc, req, ctx = scenario(runtime, gateway, body)
    assert exc is None and req.headers.get("X-Tenant-ID") == "umbrella"
    assert ctx.consumer.username == "tier-basic" and "X-Tenant-User" not in req.headers


def test_missing_token_on_protected_route_is_401(runtime, gateway):
    async def body(chain, directory):
        req = make_request(host="acme.app.example.com")
        ctx = make_ctx(gateway, "users")
        with pytest.raises(Exit) as info:
            await chain.tc.access(req, ctx)
        return info.value
    exc = scenario(runtime, gateway, body)
    assert exc.status == 401 and message(exc) == "Unauthorized"


def test_connection_listed_headers_are_cleared_before_context_is_set(runtime, gateway):
    async def body(chain, directory):
        return await chain.send("acme.app.example.com", MINTER.mint("acme"),
                                [("Connection", "close, X-Tenant-ID, X-Secret"),
                                 ("X-Secret", "s")])
    exc, req, _ = scenario(runtime, gateway, body)
    assert exc is None and "X-Secret" not in req.headers
    assert req.headers.get("Connection") == "keep-alive"
    assert req.headers.get("X-Tenant-ID") == "acme"


def test_claims_remembered_per_token_never_leak_to_another_token(runtime, gateway):
    async def body(chain, directory):
        alice, bob = MINTER.mint("acme", sub="alice"), MINTER.mint("acme", sub="bob")
        other = MINTER.mint("globex", sub="alice")
        users = []
        for token in (alice, bob, alice, bob):
            exc, req, _ = await chain.send("acme.app.example.com", token)
            assert exc is None
            users.append(req.headers.get("X-Tenant-User"))
        refused, _, _ = await chain.send("acme.app.example.com", other)
        return users, refused
    users, refused = scenario(runtime, gateway, body)
    assert users == ["alice", "bob", "alice", "bob"]
    assert refused.status == 403


def test_lua_memory_stays_flat_over_many_requests(runtime, gateway):
    # A weak-keys-only map whose values pointed back at their keys once kept every
    # request's Lua state alive (~2 KB per request, unbounded under load).
    from harness.gateway.lua.vm import LuaVM

    async def body(chain, directory):
        token = MINTER.mint("acme")
        vm = next(v for v in __import__("gc").get_objects() if isinstance(v, LuaVM)
                  and v.runtime is chain.tc.runtime)
        heap = vm.lua.eval('function() collectgarbage("collect") '
                           'return collectgarbage("count") end')
        for _ in range(300):
            await chain.send("acme.app.example.com", token)
        before = heap()
        for _ in range(3000):
            exc, _, _ = await chain.send("acme.app.example.com", token)
            assert exc is None
        return before, heap()

    before, after = scenario(runtime, gateway, body)
    assert after - before < 512, f"Lua heap grew {after - before:.0f} KiB over 3000 requests"
