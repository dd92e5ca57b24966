"""`harness check`: the main job — validate, native stack up, contract suite, report path.

A thin layer: `harness validate`'s checks, then `pytest scenarios/` in-process
(the pytest plugin brings the native stack up for the session and down after
and writes the conformance report), then the report path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.validate import run_checks


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--target", choices=("native", "compose", "url"), default="native",
                   help="system under test (default: native)")
    p.add_argument("--skip-validate", action="store_true",
                   help="do not run the static checks first")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help="extra pytest arguments after `--` (e.g. -- -k routing)")


class _ReportPath:
    path: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Imported only now: pytest loads the plugin itself (conftest.py) and must be
        # the first to import it, or it warns that it cannot rewrite it (an error
        # under filterwarnings=error).
        from harness.pytest_plugin import REPORT_KEY

        self.path = session.config.stash.get(REPORT_KEY, None)


def run(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    if not args.skip_validate:
        failed = 0
        for res in run_checks(root):
            status = "ok  " if res.ok else "MISS" if res.missing else "FAIL"
            print(f"{status}  validate {res.name}")
            for problem in res.problems:
                print(f"      {problem}")
            failed += 0 if res.ok or res.missing else 1
        if failed:
            print(f"harness check: {failed} static check(s) failed; not starting the stack",
                  file=sys.stderr)
            return 1
    extra: list[Any] = [a for a in (args.pytest_args or []) if a != "--"]
    found = _ReportPath()
    code = pytest.main([str(root / "scenarios"), f"--rootdir={root}", "-p", "no:cacheprovider",
                        "--target", args.target, "-q", *extra], plugins=[found])
    if found.path is not None:
        print(f"conformance report: {found.path}")
    return int(code)
