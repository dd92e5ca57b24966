"""The reliability section of the conformance report.

Built from the case results and the flat `figures` the reliability scenarios
record (keys under `security.`, `ratelimit.`, `breaker.`, `redis.`,
`tenant_service.`, `hygiene.`). Registered with
`harness.reports.conformance.register_section` on import; a run without any
reliability case gets no section.

Gates (issue 8): hostile inputs that reached a backend = 0, 5xx = 0, hangs = 0;
over-admission with synchronous counting = 0 %; orphans after kill = 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.reports.conformance import CaseResult, register_section

__all__ = ["reliability_section"]

# Figures of the long benches (bench/ratelimit_accuracy.py, bench/harness_hygiene.py),
# written where the report's own figures cannot come from a CI-length run.
BENCH_DIR = Path(__file__).resolve().parents[2] / "reports" / "reliability"


def bench_figures(directory: Path = BENCH_DIR) -> dict[str, Any]:
    """{"ratelimit_accuracy": {...}, "hygiene": {...}} of the last bench runs present."""
    out: dict[str, Any] = {}
    for key, name in (("ratelimit_accuracy", "ratelimit-accuracy.json"),
                      ("hygiene", "hygiene.json")):
        try:
            out[key] = json.loads((directory / name).read_text())
        except (OSError, ValueError):
            continue
    return out


_PREFIXES = ("security.", "ratelimit.", "breaker.", "redis.", "tenant_service.", "hygiene.",
             "replica.")


def _group(figures: dict[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix):]: v for k, v in sorted(figures.items()) if k.startswith(prefix)}


def reliability_section(results: list[CaseResult], figures: dict[str, float]
                        ) -> dict[str, Any] | None:
    hostile = [r for r in results if r.scenario == "hostile-inputs"]
    faults = [r for r in results if r.scenario.startswith("fault-")]
    if not hostile and not faults and not any(k.startswith(_PREFIXES) for k in figures):
        return None
    sec = _group(figures, "security.hostile.")
    failed = [r.case for r in hostile if r.outcome == "failed"]
    findings = [r.case for r in hostile if r.outcome == "skipped"
                and r.message.startswith("open finding")]
    out: dict[str, Any] = {
        "hostile_inputs": {
            "tried": int(sec.get("tried", 0)),
            "as_expected": int(sec.get("as_expected", 0)),
            "reached_backend": int(sec.get("reached_backend", 0)),
            "five_xx": int(sec.get("5xx", 0)),
            "hangs": int(sec.get("hangs", 0)),
            # Known open findings (xfail cases) are kept out of the gates above.
            "findings_reached_backend": int(sec.get("findings.reached_backend", 0)),
            "findings_five_xx": int(sec.get("findings.5xx", 0)),
            "by_table": {"jwt": {"tried": int(sec.get("jwt.tried", 0)),
                                 "as_expected": int(sec.get("jwt.as_expected", 0))},
                         "tenant": {"tried": int(sec.get("tenant.tried", 0)),
                                    "as_expected": int(sec.get("tenant.as_expected", 0))}},
            "regressions": failed,
            "open_findings": findings,
            "backend_checked": not sec.get("backend_unchecked"),
        },
        "rate_limit": _group(figures, "ratelimit."),
        "breaker": _group(figures, "breaker."),
        "redis_fault": _group(figures, "redis."),
        "tenant_service_fault": _group(figures, "tenant_service."),
        "replica_fault": _group(figures, "replica."),
        "hygiene": _group(figures, "hygiene."),
        "fault_scenarios": {f"{r.scenario}/{r.case}": r.outcome for r in faults},
        "bench": bench_figures(),
    }
    h = out["hostile_inputs"]
    gates = {
        "hostile_reached_backend_is_0": h["reached_backend"] == 0,
        "hostile_5xx_is_0": h["five_xx"] == 0,
        "hostile_hangs_is_0": h["hangs"] == 0,
    }
    over = out["rate_limit"].get("over_admission_pct")
    if over is not None:
        gates["over_admission_is_0_pct"] = over == 0
    acc = out["bench"].get("ratelimit_accuracy")
    if acc is not None and over is None:
        gates["over_admission_is_0_pct"] = acc.get("max_over_per_window") == 0
    orphans = out["hygiene"].get("orphans")
    hyg = out["bench"].get("hygiene")
    if orphans is None and hyg is not None:
        orphans = hyg.get("orphans")
    if orphans is not None:
        gates["orphans_after_kill_is_0"] = orphans == 0
    out["gates"] = gates
    out["passed"] = all(gates.values())
    return out


register_section("reliability", reliability_section)
