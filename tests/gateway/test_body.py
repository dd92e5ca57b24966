"""Request bodies: buffering, 100-continue, plugins reading the body, early answers."""

from __future__ import annotations

import asyncio

from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request
from tests.gateway.dataplane_support import gateway_from, read_reply, request, with_upstream

KONG = """
_format_version: "3.0"
services:
  - name: svc
    host: echo
    port: 8080
    routes:
      - name: r
        paths: [/]
        plugins:
          - name: request-size-limiting
            config: {}
"""

SIZES: list[int] = []


class Limit10(Plugin):
    """Reads the body like request-size-limiting does for chunked requests."""
    name = "request-size-limiting"
    priority = 951

    async def access(self, req: Request, ctx: Ctx) -> None:
        if req.headers.get("X-Read") == "size":
            SIZES.append(await req.body_size())
        elif req.headers.get("X-Read") == "body":
            body = await req.read_body()
            if len(body) > 10:
                raise Exit.error(413, "Request size limit exceeded")


def scenario(tmp_path, body):
    return with_upstream(gateway_from(tmp_path, KONG), body,
                         registry={"request-size-limiting": Limit10})


def test_plugin_reading_the_body_sees_all_of_it_and_upstream_gets_it_too(tmp_path):
    async def body(port, up):
        r = await request(port, "POST", "/x", headers={"X-Read": "body"}, body=b"0123456789")
        assert r.status == 200 and up.seen[-1].body == b"0123456789"
        r = await request(port, "POST", "/x", headers={"X-Read": "body"}, body=b"x" * 11)
        assert r.status == 413 and b"Request size limit exceeded" in r.body
        assert len(up.seen) == 1
    scenario(tmp_path, body)


def test_expect_100_continue_is_answered_when_the_body_is_needed(tmp_path):
    SIZES.clear()

    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"PUT /x HTTP/1.1\r\nHost: h\r\nX-Read: size\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        w.write(b"hello")
        reply = await read_reply(r)
        w.close()
        assert reply.status == 200 and SIZES == [5]
        assert "expect" not in up.seen[-1].headers   # the body is buffered: no Expect upstream
    scenario(tmp_path, body)


def test_early_answer_keeps_the_connection_usable(tmp_path):
    # the rest of a refused body is read and discarded; the next request works
    async def body(port, up):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /x HTTP/1.1\r\nHost: h\r\nX-Read: body\r\nContent-Length: 20\r\n\r\n"
                + b"y" * 20 + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        first = await read_reply(r)
        second = await read_reply(r)
        w.close()
        assert (first.status, second.status) == (413, 200)
        assert up.seen[-1].target == "/next"
    scenario(tmp_path, body)
