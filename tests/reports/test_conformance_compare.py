"""`harness report compare` on two conformance reports: case by case, regressions exit 1.

Reports are built with the real builder and written with the real writer, then read back
through the CLI, as an SRE compares the runs of two releases."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.reports.conformance import CaseResult, TargetIdentity, build_report, write_report
from harness.reports.conformance_compare import compare_conformance, load_conformance


def _case(name: str, outcome: str, duration: float = 0.1, message: str = "") -> CaseResult:
    scenario, case = name.split("/")
    return CaseResult(scenario, case, ("routing",), (), outcome, duration,  # type: ignore[arg-type]
                      message)


def _write(tmp: Path, stamp: str, cases: list[CaseResult], *, config_hash: str = "aaaa",
           finished: bool = True, total: int | None = None) -> Path:
    ident = TargetIdentity(kind="native", gateway_impl="harness-reference-gateway",
                           gateway_version="3.9.1", config_hash=config_hash,
                           git_revision="abc123", proxy_url="http://127.0.0.1:1")
    started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    report = build_report(harness_version="0.1.0", started_at=started, target=ident,
                          results=cases, cases_total=total or len(cases), figures={},
                          finished=finished)
    json_path = tmp / f"conformance-{stamp}.json"
    write_report(report, json_path, tmp / f"conformance-{stamp}.xml")
    return json_path


OLD = [_case("routing/exact", "passed"), _case("routing/wildcard", "passed"),
       _case("jwt/expired", "failed", message="status: expected 401, got 200"),
       _case("tls/sni", "passed", 0.2), _case("cors/preflight", "passed"),
       _case("metrics/requests", "skipped", message="no Prometheus")]


def test_a_case_that_passed_and_now_fails_is_a_regression_and_exits_1(tmp_path, capsys):
    new = [_case("routing/exact", "passed"),
           _case("routing/wildcard", "failed", message="status: expected 200, got 404"),
           _case("jwt/expired", "passed"), _case("tls/sni", "passed", 3.5),
           _case("cors/preflight", "skipped", message="no Origin support"),
           _case("metrics/requests", "passed"), _case("routing/regex", "passed")]
    old_p = _write(tmp_path, "20260101T000000Z", OLD)
    new_p = _write(tmp_path, "20260201T000000Z", new, config_hash="bbbb")
    assert main(["report", "compare", str(old_p), str(new_p)]) == 1
    out = capsys.readouterr().out
    assert "config hash   aaaa  ->  bbbb   <- changed" in out
    assert "REGRESSIONS (passed or skipped before, failed now): 1" in out
    assert "routing/wildcard: passed -> failed  (status: expected 200, got 404)" in out
    assert "fixed: 1\n  jwt/expired: failed -> passed" in out
    assert "now skipped (a skip can hide a failure): 1\n  cors/preflight: passed -> skipped" \
        "  (no Origin support)" in out
    assert "run again (were skipped): 1\n  metrics/requests: skipped -> passed" in out
    assert "added cases: 1\n  routing/regex: - -> passed" in out
    assert "slower (> 2x and > +1 s): 1\n  tls/sni: 0.20 s -> 3.50 s" in out
    assert out.rstrip().endswith("unchanged: 1; regressions: 1")


def test_the_same_outcomes_exit_0_and_list_a_removed_case(tmp_path, capsys):
    old_p = _write(tmp_path, "20260101T000000Z", OLD)
    new_p = _write(tmp_path, "20260201T000000Z", OLD[:-1])
    assert main(["report", "compare", str(old_p), str(new_p)]) == 0
    out = capsys.readouterr().out
    assert "removed cases: 1\n  metrics/requests: skipped -> -" in out
    assert "REGRESSIONS" not in out and "regressions: 0" in out


def test_an_incomplete_new_run_is_a_regression_but_its_missing_cases_are_not_removals(tmp_path):
    old_p = _write(tmp_path, "20260101T000000Z", OLD)
    new_p = _write(tmp_path, "20260201T000000Z", OLD[:2], finished=False, total=len(OLD))
    diff = compare_conformance(load_conformance(old_p), load_conformance(new_p))
    assert diff.new_incomplete and diff.failed
    assert [c.kind for c in diff.changes] == []
    assert diff.unchanged == 2


def test_a_file_that_is_not_a_conformance_report_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "conformance/v1", "harness_version": "0.1.0"}))
    with pytest.raises(ConfigError) as info:
        load_conformance(bad)
    assert str(bad) in str(info.value) and "conformance/v1" in str(info.value)
    bad.write_text(json.dumps({"schema": "conformance/v9"}))
    with pytest.raises(ConfigError, match=r"schema: expected 'conformance/v1', got "
                                          r"'conformance/v9'"):
        load_conformance(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"line 1: expected JSON"):
        load_conformance(bad)


def test_trend_lists_every_run_oldest_first_and_plots_only_full_runs(tmp_path, capsys):
    full_old = _write(tmp_path, "20260101T000000Z", OLD)
    subset = _write(tmp_path, "20260115T000000Z", OLD[:2])
    cut = _write(tmp_path, "20260120T000000Z", OLD[:3], finished=False, total=len(OLD))
    _write(tmp_path, "20260201T000000Z", OLD)
    for path in (full_old, subset, cut):   # the whole suite has len(OLD) cases
        doc = json.loads(path.read_text())
        doc["suite_cases"] = len(OLD)
        path.write_text(json.dumps(doc))
    assert main(["report", "trend", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("2026-")]
    assert [ln.split()[0][:10] for ln in lines] == ["2026-01-01", "2026-01-15", "2026-01-20",
                                                    "2026-02-01"]
    assert [ln.split()[-1] if "cut short" not in ln else "cut short" for ln in lines] == [
        "full", "subset", "cut short", "full"]
    assert "conformance on native: 4 run(s), 2 full" in out
    html = (tmp_path / "conformance-trend.html").read_text()
    assert html.count("<img") >= 1 and "2026-02-01T00" in html and "2026-01-15T00" in html
