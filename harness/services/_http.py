"""A tiny HTTP/1.1 server on uvloop + httptools, shared by the stubs and services.

No framework: perf-baselines.md shows a raw protocol reaching ~60k req/s on
one core, frameworks a fraction of that, and the stubs must never be the
bottleneck of a load run. Keep-alive and pipelining are handled by answering
the requests of one connection strictly in order.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httptools

__all__ = ["HANG", "RESET", "Action", "HttpServer", "Request", "Response", "json_response",
           "run_servers"]

_MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    http_version: str
    keep_alive: bool

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self) -> Any:
        """The body as JSON; raises ValueError with a readable message."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"request body: expected JSON, got {self.body[:60]!r} ({exc})") \
                from None


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


class Action:
    """A non-answer: hang (read, never reply) or reset (RST the connection)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Action({self.name})"


HANG = Action("hang")
RESET = Action("reset")

Result = Response | Action
Handler = Callable[[Request], "Result | Awaitable[Result]"]


# One encoder: json.dumps(separators=...) builds a new encoder on every call.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
                  ) -> Response:
    return Response(status, _ENCODE(obj).encode(), headers=headers or [])


_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _encode(resp: Response, keep_alive: bool, head: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}",
             f"Content-Type: {resp.content_type}",
             f"Content-Length: {len(resp.body)}"]
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    if not keep_alive:
        lines.append("Connection: close")
    # A HEAD answer carries the GET's Content-Length but never a body (RFC 9110 §9.3.2).
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else resp.body)


class _Protocol(asyncio.Protocol):
    __slots__ = ("_server", "_transport", "_parser", "_url", "_headers", "_body", "_tail",
                 "_closed")

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._tail: asyncio.Task[None] | None = None
        self._closed = False

    # -- asyncio callbacks ---------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        if self._tail is not None:
            self._tail.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write_final(Response(501, b'{"message":"upgrade not supported"}'))
        except httptools.HttpParserError as exc:
            msg = json.dumps({"message": f"bad request: {exc}"}).encode()
            self._write_final(Response(400, msg))

    # -- httptools callbacks -------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        if len(self._body) > 64 and sum(map(len, self._body)) > _MAX_BODY:
            self._write_final(Response(413, b'{"message":"body too large for the stub"}'))

    def on_message_complete(self) -> None:
        if self._closed:
            return
        path, _, query = self._url.decode("latin-1").partition("?")
        path = path.partition("#")[0]
        req = Request(self._parser.get_method().decode("latin-1"), path, query,
                      self._headers, b"".join(self._body),
                      self._parser.get_http_version(), self._parser.should_keep_alive())
        try:
            result = self._server.handler(req)
        except Exception as exc:  # a handler bug must answer 500, not kill the connection
            result = _error(exc)
        head = req.method == "HEAD"
        if self._tail is None and isinstance(result, (Response, Action)):
            self._deliver(result, req.keep_alive, head)
            return
        self._tail = asyncio.ensure_future(self._ordered(self._tail, result, req.keep_alive, head))

    async def _ordered(self, prev: asyncio.Task[None] | None, result: Any, keep: bool,
                       head: bool = False) -> None:
        me = asyncio.current_task()
        if prev is not None:
            await asyncio.shield(prev)
        if not isinstance(result, (Response, Action)):
            try:
                result = await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result = _error(exc)
        self._deliver(result, keep, head)
        if self._tail is me:
            self._tail = None

    def _deliver(self, result: Result, keep_alive: bool, head: bool = False) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        if result is HANG:
            # Stop reading so pipelined requests also wait forever, like a stuck backend.
            self._closed = True
            transport.pause_reading()
            return
        if result is RESET:
            self._closed = True
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close() sends RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        assert isinstance(result, Response)
        transport.write(_encode(result, keep_alive, head))
        if not keep_alive:
            self._closed = True
            transport.close()

    def _write_final(self, resp: Response) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.write(_encode(resp, False))
            self._transport.close()

    def abort(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()


def _error(exc: Exception) -> Response:
    return json_response({"message": f"internal error: {type(exc).__name__}: {exc}"}, 500)


class HttpServer:
    """One listening socket with a handler; can be closed and reopened on the same port."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.connections: set[_Protocol] = set()
        self._server: asyncio.base_events.Server | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def open(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), self.host, self.port,
                                                reuse_address=True, backlog=4096)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def close(self, *, drop_connections: bool = True) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if drop_connections:
            for conn in list(self.connections):
                conn.abort()
        if server is not None:
            await server.wait_closed()


async def _serve_forever(servers: list[HttpServer], setup: Callable[[], Awaitable[None]] | None,
                         banner: str) -> None:
    if setup is not None:
        await setup()
    for s in servers:
        await s.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ports = " ".join(f"{s.host}:{s.port}" for s in servers)
    # The launcher's LogReady strategies may look for this line.
    print(f"{banner} listening on {ports}", flush=True)
    await stop.wait()
    for s in servers:
        await s.close()


def run_servers(servers: list[HttpServer], banner: str,
                setup: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run the servers on uvloop until SIGTERM/SIGINT."""
    import uvloop

    uvloop.run(_serve_forever(servers, setup, banner))
