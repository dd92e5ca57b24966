"""A raw-socket HTTP/1.x client for requests an HTTP client would normalise.

httpx, http.client and friends set Host themselves, refuse duplicate or
conflicting framing headers, fold header case and resolve dot segments, which
erases exactly the attacks of hostile-inputs.md §2 (absolute-URI request
lines, duplicate Content-Length, CL/TE conflicts, obs-fold, encoded slashes).
Here the caller writes the bytes; this module only

- builds a request byte-exactly (`build_request`: names, values, order and
  line endings as given, nothing added),
- sends bytes over plain TCP or TLS with an explicit SNI (`exchange`), reads
  back every response that arrives (pipelining) and whether the server closed
  the connection afterwards, all bounded by one deadline,
- parses responses incrementally (`ResponseParser`: Content-Length, chunked,
  close-delimited, bodiless statuses) for the sync path and for
  `AsyncConnection`, a minimal keep-alive client used by the load-shaped
  reliability runners (hundreds of concurrent clients on 2 cores, where httpx
  costs too much CPU).

Nothing here raises on a misbehaving server: a malformed answer, a reset or a
timeout is recorded in the result, because a hostile-input case must report
what happened, not crash.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AsyncConnection",
    "RawExchange",
    "RawResponse",
    "ResponseParser",
    "build_request",
    "exchange",
]

CRLF = b"\r\n"
_MAX_HEAD = 256 * 1024
_MAX_BODY = 8 * 1024 * 1024


def build_request(method: str, target: str, headers: Iterable[tuple[str, str]] = (),
                  body: bytes = b"", *, version: str = "HTTP/1.1",
                  line_end: bytes = CRLF) -> bytes:
    """The request exactly as given: no Host, Content-Length or Connection is added.

    Header names and values go out verbatim (latin-1), so `("X-Tenant-ID ", "x")`
    sends a space before the colon and `("Transfer-Encoding", " chunked")` a
    leading space in the value.
    """
    head = f"{method} {target} {version}".encode("latin-1") + line_end
    for name, value in headers:
        head += name.encode("latin-1") + b":" + (b" " if value and not value[0].isspace()
                                                 else b"") + value.encode("latin-1") + line_end
    return head + line_end + body


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """All values of `name` joined with ", " (case-insensitive), or None."""
        low = name.lower()
        values = [v for k, v in self.headers if k.lower() == low]
        return ", ".join(values) if values else None

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def keep_alive(self) -> bool:
        conn = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass
class RawExchange:
    """What came back for one burst of bytes on one connection."""

    responses: list[RawResponse] = field(default_factory=list)
    closed: bool = False          # the server closed (EOF or reset) after the last response
    error: str | None = None      # "timeout", "reset", "connect: ...", "malformed: ..."
    elapsed_ms: float = 0.0
    leftover: bytes = b""         # bytes after the last complete response

    @property
    def response(self) -> RawResponse | None:
        return self.responses[0] if self.responses else None

    @property
    def status(self) -> int | None:
        return self.responses[0].status if self.responses else None


class MalformedResponse(Exception):
    """The server's bytes are not an HTTP/1.x response."""


