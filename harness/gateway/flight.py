"""The proxied leg of one request: the upstream's response callbacks and retries.

A `Flight` is the `ExchangeSink` of harness.gateway.proxy: the response head
is filtered by the plugins and written to the client, the body streams
through, and failures before the head decide between a retry (connection
errors and timeouts of idempotent requests, §4) and an nginx error page.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.gateway.balancer import Balancer, TargetState
from harness.gateway.plugin_api import Ctx, Headers, Plugin, Request, Response
from harness.gateway.wire import clean, header_block, status_line

if TYPE_CHECKING:
    from harness.gateway.handler import Handler
    from harness.gateway.server import Exchange

__all__ = ["DROP_DOWN", "Flight", "NON_IDEMPOTENT"]

# Response headers that describe the upstream connection, not the message.
DROP_DOWN = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})
STALE_RETRIES = 3
_TAIL_LOWS = ["via", "x-kong-upstream-latency", "x-kong-proxy-latency", "x-kong-request-id"]


class Flight:
    """The proxied leg of one request: receives the upstream's response callbacks."""

    __slots__ = ("h", "ex", "req", "ctx", "collected", "bal", "target", "t_up",
                 "resp", "chunked_out", "no_body", "keep_out", "last_status", "prefix",
                 "body_bytes", "body_len", "spilled", "tries_left", "stale_left", "first",
                 "reused", "done")

    def __init__(self, h: Handler, ex: Exchange, req: Request, ctx: Ctx,
                 collected: list[Plugin], bal: Balancer) -> None:
        self.h = h
        self.ex = ex
        self.req = req
        self.ctx = ctx
        self.collected = collected
        self.bal = bal
        self.target: TargetState | None = None
        self.t_up = 0.0
        self.resp: Response | None = None
        self.chunked_out = False
        self.no_body = False
        self.keep_out = True
        self.last_status = 502
        self.prefix: str | None = None
        self.body_bytes: bytes | None = None
        self.body_len: int | None = None
        self.spilled = False
        self.tries_left = 0
        self.stale_left = STALE_RETRIES
        self.first = True
        self.reused = False
        self.done = False

    def up_headers(self, status: int, headers: list[tuple[str, str]], lows: list[str],
                   keep_alive: bool, chunked: bool) -> None:
        h, ctx, ex = self.h, self.ctx, self.ex
        now = time.monotonic()
        ctx.upstream_latency_ms = int((now - self.t_up) * 1000)
        ctx.upstream_status = status
        ctx.response_source = "service"
        if self.target is not None:
            self.bal.report_status(self.target, status)
        hdrs = Headers.from_parsed(headers, lows)
        if "connection" in lows:
            hdrs.remove("connection")
        if "keep-alive" in lows:
            hdrs.remove("keep-alive")
        if "transfer-encoding" in lows:
            hdrs.remove("transfer-encoding")
        if "proxy-connection" in lows:
            hdrs.remove("proxy-connection")
        resp = Response(status, hdrs, None, source="service")
        self.resp = resp
        if self.collected:
            try:
                h.chain.header_filter(self.collected, self.req, resp, ctx)
            except Exception:
                h.log_exception("header_filter failed")
        out = resp.headers
        olows = out._low
        method = self.req.method
        self.no_body = method == "HEAD" or status in (204, 304) or status < 200
        keep = ex.keep_alive and not ex.conn.closed
        if chunked and "content-length" in olows:
            out.remove("content-length")
        if not self.no_body and "content-length" not in olows:
            if ex.http_version == "1.1":
                self.chunked_out = True
                out.add("Transfer-Encoding", "chunked")
            else:
                keep = False
        self.keep_out = keep
        connection = "keep-alive" if keep else "close"
        date = None if "date" in olows else h.clock.date()
        server = None if "server" in olows else h.server_header
        via = f"1.1 {h.via}"
        if "via" in olows:
            via = clean(", ".join(out.get_all("via"))) + ", " + via
            out.remove("via")
        up_ms = str(ctx.upstream_latency_ms)
        proxy_ms = str(ctx.proxy_latency_ms or 0)
        rid = ctx.request_id
        # The tail's values are ours: no CR/LF check needed for them.
        data = (status_line(status) + header_block(out._items, olows, frozenset(), out.dirty)
                + f"Connection: {connection}\r\n"
                + (f"Date: {date}\r\n" if date is not None else "")
                + (f"Server: {server}\r\n" if server is not None else "")
                + f"Via: {via}\r\nX-Kong-Upstream-Latency: {up_ms}\r\n"
                f"X-Kong-Proxy-Latency: {proxy_ms}\r\nX-Kong-Request-Id: {rid}\r\n\r\n"
                ).encode("latin-1", "replace")
        if self.collected:
            # The log phase sees the headers as sent (ngx.resp.get_headers at log time).
            out.add("Connection", connection)
            if date is not None:
                out.add("Date", date)
            if server is not None:
                out.add("Server", server)
            out._items += [("Via", via), ("X-Kong-Upstream-Latency", up_ms),
                           ("X-Kong-Proxy-Latency", proxy_ms), ("X-Kong-Request-Id", rid)]
            out._low += _TAIL_LOWS
        ctx.bytes_out += len(data)
        ex.responded = True
        ex.conn.hold(data)   # sent by fed() or up_complete, with the body's first bytes

    def up_body(self, data: bytes) -> None:
        if self.no_body:
            return
        self.ctx.bytes_out += len(data)
        if self.chunked_out:
            self.ex.conn.hold(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.ex.conn.hold(data)

    def fed(self) -> None:
        """The upstream's bytes of one read were handled: send what they produced."""
        conn = self.ex.conn
        if conn._out:
            conn.flush()

    def up_complete(self) -> None:
        self.done = True
        conn = self.ex.conn
        conn.streaming = None
        if self.chunked_out:
            conn.hold(b"0\r\n\r\n")
        conn.flush()   # now, not a loop turn later
        resp = self.resp
        if resp is not None:
            self.h.chain.log(self.collected, self.req, resp, self.ctx)
        conn.finished(self.ex, self.keep_out)

    def up_failed(self, kind: str, got_bytes: bool) -> None:
        self.done = True
        h, ex, req, ctx, bal = self.h, self.ex, self.req, self.ctx, self.bal
        ex.conn.streaming = None
        if kind == "aborted" or ex.responded:
            # client gone, or the body broke off mid-stream: nothing more to send.
            ex.conn.close()
            h._log_after(self)
            return
        status = 504 if kind == "timeout" else 502
        self.last_status = status
        target = self.target
        assert target is not None
        idempotent = req.method not in NON_IDEMPOTENT
        if kind == "reset" and self.reused and not got_bytes and self.stale_left > 0 \
                and idempotent:
            # A pooled connection the upstream had closed: nginx retries
            # without counting the try.
            self.stale_left -= 1
            h.retry(self)
            return
        if kind != "invalid" and self.tries_left > 0 and idempotent:
            self.tries_left -= 1
            (bal.report_timeout if kind == "timeout" else bal.report_tcp_failure)(target)
            h.retry(self)
            return
        bal.report_status(target, status)
        h._nginx_error(ex, req, ctx, status, self.collected, proxied=True)
