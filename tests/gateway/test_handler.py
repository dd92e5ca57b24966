"""End to end over real sockets: routing, Kong's headers, errors, bodies (§0, §1.2-§1.7, §8)."""

from __future__ import annotations

import asyncio
import re

import pytest

from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request, Response
from tests.gateway.dataplane_support import gateway_from, read_reply, request, with_upstream

pytestmark = pytest.mark.routing

KONG = """
_format_version: "3.0"
upstreams:
  - name: echo-upstream
    targets:
      - target: echo-1:8080
services:
  - name: echo
    host: echo-upstream
    port: 8080
    path: /svc
    retries: 2
    read_timeout: 400
    routes:
      - name: echo
        hosts: ["*.app.example.com"]
        paths: [/echo]
      - name: secure
        hosts: ["*.app.example.com"]
        paths: [/secure]
        protocols: [https]
      - name: redir
        hosts: ["*.app.example.com"]
        paths: [/redir]
        protocols: [https]
        https_redirect_status_code: 308
      - name: keep
        hosts: ["*.app.example.com"]
        paths: [/keep]
        strip_path: false
        preserve_host: true
        plugins:
          - name: request-transformer
            config: {}
      - name: exit
        hosts: ["*.app.example.com"]
        paths: [/exit]
        plugins:
          - name: request-size-limiting
            config: {}
          - name: response-transformer
            config: {}
"""


class SetsTenantHeader(Plugin):
    name = "request-transformer"
    priority = 801

    async def access(self, req: Request, ctx: Ctx) -> None:
        req.headers.set("X-Tenant-ID", "from-plugin")


class Refuses(Plugin):
    name = "request-size-limiting"
    priority = 951

    async def access(self, req: Request, ctx: Ctx) -> None:
        raise Exit.json(413, {"message": "Request size limit exceeded"})


LOGGED: list[tuple[str, int]] = []


class Observes(Plugin):
    name = "response-transformer"
    priority = 800

    async def access(self, req: Request, ctx: Ctx) -> None:
        raise AssertionError("access must not run after an earlier plugin's Exit")

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        resp.headers.set("X-Observed", "yes")

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        LOGGED.append((resp.source, resp.status))


REGISTRY: dict[str, type[Plugin]] = {"request-transformer": SetsTenantHeader,
                                     "request-size-limiting": Refuses,
                                     "response-transformer": Observes}


def scenario(tmp_path, body):
    return with_upstream(gateway_from(tmp_path, KONG), body, hosts=(("echo-1", 8080),),
                         registry=REGISTRY)


