"""`harness check` runs the contract suite in-process through pytest."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_check_collects_the_contract_suite_and_the_recorder_says_no_report_is_written(tmp_path):
    # --collect-only: no stack starts; the recorder's summary line shows the wiring (a
    # plugin imported before pytest would fail the run here), and a run of no case leaves
    # no 0-result report behind in reports/.
    # The console script, as README's ./scripts/check runs it (`python -m harness`
    # imports differently and hid an early-import failure).
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "check", "--root", str(ROOT),
         "--skip-validate", "--", "--collect-only", "--report-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "test_contract[routing/" in proc.stdout
    printed = [ln for ln in proc.stdout.splitlines() if ln.startswith("conformance report: ")]
    assert printed and printed[-1].startswith("conformance report: not written (--collect-only; ")
    assert not list(tmp_path.rglob("conformance-*")), "a collect-only run wrote a report"


def test_check_command_leaves_the_pytest_plugin_for_pytest_to_import():
    # pytest must import harness.pytest_plugin itself (conftest.py) to rewrite its asserts;
    # imported earlier it warns, an error under filterwarnings=error: `harness check` died.
    code = ("import sys, harness.cli.check_cmd; "
            "sys.exit('harness.pytest_plugin' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
