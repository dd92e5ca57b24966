from __future__ import annotations

from datetime import datetime, timezone

import harness.reliability.figures  # noqa: F401
from harness.reports.conformance import CaseResult, TargetIdentity, build_report
from harness.reliability.figures import reliability_section


def _r(case: str, outcome: str, msg: str = "") -> CaseResult:
    return CaseResult("hostile-inputs", case, ("security",), (), outcome, 0.01, msg)  # type: ignore[arg-type]


def test_section_reports_tallies_regressions_and_open_findings_apart():
    figures = {"security.hostile.tried": 3, "security.hostile.as_expected": 1,
               "security.hostile.reached_backend": 1, "security.hostile.5xx": 0,
               "ratelimit.over_admission_pct": 0.0}
    sec = reliability_section([_r("a", "passed"), _r("b", "failed"),
                               _r("c", "skipped", "open finding: crit ignored")], figures)
    assert sec is not None
    h = sec["hostile_inputs"]
    assert (h["tried"], h["reached_backend"], h["regressions"], h["open_findings"]) == \
        (3, 1, ["b"], ["c"])
    assert sec["gates"]["hostile_reached_backend_is_0"] is False
    assert sec["gates"]["over_admission_is_0_pct"] is True
    assert sec["passed"] is False


def test_a_run_without_reliability_cases_gets_no_section():
    assert reliability_section([], {"p99": 1.0}) is None


def test_the_conformance_report_carries_the_registered_section():
    ident = TargetIdentity("native", "x", "1", "h", "r")
    rep = build_report(harness_version="0", started_at=datetime.now(timezone.utc),
                       target=ident, results=[_r("a", "passed")], cases_total=1,
                       figures={"security.hostile.tried": 1,
                                "security.hostile.as_expected": 1}, finished=True)
    assert rep.sections["reliability"]["hostile_inputs"]["as_expected"] == 1
    assert rep.to_json()["sections"]["reliability"]["passed"] is True


def test_bench_figures_are_read_from_the_bench_outputs(tmp_path):
    from harness.reliability.figures import bench_figures

    (tmp_path / "ratelimit-accuracy.json").write_text('{"max_over_per_window": 0}')
    (tmp_path / "hygiene.json").write_text("not json")
    assert bench_figures(tmp_path) == {"ratelimit_accuracy": {"max_over_per_window": 0}}
