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
from matplotlib.figure import Figure  # noqa: E402

from harness.reports.load import LoadReport  # noqa: E402

__all__ = ["cpu_plot", "health_plot", "latency_plot", "outcome_plot", "throughput_plot",
           "trend_plot"]

Runs = Sequence[tuple[str, LoadReport]]
_STYLES = ["-", "--", ":", "-."]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def latency_plot(runs: Runs) -> str:
    """p50/p95/p99 of served requests per second, one panel per tier."""
    kinds = sorted({p.kind for _, r in runs for p in r.series})
    fig, axes = plt.subplots(len(kinds) or 1, 1, figsize=(9, 2.4 * max(len(kinds), 1)),
                             squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds or ["-"]):
        for i, (label, r) in enumerate(runs):
            pts = [p for p in r.series if p.kind == kind and p.p50 is not None]
            for q, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
                ax.plot([p.t for p in pts], [getattr(p, q) for p in pts], _STYLES[i % 4],
                        color=color, label=f"{q} {label}" if len(runs) > 1 else q)
        ax.set_title(f"{kind}: latency of 2xx (ms)")
        ax.set_xlabel("s")
        ax.legend(fontsize=7, ncol=3)
    return _png(fig)


def throughput_plot(runs: Runs) -> str:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    for i, (label, r) in enumerate(runs):
        per_t: dict[int, int] = defaultdict(int)
        for p in r.series:
            per_t[p.t] += p.requests
        ts = sorted(per_t)
        ax.plot(ts, [per_t[t] for t in ts], _STYLES[i % 4], label=label or "requests/s")
    ax.set_title("throughput (requests/s, all tiers)")
    ax.set_xlabel("s")
    ax.legend(fontsize=7)
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
    ax.set_title("429s and errors per second")
    ax.set_xlabel("s")
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
    ax.axhline(90, color="tab:red", linewidth=0.8)
    ax.set_title("load generator CPU (% of one core) and machine CPU (%)")
    ax.set_xlabel("s")
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
