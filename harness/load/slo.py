"""SLO gates: thresholds per tier and per route, checked at the end and watched during a run.

An SLO file has one section per profile (or `default`). Latency thresholds
apply to served (2xx) requests; `limited_ratio` is the expected share of
429s a tier's limit explains; `error_ratio` counts everything else that is
not 2xx. Every verdict has a stable name (e.g. `tier.enterprise.p95_ms`) so a
failing run's exit message names the broken SLO, as k6 thresholds do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from harness.errors import ConfigError
from harness.model._base import Strict, to_config_error
from harness.model.loader import load_yaml

__all__ = ["AbortRule", "DEFAULT_SLO", "Observed", "Range", "SLOSet", "Verdict", "evaluate",
           "load_slo", "should_abort"]

DEFAULT_SLO = Path("scenarios/load/slo.yaml")
Ms = Annotated[float, Field(gt=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class Range(Strict):
    min: Ratio = 0.0
    max: Ratio = 1.0


class Latency(Strict):
    p50_ms: Ms | None = None
    p95_ms: Ms | None = None
    p99_ms: Ms | None = None


class TierSLO(Latency):
    limited_ratio: Range | None = None
    error_ratio: Ratio | None = None


class AbortRule(Strict):
    """Stop early when clearly blown: checked every second after `after_s`."""

    after_s: Annotated[float, Field(ge=0)] = 5.0
    min_requests: Annotated[int, Field(ge=1)] = 50
    error_ratio: Ratio = 0.5
    p99_ms: Ms | None = None


class SLOSet(Strict):
    error_ratio: Ratio | None = None
    min_throughput_rps: Annotated[float, Field(ge=0)] | None = None
    tiers: dict[str, TierSLO] = {}
    routes: dict[str, Latency] = {}
    abort: AbortRule = AbortRule()


class SLOFile(Strict):
    format_version: str = Field(alias="_format_version")
    profiles: dict[str, SLOSet]


def load_slo(path: Path, profile: str) -> tuple[SLOSet, str]:
    """The SLO set for `profile` (else `default`) and the section used."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "", "a mapping at the top level", type(raw).__name__,
                          raw_got=True)
    try:
        doc = SLOFile.model_validate(raw, strict=False)
    except ValidationError as exc:
        raise to_config_error(exc, str(path), raw) from None
    for name in (profile, "default"):
        if name in doc.profiles:
            return doc.profiles[name], name
    raise ConfigError(str(path), "profiles", f"a section {profile!r} or 'default'",
                      sorted(doc.profiles))


@dataclass(frozen=True)
class Observed:
    """What the gate looks at for one tier or route (latencies of 2xx, in ms)."""

    requests: int
    failed: int
    limited: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Verdict:
    name: str
    objective: str
    observed: float | None
    passed: bool

    def line(self) -> str:
        seen = "no data" if self.observed is None else f"{self.observed:.4g}"
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark} {self.name}: {self.objective}, observed {seen}"


def _at_most(name: str, limit: float, value: float | None) -> Verdict:
    return Verdict(name, f"<= {limit:g}", value, value is not None and value <= limit)


def _latency(prefix: str, slo: Latency, obs: Observed | None) -> list[Verdict]:
    out = []
    for field_, attr in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        limit = getattr(slo, field_)
        if limit is not None:
            out.append(_at_most(f"{prefix}.{field_}", limit,
                                getattr(obs, attr) if obs is not None else None))
    return out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def evaluate(slo: SLOSet, total: Observed, duration_s: float, tiers: dict[str, Observed],
             routes: dict[str, Observed]) -> list[Verdict]:
    out: list[Verdict] = []
    if slo.error_ratio is not None:
        out.append(_at_most("error_ratio", slo.error_ratio, _ratio(total.failed, total.requests)))
    if slo.min_throughput_rps is not None:
        rps = total.requests / duration_s if duration_s > 0 else None
        out.append(Verdict("min_throughput_rps", f">= {slo.min_throughput_rps:g}", rps,
                           rps is not None and rps >= slo.min_throughput_rps))
    for tier, t in sorted(slo.tiers.items()):
        obs = tiers.get(tier)
        out += _latency(f"tier.{tier}", t, obs)
        if t.error_ratio is not None:
            out.append(_at_most(f"tier.{tier}.error_ratio", t.error_ratio,
                                _ratio(obs.failed, obs.requests) if obs else None))
        if t.limited_ratio is not None:
            r = _ratio(obs.limited, obs.requests) if obs else None
            lo, hi = t.limited_ratio.min, t.limited_ratio.max
            out.append(Verdict(f"tier.{tier}.limited_ratio", f"in [{lo:g}, {hi:g}]", r,
                               r is not None and lo <= r <= hi))
    for route, r_slo in sorted(slo.routes.items()):
        out += _latency(f"route.{route}", r_slo, routes.get(route))
    return out


def should_abort(rule: AbortRule, elapsed_s: float, total: Observed) -> str | None:
    """A reason to stop now, or None. Only for clearly blown runs, never borderline."""
    if elapsed_s < rule.after_s or total.requests < rule.min_requests:
        return None
    ratio = total.failed / total.requests
    if ratio > rule.error_ratio:
        return (f"abort.error_ratio: {ratio:.1%} of requests failed after {elapsed_s:.0f} s "
                f"(abort threshold {rule.error_ratio:.0%})")
    if rule.p99_ms is not None and total.p99 is not None and total.p99 > rule.p99_ms:
        return (f"abort.p99_ms: p99 {total.p99:.0f} ms after {elapsed_s:.0f} s "
                f"(abort threshold {rule.p99_ms:g} ms)")
    return None
