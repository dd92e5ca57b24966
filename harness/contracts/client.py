"""The gateway client of the contract suite.

`GatewayClient.send(request) -> Captured` sends one `Request` with an explicit
Host header (and SNI for HTTPS, verified against the target's CA), minting
its token at send time. Requests marked `raw` go byte-exact over a socket,
for inputs an HTTP client would normalise (duplicate headers, odd casing,
paths with dot segments or encoded bytes).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from harness.contracts.converge import Timeouts
from harness.contracts.expect import Captured, Request
from harness.contracts.tokens import mint
from harness.errors import StackError
from harness.target import Target

__all__ = ["GatewayClient"]


class GatewayClient:
    """One pooled keep-alive client per gateway listener; thread-safe."""

    def __init__(self, target: Target, timeouts: Timeouts | None = None) -> None:
        self.target = target
        self.timeouts = timeouts or Timeouts()
        self._clients: dict[str, httpx.Client] = {}
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()  # concurrent cases share one pool per listener

    # -- endpoints ---------------------------------------------------------
    def base_url(self, gateway: str, scheme: str) -> str:
        """http(s)://127.0.0.1:port of one gateway replica's listener."""
        t = self.target
        if gateway in ("gateway", "gateway-1"):
            url = t.proxy_tls_url if scheme == "https" else t.proxy_url
            if url:
                return url.rstrip("/")
            raise StackError(f"target {t.kind} has no {scheme} proxy listener")
        if t.stack is None:
            raise StackError(f"target {t.kind} cannot address replica {gateway!r}")
        ep = t.stack.endpoint(f"{gateway}-tls" if scheme == "https" else gateway)
        return f"{scheme}://{ep.host}:{ep.port}"

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:  # a race builds two equal contexts: harmless
            ctx = ssl.create_default_context(
                cafile=str(self.target.ca_file) if self.target.ca_file else None)
            self._ssl = ctx
        return self._ssl

    def _client(self, base: str) -> httpx.Client:
        with self._lock:
            return self._client_locked(base)

    def _client_locked(self, base: str) -> httpx.Client:
        client = self._clients.get(base)
        if client is None:
            verify: ssl.SSLContext | bool = (self.ssl_context() if base.startswith("https")
                                             else False)
            client = httpx.Client(base_url=base, verify=verify, timeout=self.timeouts.request,
                                  follow_redirects=False, trust_env=False,
                                  limits=httpx.Limits(max_connections=64,
                                                      max_keepalive_connections=64))
            self._clients[base] = client
        return client

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    # -- sending -----------------------------------------------------------
    def headers_for(self, req: Request) -> tuple[tuple[str, str], ...]:
        headers = list(req.headers)
        if not any(k.lower() == "host" for k, _ in headers):
            headers.insert(0, ("Host", req.host))
        if req.token is not None and req.header("authorization") is None:
            headers.append(("Authorization", f"Bearer {mint(self.target.minter, req.token)}"))
        return tuple(headers)

    def send(self, req: Request) -> Captured:
        headers = self.headers_for(req)
        base = self.base_url(req.gateway, req.scheme)
        if req.raw:
            return self._send_raw(req, headers, base)
        ext = {"sni_hostname": req.sni or req.host} if req.scheme == "https" else {}
        started = time.perf_counter()
        resp = self._client(base).request(
            req.method, req.path, headers=list(headers), content=req.body or None,
            extensions=ext)
        elapsed = (time.perf_counter() - started) * 1000
        return Captured(req, headers, resp.status_code,
                        tuple((k, v) for k, v in resp.headers.multi_items()),
                        resp.content, elapsed)

    def send_many(self, requests: Sequence[Request], threads: int = 1) -> list[Captured]:
        """Send in order (threads=1) or concurrently; results in request order."""
        if threads <= 1:
            return [self.send(r) for r in requests]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.send, requests))

    def _send_raw(self, req: Request, headers: Iterable[tuple[str, str]], base: str
                  ) -> Captured:
        parts = urlsplit(base)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = [f"{req.method} {req.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers]
        if req.body and req.header("content-length") is None and \
                req.header("transfer-encoding") is None:
            lines.append(f"Content-Length: {len(req.body)}")
        lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + req.body
        started = time.perf_counter()
        sock = socket.create_connection((host, port), timeout=self.timeouts.request)
        try:
            if parts.scheme == "https":
                sock = self.ssl_context().wrap_socket(sock, server_hostname=req.sni or req.host)
            sock.sendall(data)
            resp = http.client.HTTPResponse(sock, method=req.method)
            resp.begin()
            body = resp.read()
            out = tuple((k, v) for k, v in resp.getheaders())
            status = resp.status
        finally:
            sock.close()
        elapsed = (time.perf_counter() - started) * 1000
        return Captured(req, tuple(headers), status, out, body, elapsed)
