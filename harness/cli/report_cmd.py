"""`harness report compare OLD NEW` (load or conformance reports) and `harness report trend DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.reports.io import atomic_write_text

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    sub = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    c = sub.add_parser("compare", help="two load runs figure by figure, or two conformance "
                       "runs case by case; exit 1 on regression")
    c.add_argument("old", type=Path, help="the earlier report (.json: load or conformance)")
    c.add_argument("new", type=Path, help="the later report of the same kind (.json)")
    c.add_argument("--html", type=Path, default=None,
                   help="write the overlay page here (default: beside NEW, .compare.html)")
    c.add_argument("--latency-tolerance", type=float, default=0.25,
                   help="relative p50/p95/p99 increase that is a regression (default 0.25)")
    c.add_argument("--throughput-tolerance", type=float, default=0.15,
                   help="relative throughput drop that is a regression (default 0.15)")
    t = sub.add_parser("trend", help="figures of every load run of a profile, and of every "
                       "contract-suite run, over time")
    t.add_argument("directory", type=Path, nargs="?", default=Path("reports"))
    t.add_argument("--profile", default=None, help="only this profile")
    t.add_argument("--html", type=Path, default=None,
                   help="write the page here (default: DIRECTORY/load-trend.html)")


def run(args: argparse.Namespace) -> int:
    from harness.reports.conformance_compare import is_conformance_report
    from harness.reports.load import load_report

    if args.report_command == "compare" and is_conformance_report(args.old):
        from harness.reports.conformance_compare import (
            compare_conformance,
            load_conformance,
            render_conformance_diff,
        )

        diff = compare_conformance(load_conformance(args.old), load_conformance(args.new))
        print(render_conformance_diff(diff, args.old, args.new), end="")
        return 1 if diff.failed else 0
    if args.report_command == "compare":
        from harness.reports.compare import (
            Tolerances,
            compare,
            default_html_path,
            render_compare_html,
            render_compare_text,
        )

        old, new = load_report(args.old), load_report(args.new)
        tol = Tolerances(latency_rel=args.latency_tolerance,
                         throughput_rel=args.throughput_tolerance)
        rows = compare(old, new, tol)
        print(render_compare_text(old, new, rows), end="")
        html = args.html or default_html_path(args.new)
        atomic_write_text(html, render_compare_html(old, new, rows))
        print(f"html: {html}")
        return 1 if any(r.regression for r in rows) else 0

    from harness.reports.trend import find_runs, render_trend_html, render_trend_text

    runs = find_runs(args.directory, args.profile)
    print(render_trend_text(runs), end="")
    if runs:
        html = args.html or args.directory / "load-trend.html"
        atomic_write_text(html, render_trend_html(runs))
        print(f"html: {html}")
    if args.profile is not None:
        return 0          # a load profile was asked for: conformance runs are not one
    from harness.reports.conformance_trend import (
        find_conformance_runs,
        render_conformance_trend_html,
        render_conformance_trend_text,
    )

    conf = find_conformance_runs(args.directory)
    print(render_conformance_trend_text(conf), end="")
    if conf:
        html = args.directory / "conformance-trend.html"
        atomic_write_text(html, render_conformance_trend_html(conf))
        print(f"html: {html}")
    return 0
