"""Plots of load reports (matplotlib, Agg backend), returned as base64 PNG for self-contained
HTML. Each function takes one or more labelled reports, so compare can overlay runs."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.reports.load import LoadReport  # noqa: E402

__all__ = ["cpu_plot", "health_plot", "latency_plot", "outcome_plot", "throughput_plot",
           "trend_plot"]

Runs = Sequence[tuple[str, LoadReport]]
_STYLES = ["-", "--", ":", "-."]


def _stage_marks(ax: Axes, r: LoadReport, legend: bool = True) -> None:
    """Stage boundaries as dotted lines, the flood stages shaded: a reader sees at once which
    seconds belong to which stage (and when the noisy neighbour was on)."""
    start = 0.0
    flood_done = False
    for i, st in enumerate(r.stages):
        end = start + float(st.get("duration", 0))
        users = st.get("users")
        if isinstance(users, dict) and users.get("flood", 0):
            ax.axvspan(start, end, color="tab:red", alpha=0.08,
                       label="flood" if legend and not flood_done else None)
            flood_done = True
        if i:
            ax.axvline(start, color="0.6", linestyle=":", linewidth=0.8)
        start = end
    if start > 0:
        ax.set_xlim(0, max(start, r.duration_s))


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


_QUANTILES = (("p50", "tab:green", "o"), ("p95", "tab:orange", "s"), ("p99", "tab:red", "^"))


def latency_plot(runs: Runs) -> str:
    """p50/p95/p99 of served requests per second, one panel per tier, on one time axis.
    Markers keep sparse series (a flood that is almost all 429s) and coinciding quantiles
    (few requests per second: p95 = p99) visible."""
    kinds = sorted({p.kind for _, r in runs for p in r.series})
    fig, axes = plt.subplots(len(kinds) or 1, 1, figsize=(9, 2.4 * max(len(kinds), 1)),
                             squeeze=False, sharex=True)
    for ax, kind in zip(axes[:, 0], kinds or ["-"]):
        served = []
        for i, (label, r) in enumerate(runs):
            pts = [p for p in r.series if p.kind == kind and p.p50 is not None]
            served.append(f"{label} {sum(p.ok for p in pts)}".strip())
            for q, color, marker in _QUANTILES:
                ax.plot([p.t for p in pts], [getattr(p, q) for p in pts], _STYLES[i % 4],
                        color=color, marker=marker, markersize=3, linewidth=1.2,
                        label=f"{q} {label}" if len(runs) > 1 else q)
            if i == 0:
                _stage_marks(ax, r)
        ax.set_title(f"{kind}: latency of 2xx responses per second (ms); served: "
                     + ", ".join(served))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes[-1, 0].set_xlabel("seconds since the start (dotted: stage boundaries)")
    return _png(fig)


def throughput_plot(runs: Runs) -> str:
    """Requests per second: per tier for one run (so a flood is told from the steady
    tiers), the total per run when runs are overlaid."""
    fig, ax = plt.subplots(figsize=(9, 2.8))
    peak = 0
    for i, (label, r) in enumerate(runs):
        per_t: dict[int, int] = defaultdict(int)
        per_kind: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for p in r.series:
            per_t[p.t] += p.requests
            per_kind[p.kind][p.t] += p.requests
        ts = sorted(per_t)
        peak = max([peak, *per_t.values()])
        ax.plot(ts, [per_t[t] for t in ts], _STYLES[i % 4], color="black", linewidth=1.5,
                label=f"all {label}".strip())
        if len(runs) == 1 and len(per_kind) > 1:
            for kind, counts in sorted(per_kind.items()):
                ax.plot(ts, [counts.get(t, 0) for t in ts], linewidth=1, label=kind)
        if i == 0:
            _stage_marks(ax, r)
    if peak > 100:     # a flood and a few steady users on one plot: log scale above 10
        ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(bottom=0)
    ax.set_title("throughput (requests/s" + ("; log scale above 10)" if peak > 100 else ")"))
    ax.set_xlabel("seconds since the start")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


def outcome_plot(runs: Runs) -> str:
    """429s that the tier limits explain, and failures, per second."""
    fig, ax = plt.subplots(figsize=(9, 2.8))
    for i, (label, r) in enumerate(runs):
        lim: dict[int, int] = defaultdict(int)
        bad: dict[int, int] = defaultdict(int)
        for p in r.series:
            lim[p.t] += p.limited
            bad[p.t] += p.failed
        ts = sorted(set(lim) | set(bad))
        suffix = f" {label}" if len(runs) > 1 else ""
        ax.plot(ts, [lim[t] for t in ts], _STYLES[i % 4], color="tab:blue",
                label=f"limited (429){suffix}")
        ax.plot(ts, [bad[t] for t in ts], _STYLES[i % 4], color="tab:red",
                label=f"failed{suffix}")
        if i == 0:
            _stage_marks(ax, r)
    ax.set_title("per second: 429s explained by the tier's limit (limited) and failures")
    ax.set_xlabel("seconds since the start")
    ax.legend(fontsize=7)
    return _png(fig)


def health_plot(runs: Runs) -> str | None:
    """Upstream targets' health from Prometheus (1 healthy, 0 not), when it was available."""
    have = [(label, r) for label, r in runs if r.prometheus and r.prometheus.upstream_health]
    if not have:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for i, (label, r) in enumerate(have):
        assert r.prometheus is not None
        for j, (target, pts) in enumerate(sorted(r.prometheus.upstream_health.items())):
            ax.step([t for t, _ in pts], [v + j * 0.05 for _, v in pts], _STYLES[i % 4],
                    where="post", label=f"{target} {label}" if len(runs) > 1 else target)
    ax.set_title("upstream target health (Prometheus)")
    ax.set_xlabel("s")
    ax.legend(fontsize=6, ncol=3)
    return _png(fig)


def cpu_plot(runs: Runs) -> str | None:
    have = [(label, r) for label, r in runs if r.generator and r.generator.samples]
    if not have:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.4))
    for i, (label, r) in enumerate(have):
        assert r.generator is not None
        ax.plot([t for t, _ in r.generator.samples], [v for _, v in r.generator.samples],
                _STYLES[i % 4], color="tab:purple", label=f"generator {label}")
        ax.plot([t for t, _ in r.generator.machine], [v for _, v in r.generator.machine],
                _STYLES[i % 4], color="tab:gray", label=f"machine {label}")
    ax.axhline(90, color="tab:red", linewidth=0.8, linestyle="--",
               label="saturated (>= 90 %)")
    _stage_marks(ax, have[0][1], legend=False)
    ax.set_ylim(0, 105)
    ax.set_title("load generator CPU (% of one core) and machine CPU (% of all cores)")
    ax.set_xlabel("seconds since the start")
    ax.legend(fontsize=7)
    return _png(fig)


def trend_plot(points: dict[str, list[tuple[str, float]]], title: str) -> str:
    """Figures over runs: name -> [(run label, value)]."""
    fig, ax = plt.subplots(figsize=(9, 3))
    for name, pts in sorted(points.items()):
        ax.plot(range(len(pts)), [v for _, v in pts], marker="o", label=name)
        ax.set_xticks(range(len(pts)), [lbl for lbl, _ in pts], rotation=30, fontsize=7)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    return _png(fig)
