"""`harness up`, `harness down`, `harness status`, `harness logs SERVICE`: the native stack."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from harness.settings import add_settings_arguments, load_settings
from harness.stack.native import NativeStack

_UP_FLAGS = ("run_dir", "replicas", "prometheus", "gateway", "gateway_http_port",
             "gateway_https_port", "gateway_status_port", "redis_port", "postgres_port",
             "tenant_service_port", "auth_service_port", "prometheus_port")


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_settings_arguments(p, _UP_FLAGS if name == "up" else ("run_dir",))
    if name == "up":
        p.add_argument("--foreground", action="store_true",
                       help="stay attached; Ctrl-C stops the stack")
    if name == "logs":
        p.add_argument("service", help="service name (see `harness status`)")
        p.add_argument("-n", "--lines", type=int, default=100, help="last N lines (default 100)")
    if name == "status":
        p.add_argument("--json", action="store_true", help="print state.json")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    cmd = args.command
    if cmd == "up":
        return _up(NativeStack(settings), args.foreground)
    stack = NativeStack.attach(settings=settings)
    if cmd == "down":
        t0 = time.monotonic()
        had = stack.services()
        stack.stop()
        print(f"stopped {len(had)} services in {time.monotonic() - t0:.2f}s" if had
              else f"no native stack ran from {settings.run_dir}")
        return 0
    if cmd == "logs":
        print(stack.logs(args.service, args.lines))
        return 0
    if args.json:
        print(stack.state_path.read_text() if stack.state_path.exists() else "{}")
        return 0
    return _status(stack)


def _up(stack: NativeStack, foreground: bool) -> int:
    def _term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # start() cleans up on the way out
    signal.signal(signal.SIGTERM, _term)
    t0 = time.monotonic()
    stack.start()
    print(f"native stack ready in {time.monotonic() - t0:.2f}s (run dir {stack.run_dir})")
    if stack.gateway_build == "interpreted":
        # Usually an edit since the last build: say so, figures depend on it.
        print("reference gateway: interpreted (no mypyc build of this source tree; "
              "`harness build-gateway` makes one, ~100 s)")
    elif stack.gateway_build:
        print(f"reference gateway: {stack.gateway_build} build")
    _status(stack)
    if not foreground:
        print("`harness down` stops it.")
        return 0
    print("Ctrl-C stops it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stack.stop()
        print("stopped")
    return 0


def _status(stack: NativeStack) -> int:
    names = stack.services()
    if not names:
        print(f"no native stack runs from {stack.run_dir}", file=sys.stderr)
        return 1
    bad = 0
    print(f"{'SERVICE':<20} {'STATE':<10} {'PID':>7}  ENDPOINTS")
    for n in names:
        h = stack.status(n)
        bad += h.state != "healthy"
        eps = " ".join(f"{k}={e.url}" for k, e in stack._state.services[n].endpoints.items())
        print(f"{n:<20} {h.state:<10} {h.pid or '-':>7}  {eps}")
    print(f"{len(names) - bad} healthy, {bad} not healthy")
    return 1 if bad else 0
