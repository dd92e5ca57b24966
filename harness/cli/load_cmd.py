"""`harness load --profile NAME [--workers N] [--slo FILE]`: a Locust profile against the
current target, with a live progress display, an SLO verdict as exit code, and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--profile", default="smoke", help="profile of scenarios/load/profiles.yaml")
    p.add_argument("--workers", type=int, default=0,
                   help="Locust worker processes on this machine (0: one local runner)")
    p.add_argument("--slo", type=Path, default=None,
                   help="SLO file (default scenarios/load/slo.yaml)")
    p.add_argument("--profiles", type=Path, default=None, help="profiles file")
    p.add_argument("--target", choices=["native", "url"], default="native",
                   help="native: the stack of `harness up`; url: --proxy-url")
    p.add_argument("--run-dir", type=Path, default=None, help="native stack run directory")
    p.add_argument("--proxy-url", default=None, help="gateway URL for --target url")
    p.add_argument("--tls-url", default=None, help="gateway TLS URL for --target url")
    p.add_argument("--prometheus-url", default=None, help="Prometheus for --target url")
    p.add_argument("--reports-dir", type=Path, default=None, help="default: <repo>/reports")
    p.add_argument("--no-progress", action="store_true", help="no live display")
    p.add_argument("--keep-limits", action="store_true",
                   help="do not reset the rate-limit counters (Redis ratelimit:* keys) of a "
                        "controllable target before the run")


def _target(args: argparse.Namespace) -> Any:
    from harness.errors import HarnessError
    from harness.target import Target
    from harness.tokens import dev_minter

    if args.target == "url":
        if not args.proxy_url:
            raise HarnessError("--target url needs --proxy-url URL")
        return Target(kind="url", proxy_url=args.proxy_url, minter=dev_minter(),
                      proxy_tls_url=args.tls_url, prometheus_url=args.prometheus_url)
    from harness.stack.native import target_from_state

    return target_from_state(args.run_dir)


def run(args: argparse.Namespace) -> int:
    from harness.load.runner import Progress, RunOptions, run_load  # locust first (gevent)

    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    root = Path(__file__).resolve().parent.parent.parent
    target = _target(args)
    console = Console(stderr=True)
    live: Live | None = None

    def show(p: Progress) -> None:
        t = Table(title=f"harness load {args.profile} — {p.elapsed:.0f}/{p.duration:.0f} s, "
                  f"stage {p.stage}", show_header=True)
        for col in ("users", "requests", "rps", "ok", "limited", "failed", "p95 ms", "gen CPU"):
            t.add_column(col, justify="right")
        t.add_row(str(p.users), str(p.requests), f"{p.rps_last:.0f}", str(p.ok),
                  str(p.limited), str(p.failed),
                  "–" if p.p95_ms is None else f"{p.p95_ms:.1f}", f"{p.cpu_pct:.0f}%")
        if live is not None:
            live.update(t)

    opts = RunOptions(root=root, profile=args.profile, target=target,
                      target_name=target.kind, profiles_file=args.profiles,
                      slo_file=args.slo, workers=args.workers,
                      reports_root=args.reports_dir, reset_limits=not args.keep_limits,
                      progress=None if args.no_progress else show)
    if args.no_progress or not console.is_terminal:
        opts.progress = None
        result = run_load(opts)
    else:
        with Live(console=console, refresh_per_second=2) as live:
            result = run_load(opts)
    print(result.report.summary)
    for line in result.messages:
        print(line, file=sys.stderr)
    for ext, path in result.paths.items():
        print(f"{ext}: {path}")
    return result.exit_code
