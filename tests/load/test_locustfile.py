"""`locust -f scenarios/load/locustfile.py` works as Locust users expect (headless here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_plain_locust_runs_the_smoke_profile_and_prints_exact_tier_percentiles(fake_gateway):
    res = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "scenarios/load/locustfile.py", "--headless",
         "--host", fake_gateway, "--profile", "smoke", "--tags", "jwt"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert "Exact latencies of 2xx responses (HDR, ms):" in res.stdout, res.stderr[-2000:]
    tiers = {line.split()[0] for line in res.stdout.split("(HDR, ms):")[1].splitlines()[2:]
             if line.strip()}
    assert {"basic", "pro", "enterprise"} <= tiers
    # --tags jwt keeps only protected routes: the public JWKS route never ran
    assert "auth-jwks" not in res.stderr + res.stdout


def test_the_locustfile_holds_no_business_logic():
    text = (ROOT / "scenarios/load/locustfile.py").read_text()
    code = [ln for ln in text.split('"""')[-1].splitlines() if ln.strip()]
    assert len(code) <= 4
    assert not [ln for ln in code if ln.lstrip().startswith(("class ", "def ", "@"))]
