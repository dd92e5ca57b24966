"""kong-behaviour.md §8: priority order and consumer-aware plugin lookup while iterating."""

from __future__ import annotations

import pytest

from harness.gateway.chain import Chain
from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, request, run

KONG = """
_format_version: "3.0"
consumers:
  - username: tier-basic
    plugins:
      - name: rate-limiting
        config: {minute: 5, policy: local}
services:
  - name: svc
    host: echo
    port: 8080
    plugins:
      - name: jwt
        config: {}
    routes:
      - name: r
        paths: [/]
plugins:
  - name: rate-limiting
    config: {minute: 100, policy: local}
  - name: correlation-id
    config: {}
"""

ORDER: list[str] = []


class Authenticates(Plugin):
    """Stands in for jwt/tenant-context: authenticates as the consumer named in X-Who."""
    name = "jwt"
    priority = 1450

    async def access(self, req: Request, ctx: Ctx) -> None:
        ORDER.append("jwt")
        who = req.headers.get("X-Who")
        if who == "nobody":
            raise Exit.json(401, {"message": "Unauthorized"})
        if who:
            ctx.consumer = ctx.gateway.consumers[who]


class Limits(Plugin):
    name = "rate-limiting"
    priority = 910

    async def access(self, req: Request, ctx: Ctx) -> None:
        ORDER.append("rate-limiting")
        req.headers.set("X-Limit", str(self.config.minute))


class First(Plugin):
    name = "correlation-id"
    priority = 100001

    async def access(self, req: Request, ctx: Ctx) -> None:
        ORDER.append("correlation-id")


REGISTRY: dict[str, type[Plugin]] = {"jwt": Authenticates, "rate-limiting": Limits,
                                     "correlation-id": First}


def test_consumer_set_by_an_earlier_plugin_selects_consumer_scoped_instances(tmp_path):
    # §8 "Config precedence" + lookup with the consumer current when the plugin runs
    gw = gateway_from(tmp_path, KONG)

    async def main() -> None:
        up = await Upstream().start()
        try:
            async with gateway(gw, {("echo", 8080): ("127.0.0.1", up.port)}, REGISTRY) as srv:
                port = srv.ports["http"]
                ORDER.clear()
                await request(port, path="/a", headers={"X-Who": "tier-basic"})
                assert up.seen[-1].headers["x-limit"] == "5.0"
                assert ORDER == ["correlation-id", "jwt", "rate-limiting"]
                await request(port, path="/a")
                assert up.seen[-1].headers["x-limit"] == "100.0"
                ORDER.clear()
                r = await request(port, path="/a", headers={"X-Who": "nobody"})
                assert r.status == 401 and ORDER == ["correlation-id", "jwt"]
        finally:
            await up.stop()
    run(main())


def test_plugins_without_implementation_fail_in_strict_mode(tmp_path):
    # issue 5: "a plugin ... we do not implement is an error at load time naming it"
    from harness.errors import ConfigError

    gw = gateway_from(tmp_path, KONG)
    with pytest.raises(ConfigError, match=r"plugins\[correlation-id\].*correlation-id"):
        Chain(gw, object(), {"jwt": Authenticates, "rate-limiting": Limits}, strict=True)
