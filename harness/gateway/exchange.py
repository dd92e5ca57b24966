"""One client request being served: its `Exchange` state and its buffered `Body`.

The connection that parses requests and schedules them in order is
harness.gateway.server (`ClientConn`). Request bodies are buffered as Kong does
(request_buffering), spilling to a temporary file past `BODY_MEMORY`; a body
sends `100 Continue` when a request waits for it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from harness.errors import ClientBodyError

if TYPE_CHECKING:
    from harness.gateway.server import ClientConn

__all__ = ["BODY_MEMORY", "Body", "Exchange"]

BODY_MEMORY = 1 << 20          # bytes kept in memory before spilling to a temp file


class Body:
    """The buffered request body of one request."""

    __slots__ = ("chunks", "size", "file", "done", "_waiter", "conn", "expect_continue",
                 "_continued", "discard", "error")

    def __init__(self, conn: ClientConn, expect_continue: bool) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.done = False
        self._waiter: asyncio.Future[None] | None = None
        self.conn = conn
        self.expect_continue = expect_continue
        self._continued = False
        self.discard = False
        self.error: int | None = None   # the body was malformed: nginx's answer (400)

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.discard:
            return
        if self.file is not None:
            self.file.write(data)
            return
        self.chunks.append(data)
        if self.size > BODY_MEMORY:
            self.file = tempfile.TemporaryFile(prefix="harness-gw-body-")
            for c in self.chunks:
                self.file.write(c)
            self.chunks = []

    def finish(self) -> None:
        self.done = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fail(self, status: int) -> None:
        """The body cannot be completed (parse error): waiters get ClientBodyError."""
        self.error = status
        self.finish()

    async def wait(self) -> None:
        if self.done:
            if self.error is not None:
                raise ClientBodyError(self.error)
            return
        if self.expect_continue and not self._continued:
            self._continued = True
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter
        if self.error is not None:
            raise ClientBodyError(self.error)

    async def read(self) -> bytes:
        await self.wait()
        if self.file is not None:
            self.file.seek(0)
            return self.file.read()
        return b"".join(self.chunks)

    def iter_file(self, chunk: int = 65536) -> Iterator[bytes]:
        assert self.file is not None
        self.file.seek(0)
        while True:
            data = self.file.read(chunk)
            if not data:
                return
            yield data

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.chunks = []


class _BodySource:
    """What plugin_api.Request.body_source expects: read() and size()."""

    __slots__ = ("body",)

    def __init__(self, body: Body) -> None:
        self.body = body

    async def read(self) -> bytes:
        return await self.body.read()

    async def size(self) -> int:
        await self.body.wait()
        return self.body.size


class Exchange:
    """One client request and its response state."""

    __slots__ = ("conn", "method", "url", "headers", "http_version", "keep_alive", "body",
                 "started", "started_mono", "header_bytes", "upgrade", "source", "responded",
                 "host", "lows", "queued")

    def __init__(self, conn: ClientConn) -> None:
        self.conn = conn
        self.method = ""
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.http_version = "1.1"
        self.keep_alive = True
        self.body: Body | None = None
        self.started = time.time()
        self.started_mono = time.monotonic()
        self.header_bytes = 0
        self.upgrade = False
        self.source: _BodySource | None = None
        self.responded = False      # the response head went out
        self.host = ""              # nginx $host: validated, lower-case, no port
        self.lows: list[str] = []   # lower-cased header names, parallel to headers
        self.queued = False         # headers complete: handed to the scheduler

    def body_source(self) -> _BodySource | None:
        if self.body is None:
            return None
        if self.source is None:
            self.source = _BodySource(self.body)
        return self.source
