"""Container healthcheck: `python -m harness.deploy.healthcheck URL [STATUS]`.

The harness image is python:slim (no curl/wget), so compose and Kubernetes
probe our services with this stdlib-only script; exit 0 when URL answers STATUS.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print("usage: python -m harness.deploy.healthcheck URL [STATUS]", file=sys.stderr)
        return 2
    url, want = args[0], int(args[1]) if len(args) == 2 else 200
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 (fixed local URL)
            got = int(resp.status)
    except urllib.error.HTTPError as exc:
        got = exc.code
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if got != want:
        print(f"healthcheck: {url}: expected status {want}, got {got}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
