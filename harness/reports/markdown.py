"""The short Markdown summary of a load run, fit for a pull-request comment."""

from __future__ import annotations

from pathlib import Path

from harness.reports.load import Figures, LoadReport

__all__ = ["figures_table", "render_markdown"]


def _lat(f: Figures, q: str) -> str:
    return f"{getattr(f.latency, q):.1f}" if f.latency else "–"


def figures_table(rows: dict[str, Figures], first: str) -> list[str]:
    out = [f"| {first} | requests | rps | p50 ms | p95 ms | p99 ms | limited | failed |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, f in rows.items():
        out.append(f"| {name} | {f.requests} | {f.rps:.1f} | {_lat(f, 'p50')} | "
                   f"{_lat(f, 'p95')} | {_lat(f, 'p99')} | {f.limited_ratio:.1%} | "
                   f"{f.error_ratio:.1%} |")
    return out


def render_markdown(r: LoadReport, paths: dict[str, Path] | None = None) -> str:
    status = "✅ pass" if r.complete and (r.slo is None or r.slo.passed) else "❌ fail"
    if not r.complete:
        status = "⚠️ incomplete"
    lines = [f"### Load `{r.profile}` on {r.target.gateway_impl} ({r.target.name}): {status}",
             "", r.summary, "",
             f"Config `{r.target.config_hash[:12]}` · git `{r.target.git_revision[:10]}`"
             f"{' (dirty)' if r.target.git_dirty else ''} · {r.started_at} · "
             f"{r.duration_s:.0f} s · workers {r.workers}", ""]
    lines += [f"Before the run: {p}" for p in r.preparation] + ([""] if r.preparation else [])
    if r.per_tier:
        lines += figures_table(r.per_tier, "tier") + [""]
    if r.slo is not None:
        broken = [v for v in r.slo.verdicts if not v.passed]
        lines.append(f"**SLOs** ({r.slo.section}): {len(r.slo.verdicts) - len(broken)}/"
                     f"{len(r.slo.verdicts)} passed" + (":" if broken else "."))
        for v in broken:
            seen = "no data" if v.observed is None else f"{v.observed:.4g}"
            lines.append(f"- ❌ `{v.name}` {v.objective}, observed {seen}")
        lines.append("")
    if r.isolation is not None:
        lines += [f"**Isolation**: {r.isolation.summary}", ""]
    if r.generator is not None:
        lines += [f"**Load generator**: {r.generator.note} (max {r.generator.max_pct:.0f}% "
                  f"of a core).", ""]
    if r.prometheus is not None and r.prometheus.available:
        flagged = [c for c in r.prometheus.comparisons if c.flagged]
        lines += [f"**Prometheus**: {len(flagged)} client/server disagreements flagged.", ""]
    if r.failure_reasons:
        lines.append("Top failures: " + "; ".join(
            f"{k} ×{v}" for k, v in list(r.failure_reasons.items())[:5]))
    if paths:
        lines.append(f"\nFull report: `{paths.get('html', '')}`")
    return "\n".join(lines).rstrip() + "\n"
