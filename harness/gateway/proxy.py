"""Upstream HTTP/1.1 client: keep-alive connection pool and one exchange at a time.

Callback style (asyncio.Protocol + httptools), no task per request: the
response head and body are pushed to an `ExchangeSink` (the client side of
the gateway), which writes them straight to the client transport. Pool sizes
and idle timeout are Kong's defaults (upstream_keepalive_pool_size 512,
upstream_keepalive_max_requests 10000, upstream_keepalive_idle_timeout 60 s).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import socket
import ssl
from typing import Protocol

import httptools

from harness.gateway.wire import header_name

__all__ = ["ConnectFailed", "ExchangeSink", "Key", "Pool", "UpstreamConn"]

log = logging.getLogger("harness.gateway")

POOL_SIZE = 512
MAX_REQUESTS = 10000
IDLE_TIMEOUT = 60.0

Key = tuple[str, int, str]   # (ip, port, TLS server name or "" for plain HTTP)


class ConnectFailed(Exception):
    """TCP connect to a target failed; `timeout` tells a timeout from an error."""

    def __init__(self, reason: str, *, timeout: bool) -> None:
        super().__init__(reason)
        self.timeout = timeout


class ExchangeSink(Protocol):
    def up_headers(self, status: int, headers: list[tuple[str, str]], lows: list[str],
                   keep_alive: bool, chunked: bool) -> None: ...
    def up_body(self, data: bytes) -> None: ...
    def up_complete(self) -> None: ...
    def up_failed(self, kind: str, got_bytes: bool) -> None: ...
    def fed(self) -> None: ...


class UpstreamConn(asyncio.Protocol):
    """One pooled connection to one target address."""

    def __init__(self, pool: Pool, key: Key) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sink: ExchangeSink | None = None
        self.requests = 0
        self.closed = False
        self.head_request = False
        self.got_bytes = False
        self.idle_since = 0.0
        self._headers: list[tuple[str, str]] = []
        self._lows: list[str] = []        # lower-cased names, parallel to _headers
        self._hname = b""
        self._timeout = 0.0
        self._last_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self.sending = False          # a streamed request body is still being written
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        self._last_rx = self.loop.time()
        if self.sink is None:
            # Bytes on an idle connection: the upstream misbehaves; drop it.
            self.close()
            return
        self.got_bytes = True
        sink = self.sink
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            ctx = exc.__context__
            if ctx is not None and not isinstance(ctx, httptools.HttpParserError):
                # httptools wraps what the sink raised: a bug, not a bad upstream.
                log.error("upstream response handling failed", exc_info=ctx)
            try:
                self._fail("invalid")
            except Exception:
                log.exception("upstream failure handling failed")
                self.close()
            return
        sink.fed()   # what the callbacks wrote goes out now, in one send

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self.pool.forget(self)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self.sink is not None:
            # EOF may legitimately end a close-delimited body.
            if self.got_bytes and not exc:
                try:
                    self.parser.feed_data(b"")
                except httptools.HttpParserError:
                    pass
            if self.sink is not None:
                self._fail("reset")

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drain(self) -> None:
        if self._write_paused and not self.closed:
            self._drain = self.loop.create_future()
            await self._drain

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # -- httptools callbacks -------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        names = header_name(name)
        self._headers.append((names[0], value.decode("latin-1")))
        self._lows.append(names[1])

    def on_headers_complete(self) -> None:
        sink = self.sink
        if sink is None:
            return
        status = self.parser.get_status_code()
        if status < 200:
            # 1xx interim responses are consumed (Kong/nginx do not forward 100).
            self._headers = []
            self._lows = []
            return
        headers, self._headers = self._headers, []
        lows, self._lows = self._lows, []
        keep = self.parser.should_keep_alive()
        chunked = "transfer-encoding" in lows
        if self.head_request and keep and (chunked or (
                "content-length" in lows
                and headers[lows.index("content-length")][1].strip() != "0")):
            # A HEAD answer announcing a body: a server that wrongly sends it anyway
            # would leave those bytes in front of the next response on this
            # connection (a 502 for an innocent request). nginx does not cache a
            # connection with unread bytes; we cannot see them yet, so do not pool it.
            keep = False
        sink.up_headers(status, headers, lows, keep, chunked)
        if self.head_request or status in (204, 304):
            # No body follows; llhttp cannot be told, so finish here and use
            # a fresh parser for the next response on this connection.
            self.parser = httptools.HttpResponseParser(self)
            self._finish(keep)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.up_body(body)

    def on_message_complete(self) -> None:
        if self.sink is None or self.parser.get_status_code() < 200:
            return
        self._finish(self.parser.should_keep_alive())

    # -- exchange --------------------------------------------------------
    def start(self, sink: ExchangeSink, data: bytes, read_timeout: float, head: bool) -> None:
        """Send one request (head and buffered body already framed) and await the answer."""
        assert self.transport is not None
        self.sink = sink
        self.head_request = head
        self.got_bytes = False
        self.requests += 1
        self._headers = []
        self._lows = []
        self._timeout = read_timeout
        now = self._last_rx = self.loop.time()
        # One timer per connection, kept across exchanges: _check_timeout re-arms
        # from _last_rx, so a timer due no later than this deadline is good enough.
        timer = self._timer
        if timer is None or timer.when() > now + read_timeout:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_later(read_timeout, self._check_timeout)
        if data:
            self.transport.write(data)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self._last_rx = self.loop.time()
        self.transport.write(data)

    def _check_timeout(self) -> None:
        self._timer = None
        if self.sink is None:
            return   # idle in the pool: the next exchange arms a timer again
        idle = self.loop.time() - self._last_rx
        if self._paused:
            # We stopped reading (slow client): not the upstream's fault.
            idle = 0.0
            self._last_rx = self.loop.time()
        if idle >= self._timeout - 0.001:
            self._fail("timeout")
            return
        self._timer = self.loop.call_later(self._timeout - idle, self._check_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self, keep_alive: bool) -> None:
        sink, self.sink = self.sink, None
        self.resume_reading()
        if keep_alive and self.requests < MAX_REQUESTS and not self.closed and not self.sending:
            self.pool.release(self)
        else:
            self.close()
        if sink is not None:
            sink.up_complete()

    def _fail(self, kind: str) -> None:
        sink, self.sink = self.sink, None
        self._cancel_timer()
        self.close()
        if sink is not None:
            sink.up_failed(kind, self.got_bytes)

    def abort(self) -> None:
        """The client went away: drop this exchange and the connection."""
        sink, self.sink = self.sink, None
        self._cancel_timer()
        self.close()
        if sink is not None:
            sink.up_failed("aborted", self.got_bytes)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.close()


class Pool:
    """Idle keep-alive connections per target address (LIFO, bounded)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = POOL_SIZE,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.loop = loop
        self.size = size
        self.idle_timeout = idle_timeout
        self._idle: dict[Key, collections.deque[UpstreamConn]] = {}
        self._tls: ssl.SSLContext | None = None
        self.opened = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def take(self, key: Key) -> UpstreamConn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def connect(self, key: Key, timeout: float) -> UpstreamConn:
        """A new connection; key[2] (an SNI name) selects TLS, as service.protocol https.

        Kong does not verify upstream certificates unless tls_verify is set
        (not in our model), and sends the SNI (proxy_ssl_server_name on).
        """
        tls_ctx: ssl.SSLContext | None = None
        if key[2]:
            if self._tls is None:
                self._tls = ssl.create_default_context()
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
            tls_ctx = self._tls
        try:
            _, proto = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConn(self, key), key[0], key[1],
                                            ssl=tls_ctx, server_hostname=key[2] or None),
                timeout)
        except asyncio.TimeoutError:
            raise ConnectFailed("connect timeout", timeout=True) from None
        except OSError as exc:
            timed_out = exc.errno == errno.ETIMEDOUT
            raise ConnectFailed(str(exc), timeout=timed_out) from None
        self.opened += 1
        return proto

    def release(self, conn: UpstreamConn) -> None:
        idle = self._idle.setdefault(conn.key, collections.deque())
        if len(idle) >= self.size:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.idle_timeout / 4, self._sweep)

    def forget(self, conn: UpstreamConn) -> None:
        idle = self._idle.get(conn.key)
        if idle:
            try:
                idle.remove(conn)
            except ValueError:
                pass

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = self.loop.time() - self.idle_timeout
        any_left = False
        for idle in self._idle.values():
            for conn in [c for c in idle if c.idle_since < cutoff]:
                conn.close()
            any_left = any_left or bool(idle)
        if any_left:
            self._sweeper = self.loop.call_later(self.idle_timeout / 4, self._sweep)

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def close_all(self) -> None:
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
