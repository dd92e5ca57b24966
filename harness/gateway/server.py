"""The client side: HTTP/1.1 connections parsed with httptools, requests served in order.

One `ClientConn` per TCP (or TLS) connection. Pipelined requests are queued
and answered in order; each request is an `Exchange` (harness.gateway.exchange,
with its buffered `Body`; both still importable from here) handed to the
`Handler` (harness.gateway.handler).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import socket
from typing import TYPE_CHECKING

import httptools

from harness.gateway.exchange import BODY_MEMORY, Body, Exchange
from harness.gateway.wire import header_name

if TYPE_CHECKING:
    from harness.gateway.handler import Handler
    from harness.gateway.proxy import UpstreamConn

__all__ = ["BODY_MEMORY", "Body", "ClientConn", "Exchange"]

log = logging.getLogger("harness.gateway")


MAX_HEADER_LINE = 8192         # nginx large_client_header_buffers 4 8k
MAX_HEADERS_TOTAL = 4 * 8192
MAX_PIPELINE = 16              # queued requests before reading pauses


_PLAIN_HOST = re.compile(r"([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::[0-9]*)?")


def validate_host(host: str) -> str | None:
    """nginx ngx_http_validate_host: lower-case, port and one trailing dot removed;
    None (-> 400) for '..', '/', control characters or an empty name."""
    m = _PLAIN_HOST.fullmatch(host)
    if m is not None:
        return m.group(1)  # the common case: nothing to refuse
    end = len(host)
    dot = -2
    literal = False
    for i, ch in enumerate(host):
        if ch == ".":
            if dot == i - 1:
                return None
            dot = i
        elif ch == ":" and not literal:
            end = i
            break
        elif ch == "[" and i == 0:
            literal = True
        elif ch == "]" and literal:
            end = i + 1
            break
        elif ch == "/" or ord(ch) <= 0x20 or ord(ch) == 0x7F:
            return None
    if dot == end - 1:
        end -= 1
    if end <= 0:
        return None
    return host[:end].lower()


def _host_from_target(url: bytes) -> str | None:
    """The authority of an absolute-form request target (RFC 9112 §3.2.2), else None."""
    if url[:1] == b"/" or b"://" not in url:
        return None
    rest = url.split(b"://", 1)[1]
    return rest.split(b"/", 1)[0].split(b"?", 1)[0].decode("latin-1")


class ClientConn(asyncio.Protocol):
    """One client connection (plain or TLS)."""

    def __init__(self, handler: Handler, scheme: str, port: int) -> None:
        self.handler = handler
        self.scheme = scheme
        self.port = port
        self.loop = handler.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = ""
        self.parsing: Exchange | None = None
        self.queue: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None
        self.closed = False
        self.streaming: UpstreamConn | None = None
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._paused_reading = False
        self.parse_error: int | None = None
        self._out: list[bytes] = []
        self.in_message = False     # a request's header or body is still arriving
        self.last_rx = 0.0
        self.pending_reject: int | None = None   # answer once the requests before it are done
        self._worker: asyncio.Task[None] | None = None    # see _serve
        self._waiter: asyncio.Future[Exchange | None] | None = None
        self._next: Exchange | None = None

    # -- asyncio.Protocol ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else "127.0.0.1"
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.last_rx = self.loop.time()
        self.handler.conns.add(self)
        st = self.handler.runtime.stats
        st.connections_accepted += 1
        st.connections_handled += 1
        st.connections_active += 1

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()
        if self.parse_error is not None:
            return
        try:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                # WebSocket/h2c upgrades are not proxied by this gateway.
                self._reject(400, "Bad request")
            except httptools.HttpParserCallbackError as exc:
                # httptools wraps what our callbacks raise: a refusal of ours
                # (HttpParserError) is a 400/414/501; anything else is a bug.
                if exc.__context__ is not None and not isinstance(
                        exc.__context__, httptools.HttpParserError):
                    log.error("request parsing failed", exc_info=exc.__context__)
                self._reject(self._refusal(), "Bad request")
            except httptools.HttpParserError:
                self._reject(self._refusal(), "Bad request")
        except Exception:
            # The guard of last resort: one bad connection never takes the process down.
            log.exception("client connection failed; closing it")
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.handler.conns.discard(self)
        self.handler.runtime.stats.connections_active -= 1
        if self.streaming is not None:
            self.streaming.abort()
            self.streaming = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)   # the worker ends
            self._waiter = None
        for ex in (self.current, *self.queue):
            if ex is not None and ex.body is not None:
                ex.body.finish()
                ex.body.close()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.streaming is not None:
            self.streaming.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.streaming is not None:
            self.streaming.resume_reading()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drain(self) -> None:
        if self.write_paused and not self.closed:
            self._drain = self.loop.create_future()
            await self._drain

    # -- httptools callbacks -------------------------------------------
    def on_message_begin(self) -> None:
        self.parsing = Exchange(self)
        self.in_message = True

    def on_url(self, url: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        ex.url += url
        if len(ex.url) > MAX_HEADER_LINE:
            self.parse_error = 414
            raise httptools.HttpParserError("URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        size = len(name) + len(value) + 4
        ex.header_bytes += size
        if size > MAX_HEADER_LINE or ex.header_bytes > MAX_HEADERS_TOTAL:
            self.parse_error = 494
            raise httptools.HttpParserError("header too large")
        if ex.queued:
            # A chunked body's trailer: nginx discards request trailers. It must
            # not reach the request's headers, which plugins are using right now.
            return
        names = header_name(name)
        ex.headers.append((names[0], value.decode("latin-1")))
        ex.lows.append(names[1])

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        p = self.parser
        ex.method = p.get_method().decode("ascii", "replace")
        ex.http_version = p.get_http_version()
        ex.keep_alive = p.should_keep_alive()
        lows = ex.lows
        if ("content-length" not in lows and "transfer-encoding" not in lows
                and "expect" not in lows and lows.count("host") == 1 and ex.url[:1] == b"/"):
            # The common case (origin-form, bodiless, one Host) without a Python loop.
            self._queue(ex, ex.headers[lows.index("host")][1], False, False)
            return
        has_body = False
        expect = False
        hosts: list[str] = []
        for lk, (_, v) in zip(lows, ex.headers):
            if lk == "host":
                hosts.append(v)
            elif lk == "content-length":
                has_body = v.strip() != "0"
            elif lk == "transfer-encoding":
                if v.strip().lower() != "chunked":
                    # nginx: unknown "Transfer-Encoding" -> 501
                    self.parse_error = 501
                    raise httptools.HttpParserError("unknown Transfer-Encoding")
                has_body = True
            elif lk == "expect" and v.lower() == "100-continue":
                expect = True
        host = _host_from_target(ex.url)
        if host is None:
            if len(hosts) > 1 or (not hosts and ex.http_version == "1.1"):
                # nginx: duplicate Host, or HTTP/1.1 without Host -> 400
                self.parse_error = 400
                raise httptools.HttpParserError("missing or duplicate Host")
            host = hosts[0] if hosts else ""
        self._queue(ex, host, has_body, expect)

    def _queue(self, ex: Exchange, host: str, has_body: bool, expect: bool) -> None:
        """Headers complete: validate the Host (nginx) and schedule the request."""
        valid = validate_host(host) if host else ""
        if valid is None:
            self.parse_error = 400
            raise httptools.HttpParserError("invalid Host")
        ex.host = valid
        if has_body:
            ex.body = Body(self, expect)
        ex.queued = True
        self.queue.append(ex)
        if self.current is None:
            self._start_next()
        elif len(self.queue) > MAX_PIPELINE and not self._paused_reading:
            self._paused_reading = True
            if self.transport is not None:
                self.transport.pause_reading()

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is not None and ex.body is not None:
            ex.body.feed(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        ex = self.parsing
        if ex is not None and ex.body is not None:
            ex.body.finish()

    # -- request scheduling ----------------------------------------------
    def _start_next(self) -> None:
        if self.closed or not self.queue:
            return
        ex = self.queue.popleft()
        self.current = ex
        if self._paused_reading and len(self.queue) <= MAX_PIPELINE // 2:
            self._paused_reading = False
            if self.transport is not None:
                self.transport.resume_reading()
        self.handler.runtime.stats.total_requests += 1
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(ex)
        elif self._worker is None:
            self._worker = self.loop.create_task(self._serve(ex))
            self.handler.track(self._worker)
        else:
            self._next = ex   # the worker is still returning from the previous handle()

    async def _serve(self, ex: Exchange | None) -> None:
        """One task per connection runs the pipeline of each of its requests in turn.

        A task per request costs ~10 us of CPU (creation, registration, first
        step); handing the next request to a waiting worker costs a future.
        handle() returns once the proxied leg is started (the response arrives
        by callbacks), so the worker is free again long before `finished`.
        """
        try:
            while ex is not None:
                await self.handler.handle(ex)
                ex, self._next = self._next, None
                if ex is None and not self.closed:
                    self._waiter = self.loop.create_future()
                    ex = await self._waiter
        finally:
            self._worker = None

    def finished(self, ex: Exchange, keep_alive: bool) -> None:
        """The handler wrote the whole response for `ex`."""
        if ex.body is not None:
            ex.body.discard = True
            ex.body.close()
        self.current = None
        self.streaming = None
        if not keep_alive or not ex.keep_alive or (ex.body is not None
                                                    and ex.body.error is not None):
            self.close()
            return
        if self.queue:
            self._start_next()
        elif self.pending_reject is not None:
            self.handler.reject_unparsed(self, self.pending_reject)

    def idle_check(self, now: float, keepalive: float, client: float) -> None:
        """nginx keepalive_timeout / client_header_timeout / client_body_timeout:
        close a connection that sends nothing for too long (no response, as nginx
        does for 408), unless the gateway itself is busy answering it."""
        if self.closed:
            return
        waiting_on_client = self.in_message
        if self.current is not None and not waiting_on_client:
            return   # the gateway (or the upstream) is working on a response
        limit = client if waiting_on_client else keepalive
        if now - self.last_rx > limit:
            self.close()

    # -- output -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue output; everything written in one loop turn goes out in one send()."""
        if self.closed or self.transport is None:
            return
        out = self._out
        out.append(data)
        if len(out) == 1:
            self.loop.call_soon(self.flush)

    def hold(self, data: bytes) -> None:
        """Queue output the caller sends with flush() itself (no loop callback)."""
        if not self.closed and self.transport is not None:
            self._out.append(data)

    def flush(self) -> None:
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.flush()
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (after an internal error), unsent output too."""
        self._out.clear()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _refusal(self) -> int:
        # A method, not `self.parse_error or 400` inline: after data_received's early
        # return, type checkers (and so the mypyc build) take parse_error for None there,
        # though the parser's callbacks set it.
        return self.parse_error or 400

    def _reject(self, status: int, _msg: str) -> None:
        """A request nginx refuses while parsing: answer it (nginx reads the whole
        body before proxying, so no response byte went out yet) and close.

        Requests parsed before it on this connection are answered first, in order.
        """
        self.parse_error = status
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()   # nothing more is read on this connection
        ex = self.parsing
        if ex is not None and ex.queued and ex.body is not None and not ex.body.done:
            if ex is self.current or ex in self.queue:
                # The body broke: whoever waits for it (the pipeline) answers `status`.
                ex.body.fail(status)
            else:
                self.close()   # already answered (a plugin did not need the body)
            return
        if self.current is None and not self.queue:
            self.handler.reject_unparsed(self, status)
        else:
            self.pending_reject = status
