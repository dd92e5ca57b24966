"""Real-socket helpers for the data-plane tests: config files, echo upstream, raw client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools

from harness.gateway.app import GatewayOptions, GatewayServer
from harness.gateway.plugin_api import Plugin
from harness.model import Gateway, load_gateway

TIERS = """\
_format_version: "1"
tiers:
  basic:
    limits: {minute: 30, hour: 600}
"""
TENANTS = """\
_format_version: "1"
base_domain: app.example.com
tenants:
  - id: acme
    name: ACME
    subdomain: acme
    custom_domains: []
    tier: basic
"""


def gateway_from(tmp: Path, kong_yml: str) -> Gateway:
    """A Gateway model loaded from a kong.yml text (plus minimal tiers/tenants)."""
    (tmp / "kong.yml").write_text(textwrap.dedent(kong_yml))
    (tmp / "tiers.yaml").write_text(TIERS)
    (tmp / "tenants.yaml").write_text(TENANTS)
    return load_gateway(tmp, kong=tmp / "kong.yml", tiers=tmp / "tiers.yaml",
                        tenants=tmp / "tenants.yaml")


def run(coro: Awaitable[Any], timeout: float = 20) -> Any:
    """Run one async test body with a hard time limit."""
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# -- upstream ---------------------------------------------------------------
@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """An HTTP/1.1 echo server. Paths: /status/<code>, /sleep/<ms>, /chunked, /close,
    /big/<bytes>; anything else echoes the request as JSON."""

    server: asyncio.base_events.Server | None = None
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    name: str = "up"
    fail_status: int | None = None    # when set, every answer (also /health) has this status

    async def start(self, ssl: Any = None) -> Upstream:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0, ssl=ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                line = await r.readline()
                if not line:
                    break
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await r.readline()
                    if h in (b"\r\n", b""):
                        break
                    k, v = h.decode("latin-1").split(":", 1)
                    key = k.strip().lower()
                    headers[key] = (headers[key] + ", " if key in headers else "") + v.strip()
                n = int(headers.get("content-length", "0"))
                body = await r.readexactly(n) if n else b""
                self.seen.append(Seen(method, target, headers, body))
                if not await self._answer(w, method, target, headers, body):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def _answer(self, w: asyncio.StreamWriter, method: str, target: str,
                      headers: dict[str, str], body: bytes) -> bool:
        path = target.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[0] == "svc":   # the test services' path prefix
            parts = parts[1:] or [""]
        status = 200
        if parts[0] == "close":
            return False
        if parts[0] == "sleep":
            await asyncio.sleep(int(parts[1]) / 1000)
        if parts[0] == "status":
            status = int(parts[1])
        if self.fail_status is not None:
            status = self.fail_status
        if parts[0] == "chunked":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            await w.drain()
            return True
        if parts[0] == "big":
            size = int(parts[1])
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"x" * 65536
            left = size
            while left > 0:
                w.write(chunk[:left])
                left -= 65536
                await w.drain()
            return True
        payload = json.dumps({"service": self.name, "method": method, "target": target,
                              "headers": headers, "body_size": len(body)}).encode()
        extra = b"Server: echo\r\nVia: 1.1 upstream-proxy\r\n" if parts[0] == "via" else b""
        w.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%b\r\n"
                % (status, len(payload), extra) + (b"" if method == "HEAD" else payload))
        await w.drain()
        return True


# -- client --------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class _Collect:
    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.done = False

    def on_header(self, k: bytes, v: bytes) -> None:
        self.headers.append((k.decode("latin-1"), v.decode("latin-1")))

    def on_body(self, b: bytes) -> None:
        self.body += b

    def on_message_complete(self) -> None:
        self.done = True


async def read_reply(r: asyncio.StreamReader, head: bool = False) -> Reply:
    c = _Collect()
    p = httptools.HttpResponseParser(c)
    while not c.done:
        data = await r.read(65536)
        if not data:
            p.feed_data(b"") if c.headers else None
            break
        p.feed_data(data)
        if head and c.headers and b"\r\n\r\n" in data:
            break
    return Reply(p.get_status_code(), c.headers, bytes(c.body))


async def request(port: int, method: str = "GET", path: str = "/",
                  headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
                  body: bytes = b"", host: str = "acme.app.example.com",
                  ssl: Any = None, server_hostname: str | None = None) -> Reply:
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ssl,
                                         server_hostname=server_hostname)
    try:
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in items]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        w.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await read_reply(r, head=method == "HEAD")
    finally:
        w.close()


@contextlib.asynccontextmanager
async def gateway(gw: Gateway, resolve: Mapping[tuple[str, int], tuple[str, int]] | None = None,
                  registry: Mapping[str, type[Plugin]] | None = None,
                  https: bool = False, env: Mapping[str, str] | None = None,
                  log_dir: Path | None = None) -> AsyncIterator[GatewayServer]:
    opts = GatewayOptions(root=Path("."), http_port=0, https_port=0 if https else None,
                          status_port=0, log_dir=log_dir or Path("/tmp/harness-gw-test-logs"),
                          resolve=dict(resolve or {}))
    server = GatewayServer(opts, gateway=gw, registry=registry or {}, env=env)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def with_upstream(gw: Gateway, body: Callable[[int, Upstream], Awaitable[Any]],
                  hosts: tuple[tuple[str, int], ...] = (("echo", 8080),),
                  registry: Mapping[str, type[Plugin]] | None = None) -> Any:
    """Run body(http port, upstream) against a gateway whose `hosts` all resolve to one
    echo Upstream: the usual shape of a data-plane test."""
    async def main() -> Any:
        up = await Upstream().start()
        try:
            async with gateway(gw, {h: ("127.0.0.1", up.port) for h in hosts},
                               registry) as srv:
                return await body(srv.ports["http"], up)
        finally:
            await up.stop()
    return run(main())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5,
                     step: float = 0.05) -> bool:
    """Poll `check` until true or `timeout` seconds passed (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await check():
            return True
        await asyncio.sleep(step)
    return False
