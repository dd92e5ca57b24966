"""Client-side parsing as nginx does it (hostile-inputs.md §2; kong-behaviour.md §0 nginx errors)."""

from __future__ import annotations

import asyncio

import pytest

from harness.gateway.server import validate_host
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, read_reply, run

pytestmark = pytest.mark.security

KONG = """
_format_version: "3.0"
services:
  - name: svc
    host: echo
    port: 8080
    routes:
      - name: r
        hosts: ["*.app.example.com"]
        paths: [/]
"""


def exchange(tmp_path, raw: bytes):
    """Send raw bytes, return (reply, upstream requests seen, connection closed?)."""
    async def main():
        up = await Upstream().start()
        gw = gateway_from(tmp_path, KONG)
        try:
            async with gateway(gw, {("echo", 8080): ("127.0.0.1", up.port)}) as srv:
                r, w = await asyncio.open_connection("127.0.0.1", srv.ports["http"])
                w.write(raw)
                reply = await read_reply(r)
                closed = await asyncio.wait_for(r.read(), 2) == b""
                w.close()
                return reply, list(up.seen), closed
        finally:
            await up.stop()
    return run(main())


@pytest.mark.parametrize("raw", [
    b"POST / HTTP/1.1\r\nHost: a.app.example.com\r\nContent-Length: 30\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a.app.example.com\r\nContent-Length: 5\r\nContent-Length: 6"
    b"\r\n\r\nhello!",
    b"GET / HTTP/1.1\r\nHost: a.app.example.com\r\nX-Tenant-ID : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a.app.example.com\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a.app.example.com\r\nHost: b.app.example.com\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a..app.example.com\r\n\r\n",
], ids=["cl-te", "duplicate-cl", "space-before-colon", "obs-fold", "no-host", "two-hosts",
        "double-dot-host"])
def test_malformed_or_ambiguous_requests_get_400_and_close(tmp_path, raw):
    # hostile-inputs §2 rows CL.TE, duplicate CL, obs-fold, no Host, two Host lines
    reply, seen, closed = exchange(tmp_path, raw)
    assert reply.status == 400
    assert reply.body.startswith(b"Bad request\nrequest_id: ")
    assert seen == [] and closed


def test_unknown_transfer_coding_gets_501(tmp_path):
    # nginx: unknown "Transfer-Encoding" -> 501
    reply, seen, closed = exchange(tmp_path, b"POST / HTTP/1.1\r\nHost: a.app.example.com\r\n"
                                             b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")
    assert reply.status == 501 and seen == [] and closed


def test_oversized_header_gets_400_header_too_large(tmp_path):
    # §0 "494 is rewritten to 400" with message "Request header or cookie too large"
    raw = (b"GET / HTTP/1.1\r\nHost: a.app.example.com\r\nCookie: " + b"x" * 9000
           + b"\r\n\r\n")
    reply, seen, _ = exchange(tmp_path, raw)
    assert reply.status == 400
    assert reply.body.startswith(b"Request header or cookie too large\n")


def test_oversized_uri_gets_414(tmp_path):
    reply, _, _ = exchange(tmp_path, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.status == 414 and reply.body.startswith(b"URI too long\n")


def test_absolute_form_target_routes_by_its_own_authority(tmp_path):
    # RFC 9112 §3.2.2: Host is ignored for an absolute-form target (nginx $host)
    reply, seen, _ = exchange(tmp_path, b"GET http://b.app.example.com/x HTTP/1.1\r\n"
                                        b"Host: evil.org\r\nConnection: close\r\n\r\n")
    assert reply.status == 200
    assert seen[0].headers["x-forwarded-host"] == "b.app.example.com"
    assert seen[0].target == "/x"


@pytest.mark.parametrize(("raw", "want"), [
    ("A.App.Example.COM", "a.app.example.com"),
    ("a.app.example.com.", "a.app.example.com"),
    ("a.app.example.com:8443", "a.app.example.com"),
    ("a.app.example.com:abc", "a.app.example.com"),
    ("[::1]:80", "[::1]"),
    ("a/b", None),
    ("a..b", None),
    (".", None),
])
def test_host_validation_follows_nginx(raw, want):
    # hostile-inputs §2 rows "Host with a port", "Case variants", "Trailing dot"
    assert validate_host(raw) == want


def test_idle_and_stalled_client_connections_are_closed_but_busy_ones_are_not(tmp_path):
    # nginx keepalive_timeout / client_header_timeout (slowloris); shortened for the test
    async def main():
        up = await Upstream().start()
        gw = gateway_from(tmp_path, KONG)
        try:
            async with gateway(gw, {("echo", 8080): ("127.0.0.1", up.port)}) as srv:
                h = srv.handler
                h.stop_sweeper()
                h.keepalive_timeout = h.client_timeout = 0.3
                h.start_sweeper()
                port = srv.ports["http"]
                idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
                slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
                slow_w.write(b"GET / HTTP/1.1\r\nHost: a.app.example.com\r\nX-Slow")
                busy_r, busy_w = await asyncio.open_connection("127.0.0.1", port)
                busy_w.write(b"GET /sleep/900 HTTP/1.1\r\nHost: a.app.example.com\r\n\r\n")
                assert await asyncio.wait_for(idle_r.read(), 3) == b""
                assert await asyncio.wait_for(slow_r.read(), 3) == b""
                reply = await asyncio.wait_for(read_reply(busy_r), 5)
                assert reply.status == 200
                for w in (idle_w, slow_w, busy_w):
                    w.close()
        finally:
            await up.stop()
    run(main())
