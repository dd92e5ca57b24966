"""harness/ and scenarios/ are mypy-strict clean (pyproject [tool.mypy]); a regression names
file:line."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# One mypy run for both trees: scenarios import harness, so they share the analysis.
CHECKED = ("harness", "scenarios")


def test_harness_and_scenarios_type_check_strictly():
    if shutil.which("mypy") is None and subprocess.run(
            [sys.executable, "-c", "import mypy"], capture_output=True).returncode != 0:
        pytest.skip("mypy not installed (pip install 'harness[test]')")
    proc = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    # "path:line: error: ..." lines first, so the failure names where to look.
    errors = [ln for ln in proc.stdout.splitlines() if ": error:" in ln]
    assert proc.returncode == 0, ("\n".join(errors[:40]) or proc.stdout[-4000:]) + \
        proc.stderr[-2000:]
    assert "no issues found" in proc.stdout, proc.stdout[-2000:]
