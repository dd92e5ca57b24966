"""Helpers for the contract unit tests: a copy of the repo config to edit, a tiny HTTP server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A copy of kong/ and scenarios/policy.yaml that a test may edit."""
    shutil.copytree(ROOT / "kong", tmp_path / "kong")
    (tmp_path / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "policy.yaml", tmp_path / "scenarios" / "policy.yaml")
    return tmp_path


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not found {count}x in {path}"
    path.write_text(text.replace(old, new, count))


Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def http_server() -> Iterator[Callable[[Handler], str]]:
    """Start a real HTTP server on a free port answering with `handler`; returns its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Handler) -> str:
        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                status, headers, body = handler(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_OPTIONS = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()
