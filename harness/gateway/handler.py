"""The request pipeline: route, plugins, balancer, proxy, Kong's headers (§1, §4, §8).

Order per request (Kong's runloop): router -> protocol check (426/redirect)
-> plugins' access (priority order, consumer-aware lookup) -> hop-by-hop
removal of headers named in Connection (access.after, AFTER the plugins) ->
balancer + proxy with retries -> header_filter -> body -> log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

from harness.gateway.balancer import Balancer, TargetState
from harness.gateway.chain import Chain
from harness.gateway.errors import render_error, response_type, status_message
from harness.gateway.plugin_api import Ctx, Exit, Headers, Plugin, Request, Response
from harness.gateway.proxy import ConnectFailed, Pool, UpstreamConn
from harness.gateway.router import Router
from harness.gateway.runtime import Runtime
from harness.gateway.upstream_uri import normalize, upstream_path

if TYPE_CHECKING:
    from harness.gateway.server import ClientConn, Exchange

__all__ = ["Handler"]

log = logging.getLogger("harness.gateway")

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_REASONS[494] = "Request Header Or Cookie Too Large"
# Request headers nginx's proxy module never forwards (it sets its own or none).
_DROP_UP = frozenset({"host", "connection", "keep-alive", "te", "upgrade", "expect",
                      "content-length", "transfer-encoding", "proxy", "proxy-connection",
                      "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                      "x-forwarded-path", "x-forwarded-prefix", "x-forwarded-for",
                      "x-real-ip", "x-kong-request-id", "via"})
# Response headers that describe the upstream connection, not the message.
_DROP_DOWN = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})
_NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})
_STALE_RETRIES = 3


class _Clock:
    """The Date header, formatted once per second."""

    def __init__(self) -> None:
        self._sec = 0
        self._text = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._text = formatdate(now, usegmt=True)
        return self._text


def _clean(value: str) -> str:
    # A header value may not carry CR/LF (response splitting).
    return value.replace("\r", "").replace("\n", "") if ("\r" in value or "\n" in value) \
        else value


def _head(status: int, headers: Headers) -> bytes:
    parts = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"]
    for k, v in headers:
        parts.append(f"{k}: {_clean(v)}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1", "replace")


class Handler:
    def __init__(self, runtime: Runtime, chain: Chain, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime = runtime
        self.gateway = runtime.gateway
        self.chain = chain
        self.loop = loop
        self.router = Router(runtime.gateway.routes)
        self.pool = Pool(loop)
        self.clock = _Clock()
        self.server_header = runtime.server_header
        self.via = f"kong/{runtime.version}"
        self._no_route_plugins: list[Plugin] = sorted(
            self.chain.no_route.tables[None].values(), key=lambda p: -p.priority)

    # -- entry points ------------------------------------------------------
    async def handle(self, ex: Exchange) -> None:
        try:
            await self._handle(ex)
        except Exception:
            log.exception("request failed: %s %r", ex.method, ex.url)
            if not ex.responded and not ex.conn.closed:
                self._nginx_error(ex, None, None, 500, [])
            else:
                ex.conn.close()

    def reject_unparsed(self, conn: ClientConn, status: int) -> None:
        """A request nginx refuses at parse time (400, 414, 494->400): answer and close."""
        ctx_id = os.urandom(16).hex()
        msg = status_message(status)
        status = 400 if status == 494 else status
        body = render_error(msg, ctx_id, "text/plain; charset=utf-8")
        hdrs = Headers([("Date", self.clock.date()), ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(body))), ("Connection", "close"),
                        ("Server", self.server_header), ("X-Kong-Request-Id", ctx_id)])
        conn.write(_head(status, hdrs) + body)
        conn.close()

    # -- pipeline -----------------------------------------------------------
    async def _handle(self, ex: Exchange) -> None:
        conn = ex.conn
        url = ex.url.decode("latin-1")
        raw_path, qmark, query = url.partition("?")
        if raw_path and not raw_path.startswith("/"):
            # absolute-form request target: the host (ex.host) came from it
            scheme_sep = raw_path.find("://")
            if scheme_sep > 0:
                rest = raw_path[scheme_sep + 3:]
                slash = rest.find("/")
                raw_path = "/" if slash < 0 else rest[slash:]
        host = ex.host
        path = normalize(raw_path or "/")
        req = Request(method=ex.method, scheme=conn.scheme, host=host, port=conn.port,
                      path=path, raw_path=raw_path, query=query, headers=Headers(ex.headers),
                      client_ip=conn.client_ip, http_version=ex.http_version,
                      body_source=ex.body_source())
        ctx = Ctx(gateway=self.gateway, request_id=os.urandom(16).hex())
        ctx.shared["request_uri"] = url
        ctx.shared["has_query"] = bool(qmark)
        if ex.body is not None:
            ctx.bytes_in = ex.header_bytes
        m = self.router.match(ex.method, host, conn.port, path)
        if m is None:
            await self._kong_exit(ex, req, ctx, self._no_route_plugins,
                                  Exit.error(404, "no Route matched with those values"))
            return
        view = m.view
        route = view.route
        ctx.route = view
        ctx.uri_captures = m.captures
        if conn.scheme not in route.protocols:
            code = route.https_redirect_status_code
            if code == 426:
                exit_ = Exit.error(426, "Please use HTTPS protocol",
                                   [("Connection", "Upgrade"), ("Upgrade", "TLS/1.2, HTTP/1.1")])
            else:
                exit_ = Exit(code, b"", [("Location", f"https://{host}{url}")])
            await self._kong_exit(ex, req, ctx, self._no_route_plugins, exit_)
            return
        req.upstream_path = upstream_path(route.strip_path, m.prefix, path, view.service.path)
        prefix = m.prefix if route.strip_path and m.prefix not in ("", "/") else None
        rp = self.chain.by_route[view.name]
        collected, refused = await self.chain.access(rp, req, ctx)
        if refused is not None:
            await self._kong_exit(ex, req, ctx, collected, refused)
            return
        await self._proxy(ex, req, ctx, collected, prefix)

    # -- Kong-generated responses --------------------------------------------
    async def _kong_exit(self, ex: Exchange, req: Request, ctx: Ctx, collected: list[Plugin],
                         exit_: Exit) -> None:
        hdrs = exit_.headers
        body = exit_.body
        if exit_.error_message is not None:
            mime = response_type(req.headers.get("accept"))
            body = render_error(exit_.error_message, ctx.request_id, mime)
            hdrs.set("Content-Type", mime)
        self._send_generated(ex, req, ctx, collected, exit_.status, hdrs, body)

    def _nginx_error(self, ex: Exchange, req: Request | None, ctx: Ctx | None, status: int,
                     collected: list[Plugin]) -> None:
        """An nginx error page via /kong_error_handler (502/503/504/500)."""
        accept = None
        if req is not None:
            accept = req.headers.get("accept") or req.headers.get("content-type")
        else:
            for k, v in ex.headers:
                if k.lower() == "accept":
                    accept = v
        mime = response_type(accept or "text/plain")
        request_id = ctx.request_id if ctx is not None else os.urandom(16).hex()
        body = render_error(status_message(status), request_id, mime)
        hdrs = Headers([("Content-Type", mime)])
        if req is None or ctx is None:
            ctx = Ctx(gateway=self.gateway, request_id=request_id)
            req = Request(ex.method, ex.conn.scheme, "", ex.conn.port, "/", "/", "",
                          Headers(ex.headers), ex.conn.client_ip)
        self._send_generated(ex, req, ctx, collected, status, hdrs, body)

    def _send_generated(self, ex: Exchange, req: Request, ctx: Ctx, collected: list[Plugin],
                        status: int, hdrs: Headers, body: bytes) -> None:
        ctx.response_source = "kong"
        resp = Response(status, hdrs, body, source="kong")
        try:
            self.chain.header_filter(collected, req, resp, ctx)
        except Exception:
            log.exception("header_filter failed")
        out = resp.headers
        body = resp.body if resp.body is not None else b""
        latency = int((time.monotonic() - ex.started_mono) * 1000)
        keep = ex.keep_alive and not ex.conn.closed
        final = Headers([("Date", self.clock.date())])
        for k, v in out:
            if k.lower() not in ("content-length", "date", "server", "connection"):
                final.add(k, v)
        final.add("Content-Length", str(len(body)))
        final.add("Connection", out.get("Connection") or ("keep-alive" if keep else "close"))
        final.add("X-Kong-Response-Latency", str(latency))
        final.add("Server", self.server_header)
        final.add("X-Kong-Request-Id", ctx.request_id)
        data = _head(status, final)
        if req.method != "HEAD" and status not in (204, 304):
            data += body
        ex.responded = True
        ex.conn.write(data)
        ctx.bytes_out = len(data)
        resp.headers = final
        self.chain.log(collected, req, resp, ctx)
        ex.conn.finished(ex, keep)

    # -- proxying ---------------------------------------------------------
    def _upstream_head(self, req: Request, ctx: Ctx, target: TargetState, bal: Balancer,
                       prefix: str | None, body_len: int | None) -> bytes:
        route = ctx.route
        assert route is not None
        h = req.headers
        # access.after: hop-by-hop headers named in Connection, after all plugins ran.
        conn_hdr = ", ".join(h.get_all("connection"))
        drop = _DROP_UP
        if conn_hdr and conn_hdr not in ("keep-alive", "close", "upgrade"):
            drop = drop | {tok.lower() for tok in conn_hdr.replace(",", " ").split()}
        if route.route.preserve_host:
            host = h.get("host") or req.host
        elif bal.host_header:
            host = bal.host_header
        else:
            host = target.host if target.port == 80 else f"{target.host}:{target.port}"
        xff = ", ".join(h.get_all("x-forwarded-for"))
        via = ", ".join(h.get_all("via"))
        path = req.upstream_path or "/"
        qs = f"?{req.query}" if req.query or ctx.shared.get("has_query") else ""
        lines = [f"{req.method} {path}{qs} HTTP/1.1\r\n",
                 f"Host: {host}\r\n",
                 "Connection: keep-alive\r\n",
                 f"X-Forwarded-For: {xff + ', ' if xff else ''}{req.client_ip}\r\n",
                 f"X-Forwarded-Proto: {req.scheme}\r\n",
                 f"X-Forwarded-Host: {req.host}\r\n",
                 f"X-Forwarded-Port: {req.port}\r\n",
                 f"X-Forwarded-Path: {req.raw_path}\r\n"]
        if prefix is not None:
            lines.append(f"X-Forwarded-Prefix: {prefix}\r\n")
        lines.append(f"X-Real-IP: {req.client_ip}\r\n")
        lines.append(f"X-Kong-Request-Id: {ctx.request_id}\r\n")
        lines.append(f"Via: {via + ', ' if via else ''}{req.http_version} {self.via}\r\n")
        te = h.get("te")
        if te and "trailers" in [t.strip() for t in te.split(",")]:
            lines.append("TE: trailers\r\n")
        for k, v in h:
            if k.lower() not in drop:
                lines.append(f"{k}: {_clean(v)}\r\n")
        if body_len is not None:
            lines.append(f"Content-Length: {body_len}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1", "replace")

    async def _proxy(self, ex: Exchange, req: Request, ctx: Ctx, collected: list[Plugin],
                     prefix: str | None) -> None:
        conn = ex.conn
        view = ctx.route
        assert view is not None
        svc = view.service
        bal = self.runtime.balancer_for(svc.host, svc.port)
        body = ex.body
        body_bytes: bytes | None = req.body
        spilled = False
        if body_bytes is None and body is not None:
            await body.wait()
            if conn.closed:
                return
            if body.file is not None:
                spilled = True
            else:
                body_bytes = b"".join(body.chunks)
        body_len = (body.size if spilled and body is not None
                    else len(body_bytes) if body_bytes is not None
                    else (0 if req.headers.get("content-length") is not None else None))
        ctx.proxy_latency_ms = int((time.monotonic() - ex.started_mono) * 1000)
        flight = _Flight(self, ex, req, ctx, collected, bal)
        tries_left = svc.retries
        stale_left = _STALE_RETRIES
        first = True
        while True:
            target = bal.pick()
            if target is None:
                if first:
                    await self._kong_exit(ex, req, ctx, collected, Exit.error(
                        503, "failure to get a peer from the ring-balancer"))
                else:
                    # Kong's balancer phase on a retry: ngx.exit(503) -> nginx error page.
                    self._nginx_error(ex, req, ctx, 503, collected)
                return
            first = False
            flight.target = target
            ctx.upstream_target = f"{target.address[0]}:{target.address[1]}"
            up = self.pool.take(target.address)
            reused = up is not None
            if up is None:
                try:
                    up = await self.pool.connect(target.address, svc.connect_timeout / 1000)
                except ConnectFailed as e:
                    flight.last_status = 504 if e.timeout else 502
                    if tries_left > 0:
                        tries_left -= 1
                        (bal.report_timeout if e.timeout else bal.report_tcp_failure)(target)
                        continue
                    bal.report_status(target, flight.last_status)
                    self._nginx_error(ex, req, ctx, flight.last_status, collected)
                    return
                if conn.closed:
                    up.close()
                    return
            head = self._upstream_head(req, ctx, target, bal, prefix, body_len)
            fut: asyncio.Future[tuple[str, bool]] = self.loop.create_future()
            flight.fut = fut
            flight.t_up = time.monotonic()
            conn.streaming = up
            if spilled:
                assert body is not None
                up.sending = True   # an early response must not return it to the pool
                up.start(flight, head, svc.read_timeout / 1000, req.method == "HEAD")
                for chunk in body.iter_file():
                    if up.closed or fut.done():
                        break
                    up.write(chunk)
                    await up.drain()
                up.sending = False
            else:
                up.start(flight, head + body_bytes if body_bytes else head,
                         svc.read_timeout / 1000, req.method == "HEAD")
            kind, got_bytes = await fut
            conn.streaming = None
            if kind == "done":
                return
            if kind == "aborted" or ex.responded:
                # client gone, or the body broke off mid-stream: nothing more to send.
                conn.close()
                self._log_after(flight)
                return
            status = 504 if kind == "timeout" else 502
            flight.last_status = status
            if kind == "reset" and reused and not got_bytes and stale_left > 0 \
                    and req.method not in _NON_IDEMPOTENT:
                # A pooled connection the upstream had closed: nginx retries
                # without counting the try.
                stale_left -= 1
                continue
            if kind != "invalid" and tries_left > 0 and req.method not in _NON_IDEMPOTENT:
                tries_left -= 1
                (bal.report_timeout if kind == "timeout" else bal.report_tcp_failure)(target)
                continue
            bal.report_status(target, status)
            self._nginx_error(ex, req, ctx, status, collected)
            return

    def _log_after(self, flight: _Flight) -> None:
        resp = flight.resp or Response(flight.last_status, Headers(), None)
        self.chain.log(flight.collected, flight.req, resp, flight.ctx)


class _Flight:
    """The proxied leg of one request: receives the upstream's response callbacks."""

    __slots__ = ("h", "ex", "req", "ctx", "collected", "bal", "target", "fut", "t_up",
                 "resp", "chunked_out", "no_body", "keep_out", "last_status")

    def __init__(self, h: Handler, ex: Exchange, req: Request, ctx: Ctx,
                 collected: list[Plugin], bal: Balancer) -> None:
        self.h = h
        self.ex = ex
        self.req = req
        self.ctx = ctx
        self.collected = collected
        self.bal = bal
        self.target: TargetState | None = None
        self.fut: asyncio.Future[tuple[str, bool]] | None = None
        self.t_up = 0.0
        self.resp: Response | None = None
        self.chunked_out = False
        self.no_body = False
        self.keep_out = True
        self.last_status = 502

    def up_headers(self, status: int, headers: list[tuple[str, str]], keep_alive: bool,
                   chunked: bool) -> None:
        h, ctx, ex = self.h, self.ctx, self.ex
        now = time.monotonic()
        ctx.upstream_latency_ms = int((now - self.t_up) * 1000)
        ctx.upstream_status = status
        ctx.response_source = "service"
        if self.target is not None:
            self.bal.report_status(self.target, status)
        hdrs = Headers([(k, v) for k, v in headers if k.lower() not in _DROP_DOWN])
        resp = Response(status, hdrs, None, source="service")
        self.resp = resp
        try:
            h.chain.header_filter(self.collected, self.req, resp, ctx)
        except Exception:
            log.exception("header_filter failed")
        out = resp.headers
        self.no_body = self.req.method == "HEAD" or status in (204, 304) or status < 200
        has_len = out.get("content-length") is not None and not chunked
        keep = ex.keep_alive and not ex.conn.closed
        if chunked:
            out.remove("content-length")
        if not self.no_body and not has_len:
            if ex.http_version == "1.1":
                self.chunked_out = True
                out.add("Transfer-Encoding", "chunked")
            else:
                keep = False
        self.keep_out = keep
        if out.get("date") is None:
            out.add("Date", h.clock.date())
        if out.get("server") is None:
            out.add("Server", h.server_header)
        out.add("Connection", "keep-alive" if keep else "close")
        via = out.get_all("via")
        out.remove("via")
        out.add("Via", (", ".join(via) + ", " if via else "") + f"1.1 {h.via}")
        out.add("X-Kong-Upstream-Latency", str(ctx.upstream_latency_ms))
        out.add("X-Kong-Proxy-Latency", str(ctx.proxy_latency_ms or 0))
        out.add("X-Kong-Request-Id", ctx.request_id)
        data = _head(status, out)
        ctx.bytes_out += len(data)
        ex.responded = True
        ex.conn.write(data)

    def up_body(self, data: bytes) -> None:
        if self.no_body:
            return
        self.ctx.bytes_out += len(data)
        if self.chunked_out:
            self.ex.conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.ex.conn.write(data)

    def up_complete(self) -> None:
        if self.chunked_out:
            self.ex.conn.write(b"0\r\n\r\n")
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(("done", True))
        resp = self.resp
        if resp is not None:
            self.h.chain.log(self.collected, self.req, resp, self.ctx)
        self.ex.conn.finished(self.ex, self.keep_out)

    def up_failed(self, kind: str, got_bytes: bool) -> None:
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result((kind, got_bytes))
