"""`harness validate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.validate import run_checks


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--only", action="append", metavar="CHECK",
                   help="run only this check (repeatable)")


def run(args: argparse.Namespace) -> int:
    results = run_checks(args.root.resolve(), args.only)
    failed = 0
    for res in results:
        if res.ok:
            print(f"ok    {res.name}")
            continue
        failed += 1
        if res.missing:
            print(f"MISS  {res.name}: {res.missing}")
        for problem in res.problems:
            print(f"FAIL  {res.name}: {problem}")
    total = len(results)
    print(f"{total - failed} passed, {failed} failed", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0
