"""`harness report trend reports/`: the figures of every run of a profile over time."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from harness.errors import ConfigError
from harness.reports.html import _img, page, table
from harness.reports.load import LoadReport, load_report
from harness.reports.plots import trend_plot

__all__ = ["find_runs", "render_trend_html", "render_trend_text", "trend_rows"]


def find_runs(directory: Path, profile: str | None = None) -> dict[str, list[tuple[Path,
                                                                                  LoadReport]]]:
    """Load reports under `directory` by profile, oldest first (unreadable files skipped)."""
    runs: dict[str, list[tuple[Path, LoadReport]]] = defaultdict(list)
    for path in sorted(directory.rglob("load-*.json")):
        try:
            report = load_report(path)
        except ConfigError:
            continue
        if profile is None or report.profile == profile:
            runs[report.profile].append((path, report))
    for items in runs.values():
        items.sort(key=lambda pr: pr[1].started_at)
    return dict(runs)


def trend_rows(items: list[tuple[Path, LoadReport]]) -> tuple[list[str], list[list[str]]]:
    kinds = sorted({k for _, r in items for k in r.per_tier})
    head = ["run", "version", "git", "complete", "SLO", "rps", "error", "limited"] + [
        f"{k} p95 ms" for k in kinds]
    rows = []
    for _, r in items:
        t = r.totals
        rows.append([r.started_at, r.harness_version, r.target.git_revision[:8],
                     "yes" if r.complete else "no",
                     "-" if r.slo is None else ("pass" if r.slo.passed else "FAIL"),
                     f"{t.rps:.1f}" if t else "-", f"{t.error_ratio:.2%}" if t else "-",
                     f"{t.limited_ratio:.2%}" if t else "-"] + [
            _p95(r, k) for k in kinds])
    return head, rows


def _p95(r: LoadReport, kind: str) -> str:
    fig = r.per_tier.get(kind)
    return f"{fig.latency.p95:.2f}" if fig is not None and fig.latency is not None else "-"


def render_trend_text(runs: dict[str, list[tuple[Path, LoadReport]]]) -> str:
    out = []
    for profile, items in sorted(runs.items()):
        head, rows = trend_rows(items)
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
        out.append(f"profile {profile}: {len(items)} run(s)")
        for row in [head, *rows]:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        out.append("")
    return "\n".join(out) if out else "no load reports found\n"


def render_trend_html(runs: dict[str, list[tuple[Path, LoadReport]]]) -> str:
    body = ["<h1>Load trends</h1>"]
    for profile, items in sorted(runs.items()):
        head, rows = trend_rows(items)
        p95: dict[str, list[tuple[str, float]]] = defaultdict(list)
        rps: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for _, r in items:
            label = r.started_at[:13]
            for k, f in r.per_tier.items():
                if f.latency:
                    p95[k].append((label, f.latency.p95))
            if r.totals:
                rps["all"].append((label, r.totals.rps))
        body += [f"<h2>{escape(profile)}</h2>",
                 table(head, [[escape(c) for c in row] for row in rows]),
                 _img(trend_plot(p95, f"{profile}: p95 of 2xx per tier (ms)"), "p95"),
                 _img(trend_plot(rps, f"{profile}: throughput (requests/s)"), "rps")]
    return page("load trends", "\n".join(body))
