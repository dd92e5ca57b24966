"""`python -m harness.gateway`: the launcher's command line, readiness, config errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.stack.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def test_config_error_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "kong" / "declarative-config"
    bad.mkdir(parents=True)
    (bad / "kong.yml").write_text('_format_version: "3.0"\nservices:\n  - name: s\n'
                                  '    host: h\n    retries: "x"\n')
    for name in ("tiers.yaml", "tenants.yaml"):
        (tmp_path / "kong" / name).write_text((REPO / "kong" / name).read_text())
    proc = subprocess.run([sys.executable, "-m", "harness.gateway", "--root", str(tmp_path),
                           "--http-port", "0", "--status-port", "0"],
                          capture_output=True, text=True, timeout=30, cwd=REPO)
    assert proc.returncode == 2
    assert "services[s].retries" in proc.stderr


def test_gateway_serves_status_and_stops_on_sigterm(tmp_path):
    http, status = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.gateway", "--root", str(REPO), "--http-port", str(http),
         "--status-port", str(status), "--log-dir", str(tmp_path), "--replica-id", "3",
         "--resolve", "user-1:8080=127.0.0.1:1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        body = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{status}/status", timeout=1) as r:
                    assert r.status == 200
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.1)
        assert b'"replica_id":3' in body
        req = urllib.request.Request(f"http://127.0.0.1:{http}/nope",
                                     headers={"Host": "unknown.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=2)
        assert err.value.code == 404
        err.value.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
