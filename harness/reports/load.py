"""The load report: a typed, versioned document (schema below), built from a Recorder.

Files: reports/<harness-version>/<target>/load-<profile>-<timestamp>.{json,html,md},
each written atomically (harness.reports.io). A run that is interrupted or
killed leaves `complete: false` with the reason (the JSON is first written
when the run starts). `load_report(path)` reads one back for compare/trend.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError
from harness.reports.io import atomic_write_json, atomic_write_text

__all__ = ["Figures", "LatencyMs", "LoadReport", "SCHEMA_VERSION", "TargetIdentity",
           "figures_of", "load_report", "report_paths", "target_identity", "write_report"]

SCHEMA_VERSION: Literal[1] = 1


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyMs(_Doc):
    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float


class Figures(_Doc):
    requests: int
    ok: int
    limited: int
    failed: int
    rps: float
    error_ratio: float
    limited_ratio: float
    latency: LatencyMs | None          # served (2xx) requests
    latency_all: LatencyMs | None      # every response, 429s and errors included
    by_class: dict[str, LatencyMs] = {}
    statuses: dict[str, int] = {}
    histogram: str = ""                # HDR histogram (2xx, µs), base64 of the compressed form


class SeriesPoint(_Doc):
    t: int                             # second since the start
    kind: str                          # tier or "flood"
    requests: int
    ok: int
    limited: int
    failed: int
    p50: float | None
    p95: float | None
    p99: float | None


class StageFigures(_Doc):
    index: int
    start_s: float
    end_s: float
    users: dict[str, int] | int
    per_tier: dict[str, Figures]


class Verdict(_Doc):
    name: str
    objective: str
    observed: float | None
    passed: bool

    def line(self) -> str:
        seen = "no data" if self.observed is None else f"{self.observed:.4g}"
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.objective}, observed {seen}"


class SLOResult(_Doc):
    file: str | None
    section: str | None
    passed: bool
    verdicts: list[Verdict]
    aborted: str | None = None          # reason of an early abort


class Generator(_Doc):
    processes: int
    workers: int
    cores: int
    mean_pct: float
    max_pct: float
    seconds_saturated: int
    saturated: bool
    note: str
    samples: list[tuple[float, float]]
    machine: list[tuple[float, float]]


class Comparison(_Doc):
    what: str
    client: float
    server: float | None
    flagged: bool


class PrometheusFigures(_Doc):
    available: bool
    url: str | None = None
    error: str | None = None
    requests_by_route_code: dict[str, dict[str, float]] = {}
    latency_p95_ms: dict[str, dict[str, float]] = {}   # route -> {request, kong, upstream}
    upstream_health: dict[str, list[tuple[float, float]]] = {}  # target -> (t, healthy 0/1)
    comparisons: list[Comparison] = []


class Machine(_Doc):
    hostname: str
    platform: str
    python: str
    cpu: str
    cores: int


class TargetIdentity(_Doc):
    name: str                          # the reports/ directory name: native, compose, url, ...
    kind: str
    proxy_url: str
    gateway_impl: str
    gateway_version: str
    config_hash: str
    git_revision: str
    git_dirty: bool
    machine: Machine


class Isolation(_Doc):
    """Noisy-neighbour view: the others' figures without and with the flood."""

    flood_tenant: str
    flood: Figures | None
    baseline: dict[str, Figures]        # kind -> figures while nobody floods
    during: dict[str, Figures]          # kind -> figures during the flood
    p95_change: dict[str, float | None]  # kind -> relative change of 2xx p95
    leaked: bool
    summary: str


class LoadReport(_Doc):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["load"] = "load"
    harness_version: str
    profile: str
    profile_description: str
    stages: list[dict[str, Any]]
    started_at: str
    finished_at: str | None
    duration_s: float
    complete: bool
    incomplete_reason: str | None = None
    target: TargetIdentity
    workers: int = 0
    slo: SLOResult | None = None
    totals: Figures | None = None
    per_tier: dict[str, Figures] = {}
    per_route: dict[str, Figures] = {}
    per_tenant: dict[str, Figures] = {}
    per_stage: list[StageFigures] = []
    series: list[SeriesPoint] = []
    failure_reasons: dict[str, int] = {}
    events: list[dict[str, Any]] = []
    preparation: list[str] = []        # what was done to the target before the run
    generator: Generator | None = None
    prometheus: PrometheusFigures | None = None
    isolation: Isolation | None = None
    summary: str = ""


