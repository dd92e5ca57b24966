"""A small asyncio Redis client for the rate-limiting hot path.

One pipelined connection per (host, port, db, credentials): commands of all
concurrent requests are written together once per loop iteration and replies
are matched FIFO. `incr_windows` runs one server-side script (EVALSHA) that
INCRs every window key and sets its EXPIRE on creation, in ONE round trip.
A dead Redis fails calls at once (reconnect with capped backoff, so recovery
takes at most ~0.3 s after Redis returns); a hung Redis fails each call after
`timeout` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from typing import Any

__all__ = ["INCR_SCRIPT", "RedisClient", "RedisError"]

# KEYS = window keys, ARGV = their TTLs; returns the pre-increment values (usage).
INCR_SCRIPT = b"""local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('INCR', key)
  if v == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  out[i] = v - 1
end
return out"""
INCR_SHA = hashlib.sha1(INCR_SCRIPT).hexdigest().encode()

_BACKOFF_START, _BACKOFF_MAX = 0.02, 0.25


class RedisError(Exception):
    """Redis unreachable, timed out, or answered an error."""


class _ReplyError(RedisError):
    pass


# (number of keys, *ttls) -> (command head up to the keys, the ttls): see incr_windows
_FRAMES: dict[tuple[int, ...], tuple[bytes, bytes]] = {}


def encode(*args: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Parser:
    """Incremental RESP2 parser: feed bytes, pop complete replies."""

    __slots__ = ("buf", "pos")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> None:
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += data

    def _line(self, pos: int) -> tuple[bytes, int] | None:
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            return None
        return bytes(self.buf[pos:end]), end + 2

    def _one(self, pos: int) -> tuple[Any, int] | None:
        got = self._line(pos)
        if got is None:
            return None
        line, pos = got
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest), pos
        if kind == b"+":
            return rest, pos
        if kind == b"-":
            return _ReplyError(rest.decode(errors="replace")), pos
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None, pos  # nil bulk string: a reply of None
            if len(self.buf) < pos + n + 2:
                return None
            return bytes(self.buf[pos:pos + n]), pos + n + 2
        if kind == b"*":
            n = int(rest)
            items: list[Any] = []
            for _ in range(max(n, 0)):
                got2 = self._one(pos)
                if got2 is None:
                    return None
                item, pos = got2
                items.append(item)
            return items, pos
        raise RedisError(f"bad RESP reply type {kind!r}")

    def pop(self) -> tuple[bool, Any]:
        got = self._one(self.pos)
        if got is None:
            return False, None
        value, self.pos = got
        return True, value


class _Conn(asyncio.Protocol):
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = _Parser()
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.deadlines: deque[float] = deque()   # loop time each pending reply is due by
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.closed = False
        # One timer per connection, not per command: it fires when the oldest pending
        # reply is due and re-arms for the next one (replies come back in order).
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while self.pending:
            try:
                ok, value = self.parser.pop()
            except (ValueError, RedisError) as exc:
                self.fail(RedisError(f"protocol error: {exc}"))
                return
            if not ok:
                break
            fut = self.pending.popleft()
            self.deadlines.popleft()
            if fut.done():
                continue  # cancelled by its caller; this is its late reply
            if isinstance(value, RedisError):
                fut.set_exception(value)
            else:
                fut.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisError(f"connection to Redis lost: {exc or 'closed by server'}"))

    def fail(self, exc: RedisError) -> None:
        if not self.closed:
            self.closed = True
            self.client._lost(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.deadlines.clear()
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                fut.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, payload: bytes, fut: asyncio.Future[Any],
             loop: asyncio.AbstractEventLoop) -> None:
        self.pending.append(fut)
        self.deadlines.append(loop.time() + self.client.timeout)
        self.out.append(payload)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        if self.timer is None:
            self.timer = loop.call_at(self.deadlines[0], self._check_due, loop)

    def _check_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if not self.deadlines or self.closed:
            return
        due = self.deadlines[0]
        if loop.time() < due:
            self.timer = loop.call_at(due, self._check_due, loop)
            return
        client = self.client
        # The reply stream can no longer be trusted to arrive: drop the connection
        # (failing everything queued behind) and reconnect on the next call.
        self.fail(RedisError(f"Redis {client.host}:{client.port} timed out after "
                             f"{client.timeout * 1000:.0f} ms"))

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.transport is not None and not self.closed and self.out:
            self.transport.write(b"".join(self.out))
        self.out.clear()


class RedisClient:
    """Pipelined client for one Redis endpoint; `host`/`port` already resolved."""

    def __init__(self, host: str, port: int, *, timeout: float, database: int = 0,
                 username: str | None = None, password: str | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.database, self.username, self.password = database, username, password
        self._conn: _Conn | None = None
        self._connecting: asyncio.Future[_Conn] | None = None
        self._next_attempt = 0.0
        self._backoff = _BACKOFF_START
        self._loaded_script = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- connection management -----------------------------------------
    def _lost(self, conn: _Conn) -> None:
        if self._conn is conn:
            self._conn = None
            self._loaded_script = False

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Conn(self), self.host, self.port), self.timeout)
        setup: list[bytes] = []
        if self.password is not None:
            setup.append(encode("AUTH", *( [self.username] if self.username else []),
                                self.password))
        if self.database:
            setup.append(encode("SELECT", self.database))
        for cmd in setup:
            fut: asyncio.Future[Any] = loop.create_future()
            conn.send(cmd, fut, loop)
            await fut   # the connection's timer fails it when Redis does not answer
        return conn

    async def _get_conn(self) -> _Conn:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start afresh
            self._loop, self._conn, self._connecting = loop, None, None
            self._next_attempt, self._loaded_script = 0.0, False
        if self._conn is not None:
            return self._conn
        if self._connecting is None:
            if time.monotonic() < self._next_attempt:
                raise RedisError(f"Redis {self.host}:{self.port} unreachable (retrying)")
            self._connecting = loop.create_future()
            loop.create_task(self._attempt(self._connecting))
        return await asyncio.shield(self._connecting)

    async def _attempt(self, waiter: asyncio.Future[_Conn]) -> None:
        try:
            conn = await self._connect()
        except (OSError, asyncio.TimeoutError, RedisError) as exc:
            self._next_attempt = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
            err = RedisError(f"cannot connect to Redis {self.host}:{self.port}: "
                             f"{exc or type(exc).__name__}")
            if not waiter.done():
                waiter.set_exception(err)
                waiter.exception()  # mark retrieved when nobody awaits
        else:
            self._conn = conn
            self._backoff = _BACKOFF_START
            if not waiter.done():
                waiter.set_result(conn)
        finally:
            self._connecting = None

    # -- commands ----------------------------------------------------------
    async def call(self, payload: bytes) -> Any:
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is None or self._loop is not loop:
            conn = await self._get_conn()
        fut: asyncio.Future[Any] = loop.create_future()
        conn.send(payload, fut, loop)
        return await fut

    async def execute(self, *args: bytes | str | int) -> Any:
        return await self.call(encode(*args))

    @staticmethod
    def incr_windows_payload(keys: list[str], ttls: list[int]) -> bytes:
        """The EVALSHA command incr_windows sends (callers may keep it for reuse)."""
        n = len(keys)
        frame = _FRAMES.get((n, *ttls))
        if frame is None:
            # Only the keys change between calls: the rest of the command is made once.
            frame = _FRAMES[(n, *ttls)] = (
                b"*%d\r\n" % (3 + n + len(ttls)) + encode(b"EVALSHA", INCR_SHA, n)[4:],
                encode(*ttls)[len(b"*%d\r\n" % len(ttls)):])
        return b"".join([frame[0], *[b"$%d\r\n%s\r\n" % (len(b), b)
                                     for b in [k.encode() for k in keys]], frame[1]])

    async def incr_windows(self, keys: list[str], ttls: list[int],
                           payload: bytes | None = None) -> list[int]:
        """INCR each key (EXPIRE ttl when new); the values before this increment.
        `payload`: incr_windows_payload(keys, ttls), when the caller kept it."""
        n = len(keys)
        if payload is None:
            payload = self.incr_windows_payload(keys, ttls)
        try:
            result = await self.call(payload)
        except _ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            result = await self.call(encode(b"EVAL", INCR_SCRIPT, n, *keys, *ttls))
        if not isinstance(result, list) or len(result) != n:
            raise RedisError(f"unexpected script reply {result!r}")
        return [int(v) for v in result]

    def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None
