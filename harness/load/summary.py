"""From a Recorder to the report's figures: per tier, route, tenant, stage, second;
the SLO observations; and the noisy-neighbour isolation view."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from harness.load.profiles import Profile
from harness.load.recorder import Cell, Key, Recorder
from harness.load.slo import Observed
from harness.reports.load import Figures, Isolation, SeriesPoint, StageFigures, figures_of

__all__ = ["isolation", "observed", "per_stage", "per_tenant", "series", "sliced", "totals"]


def sliced(table: dict[Key, Cell], by: int, duration_s: float, sclass_at: int = -1,
           only: dict[int, str] | None = None) -> dict[str, Figures]:
    """Figures per value of key position `by`, each from its status-class cells."""
    groups: dict[str, dict[str, Cell]] = defaultdict(dict)
    for key, cell in table.items():
        if only and any(key[i] != v for i, v in only.items()):
            continue
        sclass = key[sclass_at]
        target = groups[key[by]].get(sclass)
        if target is None:
            target = groups[key[by]][sclass] = Cell(cell.digits)
        target.merge(cell)
    return {name: figures_of(cells, duration_s) for name, cells in sorted(groups.items())}


def totals(rec: Recorder, duration_s: float) -> Figures:
    by_class: dict[str, Cell] = {}
    for (_, _, sclass), cell in rec.cells.items():
        target = by_class.get(sclass)
        if target is None:
            target = by_class[sclass] = Cell()
        target.merge(cell)
    return figures_of(by_class, duration_s)


def per_tenant(rec: Recorder, duration_s: float) -> dict[str, Figures]:
    # Tenant cells hold every status in one 2-digit histogram: counts and latency_all only.
    return {tenant: figures_of({"all": cell}, duration_s)
            for (tenant,), cell in sorted(rec.tenants.items())}


def per_stage(rec: Recorder, profile: Profile) -> list[StageFigures]:
    """Figures per stage and kind, summed from the per-second cells (2 significant digits)."""
    out = []
    start = 0.0
    origin = int(rec.started or 0)
    last = len(profile.stages) - 1
    for i, stage in enumerate(profile.stages):
        end = start + stage.duration
        # Requests after the last stage's end (the final stop) count in the last stage.
        table: dict[Key, Cell] = {}
        for (sec, kind, sclass), cell in rec.series.items():
            if start <= sec - origin < end or (i == last and sec - origin >= end):
                Recorder._cell(table, (kind, sclass), 2).merge(cell)
        tiers = sliced(table, 0, stage.duration)
        out.append(StageFigures(index=i, start_s=start, end_s=end,
                                users=stage.counts() or stage.total(), per_tier=tiers))
        start = end
    return out


def series(rec: Recorder) -> list[SeriesPoint]:
    out = []
    origin = int(rec.started or 0)
    by_second: dict[tuple[int, str], dict[str, Cell]] = defaultdict(dict)
    for (sec, kind, sclass), cell in rec.series.items():
        by_second[(sec, kind)][sclass] = cell
    for (sec, kind), cells in sorted(by_second.items()):
        ok = cells.get("2xx")
        pct: dict[float, Any] = ok.hist.get_percentile_to_value_dict([50, 95, 99]) \
            if ok is not None and ok.requests else {}
        outcomes: Counter[str] = Counter()
        for c in cells.values():
            outcomes.update(c.outcomes)
        out.append(SeriesPoint(
            t=sec - origin, kind=kind, requests=sum(outcomes.values()), ok=outcomes["ok"],
            limited=outcomes["limited"], failed=outcomes["failed"],
            p50=pct[50] / 1000 if pct else None, p95=pct[95] / 1000 if pct else None,
            p99=pct[99] / 1000 if pct else None))
    return out


def observed(fig: Figures) -> Observed:
    lat = fig.latency
    return Observed(fig.requests, fig.failed, fig.limited, lat.p50 if lat else None,
                    lat.p95 if lat else None, lat.p99 if lat else None)


def isolation(profile: Profile, stages: list[StageFigures], flood_tenant: str,
              flood: Figures | None, tolerance: float = 0.5) -> Isolation | None:
    """Compare every non-flood kind in stages without the flood against stages with it."""
    flooded = [s for s in stages if isinstance(s.users, dict) and s.users.get("flood", 0) > 0]
    calm = [s for s in stages if s not in flooded]
    if not flooded or not calm:
        return None

    def pick(group: list[StageFigures]) -> dict[str, Figures]:
        best: dict[str, Figures] = {}
        for s in group:
            for kind, fig in s.per_tier.items():
                if kind != "flood" and (kind not in best or fig.requests > best[kind].requests):
                    best[kind] = fig
        return best

    baseline, during = pick(calm), pick(flooded)
    change: dict[str, float | None] = {}
    leaked = False
    notes = []
    for kind in sorted(during):
        b, d = baseline.get(kind), during[kind]
        if b and b.latency and d.latency and b.latency.p95 > 0:
            change[kind] = round(d.latency.p95 / b.latency.p95 - 1, 4)
        else:
            change[kind] = None
        if d.limited or d.failed:
            leaked = True
            notes.append(f"{kind}: {d.limited} limited, {d.failed} failed during the flood")
        elif change[kind] is not None and change[kind] > tolerance:  # type: ignore[operator]
            leaked = True
            notes.append(f"{kind}: p95 +{change[kind]:.0%} during the flood")
    flood_txt = (f"flood tenant {flood_tenant}: {flood.requests} requests, "
                 f"{flood.limited_ratio:.1%} limited" if flood else "no flood traffic")
    verdict = "the flood leaked into the others: " + "; ".join(notes) if leaked else \
        "isolated: no other tier was limited or failed, p95 within " \
        f"+{tolerance:.0%} of its baseline"
    return Isolation(flood_tenant=flood_tenant, flood=flood, baseline=baseline, during=during,
                     p95_change=change, leaked=leaked, summary=f"{flood_txt}; {verdict}")
