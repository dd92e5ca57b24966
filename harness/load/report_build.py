"""Assembling the LoadReport of a run from its context, recorder, CPU and Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import harness
from harness.load.context import LoadContext
from harness.load.cpu import CpuSummary
from harness.load.profiles import Profile
from harness.load.prom import correlate
from harness.load.slo import SLOSet, evaluate
from harness.load.slo import Verdict as SloVerdict
from harness.load.summary import isolation, observed, per_stage, per_tenant, series, sliced, \
    totals
from harness.reports.load import Generator, LoadReport, SLOResult, TargetIdentity, Verdict

__all__ = ["build_report"]


def _summary(r: LoadReport) -> str:
    t = r.totals
    if t is None or not t.requests:
        return f"{r.profile}: no requests recorded" + ("" if r.complete else " (incomplete)")
    lat = f"p95 {t.latency.p95:.1f} ms" if t.latency else "no 2xx"
    slo = "" if r.slo is None else (" SLOs passed." if r.slo.passed else " SLOs FAILED: " + ", ".join(
        v.name for v in r.slo.verdicts if not v.passed) + ".")
    gen = " Load generator CPU-bound." if r.generator and r.generator.saturated else ""
    inc = "" if r.complete else f" INCOMPLETE: {r.incomplete_reason}."
    return (f"{r.profile} against {r.target.gateway_impl} ({r.target.name}): {t.requests} "
            f"requests at {t.rps:.1f}/s, {t.error_ratio:.2%} failed, {t.limited_ratio:.2%} "
            f"limited, {lat}.{slo}{gen}{inc}")


def build_report(*, ctx: LoadContext, profile: Profile, ident: TargetIdentity,
                 started_at: str, complete: bool, reason: str | None, workers: int,
                 slo: tuple[SLOSet, str] | None, slo_path: Path | None, duration: float,
                 cpu: CpuSummary | None, events: list[dict[str, Any]], prom_url: str | None,
                 aborted: str | None, start_wall: float | None = None,
                 end_wall: float | None = None, preparation: list[str] | None = None
                 ) -> LoadReport:
    rec = ctx.recorder
    d = max(duration, 1e-3)
    total = totals(rec, d)
    tiers = sliced(rec.cells, 0, d)
    routes = sliced(rec.cells, 1, d)
    stages = per_stage(rec, profile)
    slo_result = None
    if slo is not None:
        verdicts = evaluate(slo[0], observed(total), d,
                            {k: observed(f) for k, f in tiers.items()},
                            {k: observed(f) for k, f in routes.items()})
        if aborted:
            verdicts.insert(0, SloVerdict(aborted.split(":", 1)[0],
                                          "not clearly blown during the run", None, False))
        slo_result = SLOResult(file=str(slo_path) if slo_path else None, section=slo[1],
                               passed=all(v.passed for v in verdicts) and not aborted,
                               verdicts=[Verdict(name=v.name, objective=v.objective,
                                                 observed=v.observed, passed=v.passed)
                                         for v in verdicts],
                               aborted=aborted)
    flood_tenants = ctx.tenants_for("flood")
    iso = isolation(profile, stages, flood_tenants[0].id if flood_tenants else "-",
                    tiers.get("flood"))
    prom = None
    if start_wall is not None and end_wall is not None:
        prom = correlate(prom_url, start_wall, end_wall, routes)
    gen = None
    if cpu is not None:
        gen = Generator(processes=cpu.processes, workers=workers, cores=cpu.cores,
                        mean_pct=round(cpu.mean_pct, 1), max_pct=round(cpu.max_pct, 1),
                        seconds_saturated=cpu.seconds_saturated, saturated=cpu.saturated,
                        note=cpu.note, samples=cpu.samples, machine=cpu.machine)
        if iso is not None and iso.leaked and (cpu.saturated
                                               or cpu.note.startswith("machine CPU-bound")):
            # On a shared box the flood's generator and the gateway compete for the same
            # cores: a latency rise is then not evidence against the gateway's isolation.
            iso.summary += (" — but the run was CPU-bound (see Load generator), so latency "
                            "changes may come from CPU contention, not from the gateway")
    report = LoadReport(
        harness_version=harness.__version__, profile=ctx.profile_name,
        profile_description=profile.description,
        stages=[s.model_dump() for s in profile.stages], started_at=started_at,
        finished_at=None if not duration else _now(), duration_s=round(duration, 3),
        complete=complete, incomplete_reason=reason, target=ident, workers=workers,
        slo=slo_result, totals=total, per_tier=tiers, per_route=routes,
        per_tenant=per_tenant(rec, d), per_stage=stages, series=series(rec),
        failure_reasons=dict(rec.reasons.most_common()), events=events,
        preparation=preparation or [], generator=gen,
        prometheus=prom, isolation=iso)
    report.summary = _summary(report)
    return report


def _now() -> str:
    from harness.reports.load import timestamp

    return timestamp()