def test_proxied_request_carries_kong_upstream_headers(tmp_path):
    # §1.6 rows X-Forwarded-*, X-Real-IP, X-Kong-Request-Id, Via; §1.5 Host rule
    async def body(port, up):
        r = await request(port, path="/echo/a?q=1", headers={
            "X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "ftp", "Via": "1.0 client",
            "X-Kong-Request-Id": "spoofed"})
        assert r.status == 200
        seen = up.seen[-1]
        assert seen.target == "/svc/a?q=1"
        h = seen.headers
        assert h["host"] == "echo-1:8080"
        assert h["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
        assert h["x-forwarded-proto"] == "http"
        assert h["x-forwarded-host"] == "acme.app.example.com"
        assert h["x-forwarded-port"] == str(port)
        assert h["x-forwarded-path"] == "/echo/a"
        assert h["x-forwarded-prefix"] == "/echo"
        assert h["x-real-ip"] == "127.0.0.1"
        assert re.fullmatch(r"[0-9a-f]{32}", h["x-kong-request-id"])
        assert h["via"] == "1.0 client, 1.1 kong/3.9.1"
        assert h["connection"] == "keep-alive"
        assert r.header("X-Kong-Request-Id") == h["x-kong-request-id"]
    scenario(tmp_path, body)


def test_proxied_response_gets_latency_via_and_server_headers(tmp_path):
    # §1.7 row "Proxied"
    async def body(port, up):
        r = await request(port, path="/echo/x")
        assert r.header("Via") == "1.1 kong/3.9.1"
        assert r.header("Server") == "kong/3.9.1"
        assert r.header("X-Kong-Upstream-Latency", ).isdigit()
        assert r.header("X-Kong-Proxy-Latency").isdigit()
        assert r.header("X-Kong-Response-Latency") is None
        r2 = await request(port, path="/echo/via")   # upstream path /svc/via
        assert r2.header("Server") == "echo"
        assert r2.header("Via") == "1.1 upstream-proxy, 1.1 kong/3.9.1"
    scenario(tmp_path, body)


def test_unknown_host_gets_kong_404_with_request_id(tmp_path):
    # §1.2 no match, §0 JSON template, §1.7 row "Kong-generated"
    async def body(port, up):
        r = await request(port, path="/echo", host="evil.org")
        assert r.status == 404
        rid = r.header("X-Kong-Request-Id")
        assert r.body == (b'{\n  "message":"no Route matched with those values",\n'
                          b'  "request_id":"' + rid.encode() + b'"\n}')
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        assert r.header("Server") == "kong/3.9.1"
        assert r.header("X-Kong-Response-Latency").isdigit()
        r2 = await request(port, path="/nope", headers={"Accept": "text/plain"})
        assert r2.body == f"no Route matched with those values\nrequest_id: " \
                          f"{r2.header('X-Kong-Request-Id')}\n".encode()
        assert up.seen == []
    scenario(tmp_path, body)


def test_https_only_route_over_http_answers_426_or_configured_redirect(tmp_path):
    # §1.3 row "protocols"
    async def body(port, up):
        r = await request(port, path="/secure/x")
        assert r.status == 426
        assert r.header("Connection") == "Upgrade"
        assert r.header("Upgrade") == "TLS/1.2, HTTP/1.1"
        # Kong uses kong.response.exit here: compact JSON without request_id.
        assert r.body == b'{"message":"Please use HTTPS protocol"}'
        r2 = await request(port, path="/redir/a?b=1", host="acme.app.example.com:9999")
        assert r2.status == 308
        assert r2.header("Location") == "https://acme.app.example.com/redir/a?b=1"
        assert up.seen == []
    scenario(tmp_path, body)


def test_headers_named_in_connection_are_removed_after_plugins_ran(tmp_path):
    # §1.6 row "Connection": hop-by-hop removal in access.after, after plugins set headers
    async def body(port, up):
        r = await request(port, path="/keep/x", headers={
            "Connection": "keep-alive, X-Tenant-ID, X-Drop", "X-Drop": "1",
            "X-Stay": "1", "Proxy-Connection": "x", "Keep-Alive": "timeout=5"})
        assert r.status == 200
        h = up.seen[-1].headers
        assert "x-tenant-id" not in h and "x-drop" not in h
        assert "proxy-connection" not in h and "keep-alive" not in h
        assert h["x-stay"] == "1"
    scenario(tmp_path, body)


def test_preserve_host_sends_the_client_host_with_port(tmp_path):
    # §1.5 preserve_host=true
    async def body(port, up):
        await request(port, path="/keep/x", host="acme.app.example.com:1234")
        assert up.seen[-1].headers["host"] == "acme.app.example.com:1234"
        assert up.seen[-1].target == "/svc/keep/x"
    scenario(tmp_path, body)


def test_plugin_exit_is_compact_json_and_later_plugins_still_filter_and_log(tmp_path):
    # §0 row "kong.response.exit"; §8 delay_response: remaining plugins are collected
    LOGGED.clear()

    async def body(port, up):
        r = await request(port, path="/exit")
        assert r.status == 413
        assert r.body == b'{"message":"Request size limit exceeded"}'
        assert r.header("X-Observed") == "yes"
        assert r.header("X-Kong-Response-Latency") is not None
        assert up.seen == []
        assert LOGGED == [("kong", 413)]
    scenario(tmp_path, body)


def test_chunked_request_is_buffered_and_sent_with_content_length(tmp_path):
    # issue 5 "chunked encoding both ways"; Kong buffers request bodies
    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /echo/c HTTP/1.1\r\nHost: a.app.example.com\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
        reply = await read_reply(r)
        w.close()
        assert reply.status == 200
        assert reply.json()["body_size"] == 8
        assert up.seen[-1].headers["content-length"] == "8"
        assert "transfer-encoding" not in up.seen[-1].headers
    scenario(tmp_path, body)


def test_chunked_upstream_response_is_rechunked_to_the_client(tmp_path):
    # issue 5 "chunked encoding both ways"
    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /echo/chunked HTTP/1.1\r\nHost: a.app.example.com\r\n\r\n")
        raw = b""
        while not raw.endswith(b"0\r\n\r\n"):
            data = await r.read(65536)
            assert data, raw
            raw += data
        w.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        assert payload == b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    scenario(tmp_path, body)


def test_large_request_body_is_spilled_and_proxied_intact(tmp_path):
    # issue 5 "a large body is not held whole in memory": > BODY_MEMORY goes to a temp file
    async def body(port, up):
        payload = b"z" * (3 * 1024 * 1024 + 7)
        r = await request(port, "PUT", "/echo/up", body=payload)
        assert r.status == 200
        assert r.json()["body_size"] == len(payload)
    scenario(tmp_path, body)


def test_large_response_streams_to_the_client(tmp_path):
    async def body(port, up):
        r = await request(port, path="/echo/big/5000000")
        assert r.status == 200
        assert len(r.body) == 5000000
        assert r.header("Content-Length") == "5000000"
    scenario(tmp_path, body)


def test_pipelined_requests_are_answered_in_order(tmp_path):
    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /echo/one HTTP/1.1\r\nHost: a.app.example.com\r\n\r\n"
                b"GET /echo/two HTTP/1.1\r\nHost: a.app.example.com\r\n\r\n")
        first = await read_reply(r)
        second = await read_reply(r)
        w.close()
        assert first.json()["target"] == "/svc/one"
        assert second.json()["target"] == "/svc/two"
    scenario(tmp_path, body)


def test_head_response_has_headers_and_no_body(tmp_path):
    async def body(port, up):
        r = await request(port, "HEAD", "/echo/h")
        assert r.status == 200 and r.body == b""
        r2 = await request(port, "GET", "/echo/after-head")
        assert r2.status == 200
    scenario(tmp_path, body)


def test_bare_question_mark_is_kept_and_query_passed_verbatim(tmp_path):
    # §1.5 "a bare trailing ? is preserved"; the query is not decoded
    async def body(port, up):
        await request(port, path="/echo/a?")
        assert up.seen[-1].target == "/svc/a?"
        await request(port, path="/echo/a?x=%2F&y")
        assert up.seen[-1].target == "/svc/a?x=%2F&y"
    scenario(tmp_path, body)


def test_path_is_normalised_before_routing_and_sent_normalised(tmp_path):
    # §1.3 row "request path": dot segments and %-escapes of unreserved chars
    async def body(port, up):
        r = await request(port, path="/exit/../%65cho//b/./c")
        assert r.status == 200
        assert up.seen[-1].target == "/svc/b/c"
        assert up.seen[-1].headers["x-forwarded-path"] == "/exit/../%65cho//b/./c"
    scenario(tmp_path, body)
