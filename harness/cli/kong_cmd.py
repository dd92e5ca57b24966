"""`harness kong diff|sync --admin-url URL`: decK against a running Kong (DB mode).

diff is the default. sync always prints the diff first and changes Kong only
with --apply; without it, it stops after the diff (a dry run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness.deploy.deck import STATE_FILE, DeckCommand, build
from harness.errors import ConfigError, HarnessError
from harness.validate import require_tool


def _admin_url(value: str) -> str:
    from harness.deploy.deck import parse_admin_url

    try:
        return parse_admin_url(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("action", nargs="?", choices=["diff", "sync"], default="diff",
                   help="diff (default) or sync")
    p.add_argument("--admin-url", type=_admin_url, required=True,
                   help="Kong Admin API, e.g. http://127.0.0.1:8001")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--state", type=Path, default=STATE_FILE,
                   help=f"declarative config relative to --root (default: {STATE_FILE})")
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                   help="header for every Admin API request (repeatable), e.g. Kong-Admin-Token:x")
    p.add_argument("--select-tag", action="append", default=[], metavar="TAG",
                   help="only entities with this tag (repeatable)")
    p.add_argument("--apply", action="store_true", help="sync: really change Kong")
    p.add_argument("--print-argv", action="store_true",
                   help="print the deck command lines instead of running them")


def _run(cmd: DeckCommand, root: Path, deck: str) -> int:
    print("$ " + " ".join(cmd.argv(deck)), flush=True)
    try:
        return subprocess.run(cmd.argv(deck), cwd=root, timeout=600).returncode
    except subprocess.TimeoutExpired:
        raise HarnessError(f"deck {cmd.action} did not finish within 600 s") from None


def run(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    if not (root / args.state).is_file():
        raise ConfigError(str(args.state), "", "a declarative config file", "no such file")
    diff = build("diff", args.admin_url, args.state, args.header, args.select_tag)
    if args.print_argv:
        print(" ".join(diff.argv()))
        if args.action == "sync" and args.apply:
            print(" ".join(diff.with_action("sync").argv()))
        return 0
    deck = require_tool("deck", "deck", f"harness kong {args.action}")
    rc = _run(diff, root, deck)
    if rc not in (0, 2):
        print(f"harness kong: deck diff failed (exit {rc})", file=sys.stderr)
        return rc
    if args.action == "diff":
        return 0 if rc == 0 else 2
    if rc == 0:
        print("Kong is in sync with the declarative config; nothing to apply.")
        return 0
    if not args.apply:
        print("Dry run: Kong was not changed. Re-run with --apply to sync.", file=sys.stderr)
        return 2
    return _run(diff.with_action("sync"), root, deck)
