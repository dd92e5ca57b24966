"""`harness load` end to end against a real HTTP server standing in for the gateway,
run as a subprocess (Locust monkey-patches the process it runs in)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROFILES = """_format_version: "1"
mix:
  - {name: list-users, route: users, method: GET, weight: 5}
  - {name: create-user, route: users, method: POST, body: {name: x}, weight: 1}
  - {name: tenant-self, route: tenant-self, method: GET, weight: 2}
flood_mix: [list-users]
profiles:
  quick:
    description: three seconds, one user per tier
    stages:
      - {duration: 3, users: {basic: 1, pro: 1, enterprise: 1}, spawn_rate: 10}
    wait: {min: 0.02, max: 0.05}
  long:
    description: long enough to be interrupted
    stages:
      - {duration: 60, users: {pro: 1, enterprise: 1}, spawn_rate: 10}
    wait: {min: 0.05, max: 0.1}
"""

SLO = """_format_version: "1"
profiles:
  default:
    error_ratio: 0.0
    tiers:
      enterprise: {p95_ms: 2000, limited_ratio: {max: 0.0}}
      basic: {limited_ratio: {min: 0.9}}
  impossible:
    tiers:
      enterprise: {p50_ms: 0.001}
"""


def _harness(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "load", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "profiles.yaml").write_text(PROFILES)
    (tmp_path / "slo.yaml").write_text(SLO)
    return {"profiles": tmp_path / "profiles.yaml", "slo": tmp_path / "slo.yaml",
            "reports": tmp_path / "reports"}


def _common(url: str, files: dict[str, Path], profile: str = "quick") -> list[str]:
    return ["--profile", profile, "--target", "url", "--proxy-url", url, "--profiles",
            str(files["profiles"]), "--slo", str(files["slo"]), "--reports-dir",
            str(files["reports"]), "--no-progress"]


def _report(files: dict[str, Path]) -> dict:
    found = sorted(files["reports"].rglob("load-*.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def test_a_passing_run_exits_0_and_writes_json_html_and_markdown(fake_gateway, files):
    res = _harness(_common(fake_gateway, files))
    assert res.returncode == 0, res.stderr[-2000:]
    doc = _report(files)
    assert doc["complete"] is True and doc["slo"]["passed"] is True
    assert doc["per_tier"]["enterprise"]["ok"] > 10
    # umbrella's host gets 429s with the basic limit: limited, not failed
    assert doc["per_tenant"]["umbrella"]["limited"] == doc["per_tenant"]["umbrella"]["requests"]
    assert doc["totals"]["failed"] == 0
    base = sorted(files["reports"].rglob("load-*.json"))[0].with_suffix("")
    html = base.with_suffix(".html").read_text()
    assert "data:image/png;base64," in html and "<script src" not in html
    assert "✅ pass" in base.with_suffix(".md").read_text()
    assert doc["generator"]["samples"], "CPU sampled every second from the start"
    # A URL target is not ours to reset: the report says its counters may carry over.
    assert doc["preparation"][0].startswith("rate-limit counters not reset")


def test_an_impossible_slo_exits_non_zero_naming_it(fake_gateway, files):
    files["slo"].write_text(SLO.replace("  impossible:", "  quick:"))
    res = _harness(_common(fake_gateway, files))
    assert res.returncode == 3
    assert "FAIL tier.enterprise.p50_ms: <= 0.001" in res.stderr
    assert _report(files)["slo"]["passed"] is False


@pytest.mark.slow
def test_workers_run_as_local_master_and_worker_processes(fake_gateway, files):
    res = _harness(_common(fake_gateway, files) + ["--workers", "2"])
    assert res.returncode == 0, res.stderr[-2000:]
    doc = _report(files)
    assert doc["workers"] == 2 and doc["generator"]["processes"] == 3
    assert doc["per_tier"]["enterprise"]["ok"] > 10   # the workers' HDR data reached the master


@pytest.mark.slow
def test_an_interrupted_run_leaves_a_report_marked_incomplete(fake_gateway, files):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "load",
                             *_common(fake_gateway, files, "long")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not list(files["reports"].rglob("load-*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    doc = _report(files)
    assert doc["complete"] is False and "interrupted" in doc["incomplete_reason"]
    assert doc["totals"]["requests"] > 0
