"""`harness build-gateway`: compile the reference gateway with mypyc (harness.stack.gateway_build)."""

from __future__ import annotations

import argparse
import sys

from harness.stack import gateway_build


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--check", action="store_true",
                   help="only say whether a build for this source tree exists (exit 1 if not)")


def run(args: argparse.Namespace) -> int:
    if args.check:
        found = gateway_build.current_build()
        if found is None:
            print(f"no gateway build for this source tree (digest {gateway_build.digest()}); "
                  "launchers run the interpreted gateway", file=sys.stderr)
            return 1
        print(f"current: {found}")
        return 0
    gateway_build.build(progress=lambda line: print(f"build-gateway: {line}", flush=True))
    return 0
