import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from harness.reports.conformance import (
    CaseResult,
    TargetIdentity,
    build_report,
    load_report,
    report_paths,
    write_report,
)

T = TargetIdentity("native", "harness-reference-gateway", "3.9.1", "abc123", "deadbeef")
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
RESULTS = [
    CaseResult("routing", "users@acme", ("routing",), ("enterprise",), "passed", 0.01),
    CaseResult("jwt-refusals", "expired@users", ("jwt",), (), "failed", 0.02,
               "expected status 401, got 200\n  request sent: GET ..."),
    CaseResult("circuit-breaker", "all-down", ("breaker",), (), "skipped", 0.0,
               "skipping circuit-breaker: target url does not support breaker"),
]


def test_report_path_follows_the_naming_rule(tmp_path):
    j, x = report_paths(tmp_path, "0.1.0", "native", START)
    assert j == tmp_path / "0.1.0/native/conformance-20260102T030405Z.json"
    assert x == j.with_suffix(".xml")


def test_profiles_count_core_and_extended_results(tmp_path):
    r = build_report(harness_version="0.1.0", started_at=START, target=T, results=RESULTS,
                     cases_total=3, figures={"breaker.all_down_503_ms": 4.2}, finished=True)
    http = next(p for p in r.profiles if p.name == "GATEWAY-HTTP")
    assert http.core.result == "failure"
    assert http.core.failed_tests == ["jwt-refusals/expired@users"]
    assert (http.core.statistics.passed, http.core.statistics.failed) == (1, 1)
    res = next(p for p in r.profiles if p.name == "GATEWAY-RESILIENCE")
    assert res.extended.result == "partial" and res.extended.skipped_tests == [
        "circuit-breaker/all-down"]
    assert not r.incomplete and r.summary == "1 passed, 1 failed, 1 skipped of 3 cases"


def test_a_run_cut_short_is_marked_incomplete(tmp_path):
    r = build_report(harness_version="0.1.0", started_at=START, target=T, results=RESULTS[:1],
                     cases_total=3, figures={}, finished=False)
    assert r.incomplete and r.finished_at is None and r.summary.endswith("(INCOMPLETE run)")


def test_json_round_trips_and_junit_lists_every_case(tmp_path):
    r = build_report(harness_version="0.1.0", started_at=START, target=T, results=RESULTS,
                     cases_total=3, figures={}, finished=True)
    j, x = report_paths(tmp_path, "0.1.0", "native", START)
    write_report(r, j, x)
    assert load_report(j) == r
    assert json.loads(j.read_text())["schema"] == "conformance/v1"
    suite = ET.parse(x).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='expired@users']/failure")
    assert failure is not None and failure.get("message") == "expected status 401, got 200"
    assert not list(tmp_path.rglob("*.tmp"))
