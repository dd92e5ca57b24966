"""The request pipeline: route, plugins, balancer, proxy, Kong's headers (§1, §4, §8).

Order per request (Kong's runloop): router -> protocol check (426/redirect)
-> plugins' access (priority order, consumer-aware lookup) -> hop-by-hop
removal of headers named in Connection (access.after, AFTER the plugins) ->
balancer + proxy with retries -> header_filter -> body -> log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from harness.errors import ClientBodyError
from harness.gateway.balancer import Balancer, TargetState
from harness.gateway.chain import Chain
from harness.gateway.errors import render_error, response_type, status_message
from harness.gateway.flight import Flight
from harness.gateway.plugin_api import Ctx, Exit, Headers, Plugin, Request, Response
from harness.gateway.proxy import ConnectFailed, Pool
from harness.gateway.router import Match, Router
from harness.gateway.runtime import Runtime
from harness.gateway.upstream_uri import normalize, upstream_path
from harness.gateway.wire import Clock, clean, head, header_block, request_id

if TYPE_CHECKING:
    from harness.gateway.server import ClientConn, Exchange

__all__ = ["Handler"]

log = logging.getLogger("harness.gateway")

# Request headers nginx's proxy module never forwards (it sets its own or none).
_DROP_UP = frozenset({"host", "connection", "keep-alive", "te", "upgrade", "expect",
                      "content-length", "transfer-encoding", "proxy", "proxy-connection",
                      "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                      "x-forwarded-path", "x-forwarded-prefix", "x-forwarded-for",
                      "x-real-ip", "x-kong-request-id", "via"})
KEEPALIVE_TIMEOUT = 75.0   # nginx keepalive_timeout default
CLIENT_TIMEOUT = 60.0      # nginx client_header_timeout / client_body_timeout defaults
ROUTE_CACHE = 4096         # (method, host, port, raw path) -> routing outcome
_Routed = tuple[str, "Match | None", "str | None", "str | None"]


class Handler:
    """Serves one request at a time per client connection (see the module docstring)."""

    def __init__(self, runtime: Runtime, chain: Chain, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime = runtime
        self.gateway = runtime.gateway
        self.chain = chain
        self.loop = loop
        self.router = Router(runtime.gateway.routes)
        self.pool = Pool(loop)
        self.clock = Clock()
        self.server_header = runtime.server_header
        self.via = f"kong/{runtime.version}"
        self._tasks: set[asyncio.Task[None]] = set()
        self.conns: set[ClientConn] = set()
        self.keepalive_timeout = KEEPALIVE_TIMEOUT
        self.client_timeout = CLIENT_TIMEOUT
        self._sweeper: asyncio.TimerHandle | None = None
        self._routes: dict[tuple[str, str, int, str], _Routed] = {}
        self._no_route_plugins: list[Plugin] = sorted(
            self.chain.no_route.tables[None].values(), key=lambda p: -p.priority)

    def start_sweeper(self) -> None:
        """Close idle or stalled client connections (nginx's client timeouts)."""
        interval = min(5.0, self.keepalive_timeout / 2, self.client_timeout / 2)
        now = self.loop.time()
        for conn in list(self.conns):
            conn.idle_check(now, self.keepalive_timeout, self.client_timeout)
        self._sweeper = self.loop.call_later(interval, self.start_sweeper)

    def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # -- entry points ------------------------------------------------------
    async def handle(self, ex: Exchange) -> None:
        try:
            await self._handle(ex)
        except ClientBodyError as exc:
            # nginx reads the whole body before proxying: a malformed one is a 400.
            if not ex.responded and not ex.conn.closed:
                ex.responded = True
                self.reject_unparsed(ex.conn, exc.status)
            else:
                ex.conn.close()
        except Exception:
            log.exception("request failed: %s %r", ex.method, ex.url)
            try:
                if not ex.responded and not ex.conn.closed:
                    self._nginx_error(ex, None, None, 500, [])
                else:
                    ex.conn.close()
            except Exception:
                log.exception("error page failed: %s %r", ex.method, ex.url)
                ex.conn.abort()

    def reject_unparsed(self, conn: ClientConn, status: int) -> None:
        """A request nginx refuses at parse time (400, 414, 494->400): answer and close."""
        ctx_id = request_id()
        msg = status_message(status)
        status = 400 if status == 494 else status
        body = render_error(msg, ctx_id, "text/plain; charset=utf-8")
        hdrs = Headers([("Date", self.clock.date()), ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(body))), ("Connection", "close"),
                        ("Server", self.server_header), ("X-Kong-Request-Id", ctx_id)])
        conn.write(head(status, hdrs) + body)
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
        key = (ex.method, host, conn.port, raw_path)
        hit = self._routes.get(key)
        if hit is None:
            hit = self._route(key)
        path, m, up_path, prefix = hit
        req = Request(method=ex.method, scheme=conn.scheme, host=host, port=conn.port,
                      path=path, raw_path=raw_path, query=query,
                      headers=Headers.from_parsed(ex.headers, ex.lows),
                      client_ip=conn.client_ip, http_version=ex.http_version,
                      body_source=ex.body_source())
        ctx = Ctx(gateway=self.gateway, request_id=request_id())
        ctx.shared["request_uri"] = url
        ctx.shared["has_query"] = bool(qmark)
        ctx.bytes_in = ex.header_bytes + len(url) + 16
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
                # Kong: kong.response.exit (compact JSON, no request_id), not .error.
                exit_ = Exit.json(426, {"message": "Please use HTTPS protocol"},
                                  [("Connection", "Upgrade"), ("Upgrade", "TLS/1.2, HTTP/1.1")])
            else:
                exit_ = Exit(code, b"", [("Location", f"https://{host}{url}")])
            await self._kong_exit(ex, req, ctx, self._no_route_plugins, exit_)
            return
        req.upstream_path = up_path
        rp = self.chain.by_route[view.name]
        if rp.order:
            collected, refused = await self.chain.access(rp, req, ctx)
        else:
            collected, refused = [], None
        if refused is not None:
            await self._kong_exit(ex, req, ctx, collected, refused)
            return
        await self._proxy(ex, req, ctx, collected, prefix)

    def _route(self, key: tuple[str, str, int, str]) -> _Routed:
        """Normalised path, route match, upstream path and stripped prefix of a request.

        Pure functions of (method, host, port, raw path), so they are cached;
        the cache is bounded because clients choose paths (cleared when full).
        """
        method, host, port, raw_path = key
        path = normalize(raw_path or "/")
        m = self.router.match(method, host, port, path)
        up_path: str | None = None
        prefix: str | None = None
        if m is not None:
            route = m.view.route
            up_path = upstream_path(route.strip_path, m.prefix, path, m.view.service.path)
            prefix = m.prefix if route.strip_path and m.prefix not in ("", "/") else None
        if len(self._routes) >= ROUTE_CACHE:
            self._routes.clear()
        hit = self._routes[key] = (path, m, up_path, prefix)
        return hit

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
                     collected: list[Plugin], proxied: bool = False) -> None:
        """An nginx error page via /kong_error_handler (502/503/504/500).

        `proxied`: the request had passed access (Kong's ctx.KONG_PROXIED), so the
        page gets the proxied header set (latencies, Via), not X-Kong-Response-Latency.
        """
        accept = None
        if req is not None:
            accept = req.headers.get("accept") or req.headers.get("content-type")
        else:
            found = {k.lower(): v for k, v in ex.headers if k.lower() in ("accept",
                                                                       "content-type")}
            accept = found.get("accept") or found.get("content-type")
        mime = response_type(accept or "text/plain")
        rid = ctx.request_id if ctx is not None else request_id()
        body = render_error(status_message(status), rid, mime)
        hdrs = Headers([("Content-Type", mime)])
        if req is None or ctx is None:
            ctx = Ctx(gateway=self.gateway, request_id=rid)
            req = Request(ex.method, ex.conn.scheme, "", ex.conn.port, "/", "/", "",
                          Headers(ex.headers), ex.conn.client_ip)
        self._send_generated(ex, req, ctx, collected, status, hdrs, body, proxied)

    def _send_generated(self, ex: Exchange, req: Request, ctx: Ctx, collected: list[Plugin],
                        status: int, hdrs: Headers, body: bytes, proxied: bool = False) -> None:
        ctx.response_source = "kong"
        resp = Response(status, hdrs, body, source="kong")
        try:
            self.chain.header_filter(collected, req, resp, ctx)
        except Exception:
            log.exception("header_filter failed")
        out = resp.headers
        body = resp.body if resp.body is not None else b""
        latency = int((time.monotonic() - ex.started_mono) * 1000)
        keep = ex.keep_alive and not ex.conn.closed and (ex.body is None
                                                          or ex.body.error is None)
        final = Headers([("Date", self.clock.date())])
        for k, v in out:
            if k.lower() not in ("content-length", "date", "server", "connection"):
                final.add(k, v)
        final.add("Content-Length", str(len(body)))
        final.add("Connection", out.get("Connection") or ("keep-alive" if keep else "close"))
        if proxied:
            # runloop header_filter.after with KONG_PROXIED (set before the balancer ran)
            waited = latency - (ctx.proxy_latency_ms or 0)
            final.add("X-Kong-Upstream-Latency", str(max(0, waited)))
            final.add("X-Kong-Proxy-Latency", str(ctx.proxy_latency_ms or 0))
            final.add("Via", f"1.1 {self.via}")
        else:
            final.add("X-Kong-Response-Latency", str(latency))
        final.add("Server", self.server_header)
        final.add("X-Kong-Request-Id", ctx.request_id)
        data = head(status, final)
        if req.method != "HEAD" and status not in (204, 304):
            data += body
        ex.responded = True
        ex.conn.hold(data)
        ex.conn.flush()
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
        lows = h._low
        # access.after: hop-by-hop headers named in Connection, after all plugins ran.
        drop: frozenset[str] | set[str] = _DROP_UP
        if "connection" in lows:
            conn_hdr = ", ".join(h.get_all("connection"))
            if conn_hdr not in ("keep-alive", "close", "upgrade"):
                drop = drop | {tok.lower() for tok in conn_hdr.replace(",", " ").split()}
        if route.route.preserve_host:
            host = h.get("host") or req.host
        elif bal.host_header:
            host = bal.host_header
        else:
            default = 443 if route.service.protocol == "https" else 80
            host = target.host if target.port == default else f"{target.host}:{target.port}"
        xff = clean(", ".join(h.get_all("x-forwarded-for"))) + ", " \
            if "x-forwarded-for" in lows else ""
        via = clean(", ".join(h.get_all("via"))) + ", " if "via" in lows else ""
        path = req.upstream_path or "/"
        qs = f"?{req.query}" if req.query or ctx.shared.get("has_query") else ""
        ip = req.client_ip
        first = (f"{req.method} {path}{qs} HTTP/1.1\r\nHost: {host}\r\n"
                 f"Connection: keep-alive\r\nX-Forwarded-For: {xff}{ip}\r\n"
                 f"X-Forwarded-Proto: {req.scheme}\r\nX-Forwarded-Host: {req.host}\r\n"
                 f"X-Forwarded-Port: {req.port}\r\nX-Forwarded-Path: {req.raw_path}\r\n"
                 + (f"X-Forwarded-Prefix: {prefix}\r\n" if prefix is not None else "")
                 + f"X-Real-IP: {ip}\r\nX-Kong-Request-Id: {ctx.request_id}\r\n"
                 f"Via: {via}{req.http_version} {self.via}\r\n")
        if "te" in lows:
            te = h.get("te") or ""
            if "trailers" in [t.strip() for t in te.split(",")]:
                first += "TE: trailers\r\n"
        # Lines of `first` are ours (no CR/LF inside values we did not build).
        end = f"Content-Length: {body_len}\r\n\r\n" if body_len is not None else "\r\n"
        return (first + header_block(h._items, lows, drop, h.dirty) + end).encode("latin-1",
                                                                                  "replace")

    async def _proxy(self, ex: Exchange, req: Request, ctx: Ctx, collected: list[Plugin],
                     prefix: str | None) -> None:
        conn = ex.conn
        view = ctx.route
        assert view is not None
        svc = view.service
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
        flight = Flight(self, ex, req, ctx, collected,
                         self.runtime.balancer_for(svc.host, svc.port))
        flight.prefix = prefix
        flight.body_bytes = body_bytes
        flight.body_len = body_len
        flight.spilled = spilled
        flight.tries_left = svc.retries
        await self._attempt(flight)

    async def _attempt(self, flight: Flight) -> None:
        """Pick a target and start one exchange; its outcome arrives as callbacks.

        Only connecting (and streaming a spilled body) needs to await; a pooled
        connection starts the exchange without suspending.
        """
        ex, req, ctx, bal = flight.ex, flight.req, flight.ctx, flight.bal
        conn = ex.conn
        svc = ctx.route.service  # type: ignore[union-attr]
        while True:
            target = bal.pick()
            if target is None:
                if flight.first:
                    await self._kong_exit(ex, req, ctx, flight.collected, Exit.error(
                        503, "failure to get a peer from the ring-balancer"))
                else:
                    # Kong's balancer phase on a retry: ngx.exit(503) -> nginx error page.
                    self._nginx_error(ex, req, ctx, 503, flight.collected, proxied=True)
                return
            flight.first = False
            flight.target = target
            ctx.upstream_target = f"{target.address[0]}:{target.address[1]}"
            key = (*target.address, target.host if svc.protocol == "https" else "")
            up = self.pool.take(key)
            flight.reused = up is not None
            if up is None:
                try:
                    up = await self.pool.connect(key, svc.connect_timeout / 1000)
                except ConnectFailed as e:
                    flight.last_status = 504 if e.timeout else 502
                    if flight.tries_left > 0:
                        flight.tries_left -= 1
                        (bal.report_timeout if e.timeout else bal.report_tcp_failure)(target)
                        continue
                    bal.report_status(target, flight.last_status)
                    self._nginx_error(ex, req, ctx, flight.last_status, flight.collected,
                                      proxied=True)
                    return
                if conn.closed:
                    up.close()
                    return
            request_head = self._upstream_head(req, ctx, target, bal, flight.prefix,
                                               flight.body_len)
            flight.t_up = time.monotonic()
            flight.done = False
            conn.streaming = up
            head_only = req.method == "HEAD"
            if flight.spilled:
                body = ex.body
                assert body is not None
                up.sending = True   # an early response must not return it to the pool
                up.start(flight, request_head, svc.read_timeout / 1000, head_only)
                for chunk in body.iter_file():
                    if up.closed or flight.done:
                        break
                    up.write(chunk)
                    await up.drain()
                up.sending = False
            else:
                data = flight.body_bytes
                up.start(flight, request_head + data if data else request_head,
                         svc.read_timeout / 1000, head_only)
            return

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)   # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def retry(self, flight: Flight) -> None:
        self.track(self.loop.create_task(self._retry(flight)))

    async def _retry(self, flight: Flight) -> None:
        try:
            await self._attempt(flight)
        except Exception:
            log.exception("retry failed: %s %s", flight.req.method, flight.req.path)
            if not flight.ex.responded:
                self._nginx_error(flight.ex, flight.req, flight.ctx, 500, flight.collected)

    def log_exception(self, what: str) -> None:
        log.exception(what)

    def _log_after(self, flight: Flight) -> None:
        resp = flight.resp or Response(flight.last_status, Headers(), None)
        self.chain.log(flight.collected, flight.req, resp, flight.ctx)
