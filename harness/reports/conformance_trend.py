"""`harness report trend reports/`, conformance part: every contract-suite run per target,
oldest first. The outcome counts and wall time are shown, and so are the measured figures
(breaker ejection and recovery times, rate-limit burst times, ...), so that an SRE sees a
release that made the breaker slower before it fails a bound.

Trends and plots use only full runs: complete, every collected case reported, and the
whole suite collected (`suite_cases`). A `-k` subset run would otherwise show as a drop in
the case count. Subsets and runs cut short are listed, marked as such.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from harness.errors import ConfigError
from harness.reports.conformance import ConformanceReport
from harness.reports.conformance_compare import load_conformance
from harness.reports.html import _img, page, table
from harness.reports.plots import trend_plot

__all__ = ["find_conformance_runs", "render_conformance_trend_html",
           "render_conformance_trend_text"]

Runs = dict[str, list[tuple[Path, ConformanceReport]]]

# Figures plotted over releases: times a user waits for (ejection, recovery, bursts).
_PLOTTED_SUFFIXES = ("_s", "_ms")


def find_conformance_runs(directory: Path) -> Runs:
    """Conformance reports under `directory` by target kind, oldest first (unreadable
    files skipped: a half-written report is never there, writes are atomic)."""
    runs: Runs = defaultdict(list)
    for path in sorted(directory.rglob("conformance-*.json")):
        try:
            report = load_conformance(path)
        except ConfigError:
            continue
        runs[report.target.kind].append((path, report))
    for items in runs.values():
        items.sort(key=lambda pr: pr[1].started_at)
    return dict(runs)


def _full(r: ConformanceReport, largest: int) -> bool:
    """Complete, every collected case reported, and the whole suite collected (reports
    older than `suite_cases`: as many cases as the largest run of their target)."""
    whole = r.cases_total == (r.suite_cases or largest)
    return not r.incomplete and r.cases_run == r.cases_total and whole


def _counts(r: ConformanceReport) -> tuple[int, int, int]:
    outcomes = [c.outcome for c in r.results]
    return outcomes.count("passed"), outcomes.count("failed"), outcomes.count("skipped")


def _largest(items: list[tuple[Path, ConformanceReport]]) -> int:
    return max((r.cases_total for _, r in items), default=0)


def _rows(items: list[tuple[Path, ConformanceReport]]) -> tuple[list[str], list[list[str]]]:
    head = ["run", "version", "git", "config", "cases", "passed", "failed", "skipped",
            "wall s", "run"]
    rows = []
    largest = _largest(items)
    for _, r in items:
        passed, failed, skipped = _counts(r)
        kind = "full" if _full(r, largest) else ("cut short" if r.incomplete else "subset")
        rows.append([r.started_at[:19], r.harness_version, r.target.git_revision[:12],
                     r.target.config_hash[:8], f"{r.cases_run}/{r.cases_total}", str(passed),
                     str(failed), str(skipped), f"{r.duration_s:.1f}", kind])
    return head, rows


def render_conformance_trend_text(runs: Runs) -> str:
    out = []
    for kind, items in sorted(runs.items()):
        head, rows = _rows(items)
        widths = [max(len(c) for c in col) for col in zip(head, *rows)]
        full = sum(1 for _, r in items if _full(r, _largest(items)))
        out.append(f"conformance on {kind}: {len(items)} run(s), {full} full")
        for row in [head, *rows]:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        out.append("")
    return "\n".join(out) if out else "no conformance reports found\n"


def render_conformance_trend_html(runs: Runs) -> str:
    body = ["<h1>Conformance trends</h1>",
            "<p>Plots and the figures table use full runs only (complete, every collected "
            "case reported).</p>"]
    for kind, items in sorted(runs.items()):
        head, rows = _rows(items)
        full = [(p, r) for p, r in items if _full(r, _largest(items))]
        body += [f"<h2>{escape(kind)}</h2>",
                 table(head, [[escape(c) for c in row] for row in rows])]
        if not full:
            continue
        labels = [r.started_at[:13] for _, r in full]
        counts: dict[str, list[tuple[str, float]]] = defaultdict(list)
        # one plot per figure family (breaker, rate_limit, redis, ...), all in seconds
        times: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(
            lambda: defaultdict(list))
        names = sorted({n for _, r in full for n in r.figures})
        for label, (_, r) in zip(labels, full):
            passed, failed, skipped = _counts(r)
            counts["failed"].append((label, failed))
            counts["skipped"].append((label, skipped))
            for name in names:
                if name.endswith(_PLOTTED_SUFFIXES) and name in r.figures:
                    unit = 1.0 if name.endswith("_s") else 0.001
                    times[name.split(".")[0]][name].append((label, r.figures[name] * unit))
        body.append(_img(trend_plot(counts, f"{kind}: failed and skipped cases per run"),
                         "counts"))
        for family, series in sorted(times.items()):
            body.append(_img(trend_plot(dict(series), f"{kind}: {family} times (s)"), family))
        fig_rows = [[escape(n)] + [f"{r.figures[n]:g}" if n in r.figures else "–"
                                   for _, r in full] for n in names]
        body.append(table(["figure", *labels], fig_rows))
    return page("conformance trends", "\n".join(body))
