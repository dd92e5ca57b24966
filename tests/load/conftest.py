"""Shared pieces of the load tests: the repo root, the model, a tiny real HTTP server
standing in for the gateway (for runner tests that do not need the native stack)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.model import Gateway, load_gateway

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gateway() -> Gateway:
    return load_gateway(ROOT)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Hosts whose requests get a 429 carrying the basic tier's limit headers.
    limited_prefix = "umbrella."

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = self.headers.get("Host", "")
        if host.startswith(self.limited_prefix):
            status, extra = 429, {"X-RateLimit-Limit-Minute": "30",
                                  "X-RateLimit-Remaining-Minute": "0",
                                  "X-RateLimit-Limit-Hour": "600",
                                  "X-RateLimit-Remaining-Hour": "500"}
            body = b'{"message":"API rate limit exceeded"}'
        else:
            status, extra = 200, {}
            body = json.dumps({"path": self.path, "host": host,
                               "auth": bool(self.headers.get("Authorization"))}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_gateway() -> Iterator[str]:
    """A real HTTP server on a free port: 200 echo, 429 (basic limit) for umbrella's host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
