"""Two gateway replicas (separate processes) sharing one file-log file (`harness up --replicas 2`).

file-log appends with one write(2) per batch of whole lines on an O_APPEND
descriptor, so lines of the two processes never interleave. Checked with the
production kong.yml: requests for an unknown host are answered 404 and still
logged by the global file-log plugin.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from harness.stack.ports import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PER_CLIENT = 60
CLIENTS = 4   # per replica


def _wait_ready(status: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{status}/status", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gateway with status port {status} not ready in time")


def _client(port: int, tag: str, answers: list[int]) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = b""
    try:
        for i in range(PER_CLIENT):
            pad = "p" * (i * 97 % 3000)   # lines from a few hundred bytes to a few KiB
            sock.sendall(f"GET /{tag}/{i}?{pad} HTTP/1.1\r\nHost: unknown.example\r\n\r\n"
                         .encode())
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(buf) < length:
                buf += sock.recv(65536)
            buf = buf[length:]
            answers.append(int(head[9:12]))
    finally:
        sock.close()


def test_two_replicas_append_whole_lines_to_one_file_log(tmp_path):
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[tuple[int, int]] = []
    try:
        for replica in (1, 2):
            http, status = free_port(), free_port()
            ports.append((http, status))
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "harness.gateway", "--root", str(REPO),
                 "--http-port", str(http), "--status-port", str(status),
                 "--log-dir", str(tmp_path), "--replica-id", str(replica)],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        deadline = time.monotonic() + 30
        for _, status in ports:
            _wait_ready(status, deadline)
        answers: list[int] = []
        threads = [threading.Thread(target=_client, args=(http, f"r{n}c{k}", answers))
                   for n, (http, _) in enumerate(ports) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for p in procs:
            p.send_signal(signal.SIGTERM)   # flushes pending log lines
        assert [p.wait(timeout=10) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
    total = 2 * CLIENTS * PER_CLIENT
    assert answers == [404] * total
    data = (tmp_path / "access.json.log").read_bytes()
    assert data.endswith(b"\n")
    entries = [json.loads(line) for line in data.split(b"\n")[:-1]]   # a torn line fails here
    assert len(entries) == total
    uris = sorted(e["request"]["uri"].split("?")[0] for e in entries)
    assert uris == sorted(f"/r{n}c{k}/{i}" for n in range(2) for k in range(CLIENTS)
                          for i in range(PER_CLIENT))
