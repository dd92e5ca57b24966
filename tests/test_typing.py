"""harness/ is mypy-strict clean (pyproject [tool.mypy]); a regression names file:line."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_harness_package_type_checks_strictly():
    if shutil.which("mypy") is None and subprocess.run(
            [sys.executable, "-c", "import mypy"], capture_output=True).returncode != 0:
        pytest.skip("mypy not installed (pip install 'harness[test]')")
    proc = subprocess.run([sys.executable, "-m", "mypy", "harness"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