class ResponseParser:
    """Incremental HTTP/1.x response parser; feed bytes, take complete responses.

    `head_only` methods (HEAD) get no body; 1xx/204/304 never have one. A
    response without Content-Length or chunked framing ends at EOF (`feed_eof`).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._cur: RawResponse | None = None
        self._remaining: int | None = None     # Content-Length body bytes still due
        self._chunked = False
        self._until_close = False
        self._chunk_left: int | None = None    # None: expecting a chunk-size line
        self._trailers = False
        self.head_requests: list[bool] = []    # per expected response: was it HEAD

    def feed(self, data: bytes) -> list[RawResponse]:
        self._buf += data
        out: list[RawResponse] = []
        while True:
            done = self._step()
            if done is None:
                return out
            out.append(done)

    def feed_eof(self) -> RawResponse | None:
        """Finish a close-delimited body; None if nothing was pending."""
        if self._cur is not None and self._until_close:
            self._cur.body += bytes(self._buf)
            self._buf.clear()
            done, self._cur = self._cur, None
            self._until_close = False
            return done
        return None

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    @property
    def in_progress(self) -> bool:
        return self._cur is not None

    def _step(self) -> RawResponse | None:
        if self._cur is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    raise MalformedResponse("response head larger than 256 KiB")
                return None
            head = bytes(self._buf[:end]).decode("latin-1")
            del self._buf[:end + 4]
            self._start(head)
            if self._cur is None:            # 1xx interim response: skip it
                return None if not self._buf else self._step()
        return self._body()

    def _start(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise MalformedResponse(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise MalformedResponse(f"header line without colon {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
        resp = RawResponse(parts[0], status, parts[2] if len(parts) > 2 else "", headers)
        if 100 <= status < 200:
            return
        is_head = self.head_requests.pop(0) if self.head_requests else False
        self._cur = resp
        self._chunked = self._until_close = False
        self._remaining = None
        self._chunk_left = None
        self._trailers = False
        if is_head or status in (204, 304):
            self._remaining = 0
            return
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            self._chunked = True
            return
        cl = resp.header("content-length")
        if cl is not None:
            try:
                self._remaining = int(cl.split(",")[0].strip())
            except ValueError as exc:
                raise MalformedResponse(f"bad Content-Length {cl!r}") from exc
            if self._remaining > _MAX_BODY:
                raise MalformedResponse(f"Content-Length {cl} above 8 MiB")
            return
        self._until_close = True

    def _finish(self) -> RawResponse:
        assert self._cur is not None
        done, self._cur = self._cur, None
        return done

    def _body(self) -> RawResponse | None:
        cur = self._cur
        assert cur is not None
        if self._until_close:
            cur.body += bytes(self._buf)
            self._buf.clear()
            return None
        if not self._chunked:
            assert self._remaining is not None
            take = min(self._remaining, len(self._buf))
            cur.body += bytes(self._buf[:take])
            del self._buf[:take]
            self._remaining -= take
            return self._finish() if self._remaining == 0 else None
        return self._chunks(cur)

    def _chunks(self, cur: RawResponse) -> RawResponse | None:
        while True:
            if self._trailers:
                end = self._buf.find(CRLF)
                if end < 0:
                    return None
                line = bytes(self._buf[:end])
                del self._buf[:end + 2]
                if not line:
                    return self._finish()
                continue
            if self._chunk_left is None:
                end = self._buf.find(CRLF)
                if end < 0:
                    return None
                size_text = bytes(self._buf[:end]).split(b";")[0].strip()
                del self._buf[:end + 2]
                try:
                    size = int(size_text, 16)
                except ValueError as exc:
                    raise MalformedResponse(f"bad chunk size {size_text[:20]!r}") from exc
                if size == 0:
                    self._trailers = True
                    continue
                self._chunk_left = size
            if len(self._buf) < self._chunk_left + 2:
                return None
            cur.body += bytes(self._buf[:self._chunk_left])
            del self._buf[:self._chunk_left + 2]
            self._chunk_left = None
            if len(cur.body) > _MAX_BODY:
                raise MalformedResponse("chunked body above 8 MiB")


def _heads(data: bytes, expect: int) -> list[bool]:
    """Which of the pipelined requests in `data` are HEAD (their answers have no body)."""
    heads = [False] * expect
    if data[:5].upper() == b"HEAD ":
        heads[0] = True
    return heads


def exchange(host: str, port: int, data: bytes | Sequence[bytes], *,
             expect: int = 1, timeout: float = 5.0, linger: float = 0.3,
             tls: ssl.SSLContext | None = None, server_hostname: str | None = None
             ) -> RawExchange:
    """Send `data` (or several chunks, sent back to back) and read what comes back.

    Reads until `expect` responses arrived, then waits up to `linger` seconds
    more to see whether the server closes the connection (`closed`). The whole
    exchange is bounded by `timeout` seconds; on expiry `error == "timeout"`.
    """
    chunks = [data] if isinstance(data, bytes) else list(data)
    result = RawExchange()
    parser = ResponseParser()
    parser.head_requests = _heads(chunks[0] if chunks else b"", expect)
    started = time.perf_counter()
    deadline = started + timeout
    sock: socket.socket | ssl.SSLSocket
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionResetError:
        result.closed, result.error = True, "reset"
        return result
    except OSError as exc:
        result.error = f"connect: {exc}"
        return result
    try:
        if tls is not None:
            sock.settimeout(max(0.01, deadline - time.perf_counter()))
            sock = tls.wrap_socket(sock, server_hostname=server_hostname)
        for chunk in chunks:
            sock.sendall(chunk)
        _read(sock, parser, result, expect, deadline, linger)
    except (TimeoutError, socket.timeout):
        result.error = "timeout"
    except ConnectionResetError:
        result.closed = True
        result.error = None if len(result.responses) >= expect else "reset"
    except BrokenPipeError:
        # The server closed while we were still writing (e.g. it rejected the
        # head early); whatever it answered may still be readable.
        result.closed = True
        try:
            _read(sock, parser, result, expect, deadline, linger)
        except OSError:
            pass
    except ssl.SSLError as exc:
        result.error = f"tls: {exc.reason or exc}"
    except MalformedResponse as exc:
        result.error = f"malformed: {exc}"
    except OSError as exc:
        result.error = f"socket: {exc}"
    finally:
        try:
            sock.close()
        except OSError:
            pass
        result.leftover = parser.pending
        result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def _read(sock: socket.socket | ssl.SSLSocket, parser: ResponseParser, result: RawExchange,
          expect: int, deadline: float, linger: float) -> None:
    linger_until: float | None = None
    while True:
        now = time.perf_counter()
        if len(result.responses) >= expect and not parser.in_progress:
            if linger_until is None:
                linger_until = min(deadline, now + linger)
            if now >= linger_until:
                return
            sock.settimeout(max(0.005, linger_until - now))
        else:
            if now >= deadline:
                raise TimeoutError
            sock.settimeout(max(0.005, deadline - now))
        try:
            data = sock.recv(65536)
        except (TimeoutError, socket.timeout):
            if len(result.responses) >= expect and not parser.in_progress:
                return
            raise
        if not data:
            last = parser.feed_eof()
            if last is not None:
                result.responses.append(last)
            result.closed = True
            return
        result.responses.extend(parser.feed(data))


class AsyncConnection:
    """One keep-alive HTTP/1.1 connection for load-shaped runners (asyncio).

    `request()` sends prebuilt bytes and returns the parsed response;
    reconnects transparently when the server closed the connection. Not safe
    for concurrent use: one connection per client task.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = ResponseParser()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout)
        self._parser = ResponseParser()

    async def request(self, data: bytes) -> RawResponse:
        """Send one request; raises OSError/TimeoutError/MalformedResponse on failure."""
        if self._writer is None or self._writer.is_closing():
            await self._connect()
        assert self._reader is not None and self._writer is not None
        self._parser.head_requests = _heads(data, 1)
        try:
            self._writer.write(data)
            resp = await asyncio.wait_for(self._read_one(), self.timeout)
        except BaseException:
            await self.close()
            raise
        if not resp.keep_alive:
            await self.close()
        return resp

    async def _read_one(self) -> RawResponse:
        assert self._reader is not None
        while True:
            data = await self._reader.read(65536)
            if not data:
                last = self._parser.feed_eof()
                if last is not None:
                    await self.close()
                    return last
                raise ConnectionResetError("server closed the connection before answering")
            done = self._parser.feed(data)
            if done:
                return done[0]

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass
