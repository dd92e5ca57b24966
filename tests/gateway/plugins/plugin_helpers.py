"""Builders shared by the plugin tests (requests, contexts, a real redis-server)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.gateway.plugin_api import Ctx, Headers, Request
from harness.model import Gateway
from harness.stack.ports import free_port

ROOT = Path(__file__).resolve().parents[3]


def make_request(method: str = "GET", path: str = "/api/users", *, query: str = "",
                 headers: list[tuple[str, str]] | None = None, host: str = "acme.app.example.com",
                 client_ip: str = "10.0.0.7") -> Request:
    return Request(method=method, scheme="http", host=host, port=8000, path=path,
                   raw_path=path, query=query, headers=Headers(headers or []),
                   client_ip=client_ip)


def make_ctx(gateway: Gateway, route: str | None = "users") -> Ctx:
    return Ctx(gateway=gateway, request_id="0123abcd",
               route=gateway.route(route) if route else None)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class RedisServer:
    """A throwaway redis-server (no persistence) that tests may kill and restart."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def command(self, *args: str) -> bytes:
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
        with socket.create_connection(("127.0.0.1", self.port), 1) as s:
            s.sendall(payload)
            return s.recv(65536)


class TenantDirectoryServer:
    """A real HTTP server answering GET /v1/tenants/resolve?host= from the model's
    tenant directory, with knobs: `delay` (seconds), `status` (force a status),
    `body` (force a body). Counts the requests it served in `hits`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.hits = 0
        self.delay = 0.0
        self.status: int | None = None
        self.body: bytes | None = None
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import json
        from urllib.parse import parse_qs, urlsplit
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.hits += 1
            target = head.split(b" ")[1].decode()
            host = parse_qs(urlsplit(target).query).get("host", [""])[0]
            if self.delay:
                await asyncio.sleep(self.delay)
            tenant = self.gateway.tenants_by_host.get(host)
            status, payload = (200, {"id": tenant.id, "name": tenant.name, "tier": tenant.tier,
                                     "status": tenant.status, "subdomain": tenant.subdomain,
                                     "custom_domains": list(tenant.custom_domains)}) \
                if tenant else (404, {"message": "unknown host"})
            body = self.body if self.body is not None else json.dumps(payload).encode()
            status = self.status or status
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
