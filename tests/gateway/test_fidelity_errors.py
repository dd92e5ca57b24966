"""Kong's own error answers over real sockets: kong-behaviour.md §0, §1.2 and §4 rows
that tests/gateway/test_handler.py and test_balancer.py do not already check."""

from __future__ import annotations

from typing import Any

import pytest

from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.gateway.plugins import PluginCrash
from harness.stack.ports import free_port
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, request, run

pytestmark = pytest.mark.routing

KONG = """
_format_version: "3.0"
upstreams:
  - name: pair
    targets:
      - target: a:8080
      - target: b:8080
    healthchecks:
      passive:
        unhealthy: {http_failures: 1}
services:
  - name: svc
    host: pair
    port: 8080
    retries: 1
    read_timeout: 300
    routes:
      - name: crash
        hosts: ["*.app.example.com"]
        paths: [/crash]
        plugins:
          - name: request-transformer
            config: {}
          - name: response-transformer
            config: {}
      - name: get-only
        hosts: [get-only.example.com]
        paths: [/get-only]
        methods: [GET]
      - name: plain
        hosts: ["*.app.example.com"]
        paths: [/]
"""

LOGGED: list[int] = []


class Crashes(Plugin):
    """A plugin whose access raises (a Lua `error()` in Kong)."""
    name = "request-transformer"
    priority = 801

    async def access(self, req: Request, ctx: Ctx) -> None:
        raise PluginCrash("boom")


class Observes(Plugin):
    """A lower-priority plugin: collected after the crash, its access never runs."""
    name = "response-transformer"
    priority = 800

    async def access(self, req: Request, ctx: Ctx) -> None:
        raise AssertionError("access must not run after an earlier plugin failed")

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        resp.headers.set("X-Observed", "yes")

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        LOGGED.append(resp.status)


REGISTRY: dict[str, type[Plugin]] = {"request-transformer": Crashes,
                                     "response-transformer": Observes}


def scenario(tmp_path, body, *, b_live: bool = True):
    async def main() -> Any:
        a = await Upstream(name="a").start()
        b = await Upstream(name="b").start() if b_live else None
        resolve = {("a", 8080): ("127.0.0.1", a.port),
                   ("b", 8080): ("127.0.0.1", b.port if b else free_port())}
        try:
            async with gateway(gateway_from(tmp_path, KONG), resolve, REGISTRY) as srv:
                return await body(srv.ports["http"], a, b)
        finally:
            await a.stop()
            if b:
                await b.stop()
    return run(main())


def json_error(message: str, rid: str) -> bytes:
    return f'{{\n  "message":"{message}",\n  "request_id":"{rid}"\n}}'.encode()


def test_plugin_error_in_access_is_kong_response_error_500_json_by_default(tmp_path):
    # kong-behaviour.md §0 "Lua exception in a plugin" row: Kong 3.x flushes it as a delayed
    # kong.response.error(500) (init.lua flush_delayed_response): JSON template by default,
    # the remaining plugins are still collected (header_filter, log)
    LOGGED.clear()

    async def body(port, a, b):
        r = await request(port, path="/crash/x")
        assert r.status == 500
        rid = r.header("X-Kong-Request-Id")
        assert r.body == json_error("An unexpected error occurred", rid)
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        assert r.header("Server") == "kong/3.9.1"
        assert r.header("X-Kong-Response-Latency") is not None
        assert r.header("X-Observed") == "yes"
        r2 = await request(port, path="/crash/x", headers={"Accept": "text/plain"})
        assert r2.body == (b"An unexpected error occurred\nrequest_id: "
                           + r2.header("X-Kong-Request-Id").encode() + b"\n")
        assert a.seen == [] and b.seen == []
        assert LOGGED == [500, 500]
    scenario(tmp_path, body)


def test_method_and_path_mismatch_give_the_same_404_as_an_unknown_host(tmp_path):
    # kong-behaviour.md §1.2: "Method mismatch, host mismatch, path mismatch all yield the
    # same 404 (no 405)"
    async def body(port, a, b):
        assert (await request(port, "GET", "/get-only", host="get-only.example.com")).status \
            == 200
        for method, path, host in [("POST", "/get-only", "get-only.example.com"),
                                   ("GET", "/other", "get-only.example.com"),
                                   ("GET", "/get-only", "acme.example.org")]:
            r = await request(port, method, path, host=host)
            assert r.status == 404
            assert r.body == json_error("no Route matched with those values",
                                        r.header("X-Kong-Request-Id"))
            assert r.header("Allow") is None
    scenario(tmp_path, body)


