"""Headers Kong adds both ways, over real sockets: kong-behaviour.md §1.6 and §1.7 rows that
tests/gateway/test_handler.py does not already check."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.gateway.dataplane_support import gateway_from, read_reply, request, with_upstream

pytestmark = pytest.mark.routing

KONG = """
_format_version: "3.0"
services:
  - name: svc
    host: echo
    port: 8080
    routes:
      - name: stripped
        paths: [/strip]
      - name: kept
        paths: [/keep]
        strip_path: false
      - name: regex
        paths: ["~/r/(?<id>[0-9]+)"]
      - name: root
        paths: [/]
  - name: tls-port
    host: echo
    port: 80
    routes:
      - name: port80
        paths: [/port80]
"""


def scenario(tmp_path, body):
    return with_upstream(gateway_from(tmp_path, KONG), body,
                         hosts=(("echo", 8080), ("echo", 80)))


def test_forwarded_prefix_only_when_strip_path_stripped_a_prefix_other_than_slash(tmp_path):
    # kong-behaviour.md §1.6 X-Forwarded-Prefix row (and §1.5: a regex route's prefix is the
    # text the regex matched)
    async def body(port, up):
        await request(port, path="/strip/a")
        assert up.seen[-1].headers["x-forwarded-prefix"] == "/strip"
        await request(port, path="/keep/a")
        assert "x-forwarded-prefix" not in up.seen[-1].headers
        assert up.seen[-1].target == "/keep/a"
        await request(port, path="/r/42/tail")
        assert up.seen[-1].headers["x-forwarded-prefix"] == "/r/42"
        assert up.seen[-1].target == "/tail"
        await request(port, path="/other")   # route "/": the stripped prefix is "/"
        assert "x-forwarded-prefix" not in up.seen[-1].headers
        assert up.seen[-1].target == "/other"
    scenario(tmp_path, body)


def test_untrusted_client_forwarded_values_are_replaced_by_kongs_own(tmp_path):
    # kong-behaviour.md §1.6 rows X-Forwarded-Host/-Port/-Path/-Prefix, X-Real-IP: trusted_ips
    # is empty by default, so every client value is replaced
    async def body(port, up):
        await request(port, path="/strip/a?q=1", host="ACME.App.Example.com:8443", headers={
            "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "1",
            "X-Forwarded-Path": "/evil", "X-Forwarded-Prefix": "/evil",
            "X-Real-IP": "6.6.6.6"})
        h = up.seen[-1].headers
        assert h["x-forwarded-host"] == "acme.app.example.com"   # nginx $host
        assert h["x-forwarded-port"] == str(port)
        assert h["x-forwarded-path"] == "/strip/a"
        assert h["x-forwarded-prefix"] == "/strip"
        assert h["x-real-ip"] == "127.0.0.1"
        await request(port, path="/keep/a", headers={"X-Forwarded-Prefix": "/evil"})
        assert "x-forwarded-prefix" not in up.seen[-1].headers
    scenario(tmp_path, body)


def test_every_client_forwarded_for_line_is_kept_before_the_client_address(tmp_path):
    # kong-behaviour.md §1.6 X-Forwarded-For row: client XFF (even untrusted) + ", " + address
    async def body(port, up):
        await request(port, path="/strip/a", headers=[("X-Forwarded-For", "10.0.0.1"),
                                                       ("X-Forwarded-For", "10.0.0.2")])
        assert up.seen[-1].headers["x-forwarded-for"] == "10.0.0.1, 10.0.0.2, 127.0.0.1"
        await request(port, path="/strip/a")
        assert up.seen[-1].headers["x-forwarded-for"] == "127.0.0.1"
    scenario(tmp_path, body)


def test_via_to_the_upstream_carries_the_client_http_version(tmp_path):
    # kong-behaviour.md §1.6 Via row [Δ 3.8]: "<client HTTP version> kong/<ver>"
    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /strip/v HTTP/1.0\r\nHost: acme.app.example.com\r\n\r\n")
        reply = await read_reply(r)
        w.close()
        assert reply.status == 200
        assert up.seen[-1].headers["via"] == "1.0 kong/3.9.1"
        assert up.seen[-1].headers["connection"] == "keep-alive"
    scenario(tmp_path, body)


def test_host_to_the_upstream_omits_port_80(tmp_path):
    # kong-behaviour.md §1.5 Host rule: ":port" appended unless 80 for http
    async def body(port, up):
        await request(port, path="/port80/x")
        assert up.seen[-1].headers["host"] == "echo"
        await request(port, path="/strip/x")
        assert up.seen[-1].headers["host"] == "echo:8080"
    scenario(tmp_path, body)


def test_client_request_id_is_replaced_by_a_lower_hex_id_shared_with_the_response(tmp_path):
    # kong-behaviour.md §1.6 X-Kong-Request-Id row and §1.7 "Proxied" X-Kong-Request-Id
    async def body(port, up):
        r = await request(port, path="/strip/x", headers={"X-Kong-Request-Id": "ABC-spoof"})
        sent = up.seen[-1].headers["x-kong-request-id"]
        assert re.fullmatch(r"[0-9a-f]+", sent)
        assert r.header("X-Kong-Request-Id") == sent
        r2 = await request(port, path="/strip/x")
        assert r2.header("X-Kong-Request-Id") != sent
    scenario(tmp_path, body)


def test_optional_and_debug_headers_are_off_by_default(tmp_path):
    # kong-behaviour.md §1.7 rows "Optional" (X-Kong-Upstream-Status not in the default
    # `headers`) and "Debug" (allow_debug_header defaults to off: Kong-Debug is ignored)
    async def body(port, up):
        r = await request(port, path="/strip/x", headers={"Kong-Debug": "1"})
        assert r.status == 200
        names = {k.lower() for k, _ in r.headers}
        assert "x-kong-upstream-status" not in names
        assert not names & {"kong-route-id", "kong-route-name", "kong-service-id",
                            "kong-service-name"}
        assert up.seen[-1].headers["kong-debug"] == "1"   # forwarded like any header
    scenario(tmp_path, body)


def test_error_page_after_proxying_carries_the_proxied_header_set(tmp_path):
    # kong-behaviour.md §1.7 rows "Proxied" vs "Kong-generated": Kong sets ctx.KONG_PROXIED
    # once access is over ("we intent to proxy, though balancer may fail on that", init.lua)
    # and Kong.handle_error keeps that ctx, so a 502/504 nginx page gets the latencies and
    # Via of a proxied answer, not X-Kong-Response-Latency
    async def body(port, up):
        await up.stop()
        r = await request(port, path="/strip/x")
        assert r.status == 502
        names = {k.lower() for k, _ in r.headers}
        assert r.header("X-Kong-Upstream-Latency").isdigit()
        assert r.header("X-Kong-Proxy-Latency").isdigit()
        assert r.header("Via") == "1.1 kong/3.9.1"
        assert r.header("Server") == "kong/3.9.1"   # nginx's page has none: Kong sets it
        assert "x-kong-response-latency" not in names
        assert r.body.endswith(f"request_id: {r.header('X-Kong-Request-Id')}\n".encode())
    scenario(tmp_path, body)
