"""The status listener: Kong's /status, upstream health, plugin-registered routes."""

from __future__ import annotations

from harness.gateway.plugin_api import Ctx, Plugin, Request
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, request, run

KONG = """
_format_version: "3.0"
upstreams:
  - name: pool
    healthchecks:
      passive:
        unhealthy: {http_failures: 1}
    targets:
      - target: a:8080
services:
  - name: svc
    host: pool
    port: 8080
    routes:
      - name: r
        paths: [/]
plugins:
  - name: prometheus
    config: {}
"""


class Metrics(Plugin):
    """Registers a status route in the plugins' shape: () -> (status, headers, body)."""
    name = "prometheus"
    priority = 13

    def __init__(self, config, runtime) -> None:
        super().__init__(config, runtime)
        runtime.register_status_route(
            "/metrics", lambda: (200, [("Content-Type", "text/plain; charset=UTF-8")],
                                 f"requests {runtime.requests_total}\n".encode()))

    async def access(self, req: Request, ctx: Ctx) -> None:
        return None


def test_status_reports_counters_and_routes_registered_by_plugins(tmp_path):
    async def main() -> None:
        up = await Upstream().start()
        gw = gateway_from(tmp_path, KONG)
        try:
            async with gateway(gw, {("a", 8080): ("127.0.0.1", up.port)},
                               {"prometheus": Metrics}) as srv:
                port, status = srv.ports["http"], srv.ports["status"]
                await request(port, path="/x")
                r = await request(status, path="/status")
                body = r.json()
                assert body["server"]["total_requests"] == 1
                assert body["database"] == {"reachable": True}
                assert body["configuration_hash"] == gw.config_hash[:32]
                m = await request(status, path="/metrics")
                assert (m.status, m.body) == (200, b"requests 1\n")
                health = (await request(status, path="/upstreams/pool/health")).json()
                assert health["data"][0]["health"] == "HEALTHY"
                put = await request(status, "PUT", "/upstreams/pool/targets/a:8080/unhealthy")
                assert put.status == 204
                assert (await request(port, path="/x")).status == 503
                assert (await request(status, path="/nope")).status == 404
        finally:
            await up.stop()
    run(main())
