"""Print the native stack's up-to-all-ready and down times (issue 4: <= 10 s and <= 3 s).

    .venv/bin/python bench/stack_startup.py [--rounds 3] [--replicas 1] [--prometheus]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.settings import Settings  # noqa: E402
from harness.stack.native import NativeStack  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--prometheus", action="store_true")
    args = p.parse_args()
    ups, downs, count = [], [], 0
    for _ in range(args.rounds):
        run_dir = Path(tempfile.mkdtemp(prefix="harness-bench-"))
        stack = NativeStack(Settings(run_dir=run_dir, replicas=args.replicas,
                                     prometheus=args.prometheus))
        t0 = time.monotonic()
        try:
            stack.start()
            ups.append(time.monotonic() - t0)
            count = len(stack.services())
        finally:
            t1 = time.monotonic()
            stack.stop()
            downs.append(time.monotonic() - t1)
            shutil.rmtree(run_dir, ignore_errors=True)
    up, down = statistics.median(ups), statistics.median(downs)
    print(f"native stack ({count} services): up to all-ready median {up:.2f}s "
          f"(max {max(ups):.2f}s), down median {down:.2f}s (max {max(downs):.2f}s) over "
          f"{args.rounds} rounds; targets <= 10 s and <= 3 s: "
          f"{'OK' if max(ups) <= 10 and max(downs) <= 3 else 'ABOVE TARGET'}")
    return 0


if __name__ == "__main__":
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