# -- building figures -------------------------------------------------------

def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


def latency_of(cell: Any) -> LatencyMs | None:
    """Latency figures of a recorder Cell (HDR percentiles, exact mean from the raw sum)."""
    hist = cell.hist
    n = hist.get_total_count()
    if not n:
        return None
    pct = hist.get_percentile_to_value_dict([50, 90, 95, 99, 99.9])
    return LatencyMs(count=n, min=_ms(hist.get_min_value()), mean=_ms(cell.sum_us / n),
                     p50=_ms(pct[50]), p90=_ms(pct[90]), p95=_ms(pct[95]), p99=_ms(pct[99]),
                     p999=_ms(pct[99.9]), max=_ms(hist.get_max_value()))


def figures_of(cells: dict[str, Any], duration_s: float) -> Figures:
    """Figures of a set of Cells keyed by status class ("2xx", "4xx", ...)."""
    from harness.load.recorder import Cell

    everything = Cell()
    for cell in cells.values():
        everything.merge(cell)
    ok_cell = cells.get("2xx")
    n = everything.requests
    o = everything.outcomes
    hist = ok_cell.hist if ok_cell is not None else None
    return Figures(
        requests=n, ok=o["ok"], limited=o["limited"], failed=o["failed"],
        rps=round(n / duration_s, 3) if duration_s > 0 else 0.0,
        error_ratio=round(o["failed"] / n, 6) if n else 0.0,
        limited_ratio=round(o["limited"] / n, 6) if n else 0.0,
        latency=latency_of(ok_cell) if ok_cell is not None else None,
        latency_all=latency_of(everything),
        by_class={k: lat for k, c in sorted(cells.items()) if (lat := latency_of(c))},
        statuses={str(k): v for k, v in sorted(everything.statuses.items())},
        histogram=base64.b64encode(hist.encode()).decode() if hist is not None
        and hist.get_total_count() else "",
    )


# -- identity and files -----------------------------------------------------

def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def target_identity(name: str, kind: str, proxy_url: str, impl: str, version: str,
                    config_hash: str, root: Path) -> TargetIdentity:
    return TargetIdentity(
        name=name, kind=kind, proxy_url=proxy_url, gateway_impl=impl, gateway_version=version,
        config_hash=config_hash, git_revision=_git(root, "rev-parse", "HEAD") or "unknown",
        git_dirty=bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
        machine=Machine(hostname=socket.gethostname(), platform=platform.platform(),
                        python=platform.python_version(), cpu=_cpu_model(),
                        cores=os.cpu_count() or 1))


def timestamp(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def report_paths(reports_root: Path, harness_version: str, target: str, profile: str,
                 stamp: str) -> dict[str, Path]:
    base = reports_root / harness_version / target / f"load-{profile}-{stamp}"
    return {ext: base.with_suffix(f".{ext}") for ext in ("json", "html", "md")}


def write_report(report: LoadReport, paths: dict[str, Path], *, json_only: bool = False
                 ) -> dict[str, Path]:
    atomic_write_json(paths["json"], report.model_dump(mode="json"))
    if json_only:
        return {"json": paths["json"]}
    from harness.reports.html import render_html
    from harness.reports.markdown import render_markdown

    atomic_write_text(paths["md"], render_markdown(report, paths))
    atomic_write_text(paths["html"], render_html(report))
    return paths


def load_report(path: Path) -> LoadReport:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", "a readable load report", exc.strerror or str(exc),
                          raw_got=True) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), f"line {exc.lineno}", "JSON", exc.msg, raw_got=True) from None
    if not isinstance(raw, dict) or raw.get("kind") != "load":
        raise ConfigError(str(path), "kind", "'load' (a load report)",
                          raw.get("kind") if isinstance(raw, dict) else type(raw).__name__)
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(str(path), "schema_version", f"{SCHEMA_VERSION}",
                          raw.get("schema_version"))
    try:
        return LoadReport.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(str(path), where, err["msg"], err.get("input"), ) from None