def test_no_route_404_renders_html_and_xml_templates_by_accept(tmp_path):
    # kong-behaviour.md §1.2 [Δ 3.3] no-route 404 is kong.response.error (Accept-aware);
    # §0 "Other templates" row
    async def body(port, a, b):
        r = await request(port, path="/x", host="nobody.example.org",
                          headers={"Accept": "text/html"})
        rid = r.header("X-Kong-Request-Id")
        assert r.header("Content-Type") == "text/html; charset=utf-8"
        assert b"<p>no Route matched with those values.</p>" in r.body
        assert f"<p>request_id: {rid}</p>".encode() in r.body
        r = await request(port, path="/x", host="nobody.example.org",
                          headers={"Accept": "application/xml"})
        assert r.header("Content-Type") == "application/xml; charset=utf-8"
        assert b"<message>no Route matched with those values</message>" in r.body
    scenario(tmp_path, body)


def test_ring_balancer_503_is_json_with_the_response_request_id(tmp_path):
    # kong-behaviour.md §4 "no healthy target" row: 503 via kong.response.error (JSON+request_id)
    async def body(port, a, b):
        for _ in range(2):   # one 500 from each target: passive http_failures=1 ejects both
            assert (await request(port, path="/status/500")).status == 500
        r = await request(port, path="/x", headers={"Accept": "*/*"})
        assert r.status == 503
        assert r.body == json_error("failure to get a peer from the ring-balancer",
                                    r.header("X-Kong-Request-Id"))
        assert r.header("Server") == "kong/3.9.1"
        # the balancer failed inside access (before KONG_PROXIED): Kong-generated headers
        assert r.header("X-Kong-Response-Latency") is not None and r.header("Via") is None
        assert len(a.seen) + len(b.seen) == 2
    scenario(tmp_path, body)


def test_upstream_closing_without_an_answer_is_retried_then_502(tmp_path):
    # kong-behaviour.md §4 "connection refused/reset after all tries" row: 502 nginx page;
    # a GET is tried 1 + retries times
    async def body(port, a, b):
        r = await request(port, path="/close")
        assert r.status == 502
        assert r.body.startswith(b"An invalid response was received from the upstream server\n")
        assert len(a.seen) + len(b.seen) == 2
    scenario(tmp_path, body)


def test_refused_connection_retries_a_post_because_nothing_was_sent(tmp_path):
    # kong-behaviour.md §4 "Retries" row: proxy_next_upstream error covers connect failures for
    # every method; only a POST the upstream received is never re-sent
    async def body(port, a, b):
        statuses = [(await request(port, "POST", f"/p{i}", body=b"x")).status for i in range(4)]
        assert statuses == [200] * 4
        assert len(a.seen) == 4
    scenario(tmp_path, body, b_live=False)


def test_nginx_error_page_prefers_accept_over_the_request_content_type(tmp_path):
    # kong-behaviour.md §0 "nginx-generated errors" row: Accept, else Content-Type, else
    # text/plain
    async def body(port, a, b):
        r = await request(port, path="/sleep/1000", headers={
            "Accept": "text/html", "Content-Type": "application/json"})
        assert r.status == 504
        assert r.header("Content-Type") == "text/html; charset=utf-8"
        assert b"<p>The upstream server is timing out.</p>" in r.body
        # §1.7: proxied header set on an error page after proxying (KONG_PROXIED)
        assert r.header("Via") == "1.1 kong/3.9.1" and r.header("X-Kong-Response-Latency") is None
        assert int(r.header("X-Kong-Upstream-Latency")) >= 250   # two tries of 300 ms
        r = await request(port, path="/sleep/1000", headers={"Content-Type": "application/xml"})
        assert r.header("Content-Type") == "application/xml; charset=utf-8"
    scenario(tmp_path, body)
