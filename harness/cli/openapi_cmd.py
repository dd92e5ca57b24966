"""`harness openapi`: write docs/openapi.yaml from the gateway model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.model import load_gateway
from harness.openapi import OPENAPI_FILE, render_openapi


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--output", type=Path, default=None,
                   help=f"file to write (default: <root>/{OPENAPI_FILE}; '-' = stdout)")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 when the file differs from the generated text")


def run(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    text = render_openapi(load_gateway(root))
    out = args.output if args.output is not None else root / OPENAPI_FILE
    if str(out) == "-":
        sys.stdout.write(text)
        return 0
    if args.check:
        current = out.read_text() if out.is_file() else ""
        if current != text:
            print(f"{out}: out of sync with kong.yml (run `harness openapi`)", file=sys.stderr)
            return 1
        print(f"{out}: in sync")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0
