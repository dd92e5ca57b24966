import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness.deploy.healthcheck import main


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_healthy_when_the_url_answers_the_expected_status(server):
    assert main([f"{server}/health"]) == 0


def test_unhealthy_on_another_status_and_says_which(server, capsys):
    assert main([f"{server}/other"]) == 1
    assert "expected status 200, got 503" in capsys.readouterr().err
    assert main([f"{server}/other", "503"]) == 0


def test_unhealthy_when_nothing_listens(capsys):
    assert main(["http://127.0.0.1:1/health"]) == 1
    assert "http://127.0.0.1:1/health" in capsys.readouterr().err
