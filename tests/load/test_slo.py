from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.slo import AbortRule, Observed, load_slo, evaluate, should_abort

ROOT = Path(__file__).resolve().parents[2]


def _obs(requests=100, failed=0, limited=0, p50=10.0, p95=20.0, p99=30.0):
    return Observed(requests, failed, limited, p50, p95, p99)


def test_the_shipped_slo_file_has_a_section_for_smoke_and_a_default():
    smoke, section = load_slo(ROOT / "scenarios/load/slo.yaml", "smoke")
    assert section == "smoke" and smoke.tiers["enterprise"].p95_ms is not None
    _, fallback = load_slo(ROOT / "scenarios/load/slo.yaml", "soak")
    assert fallback == "default"


def test_a_broken_latency_slo_is_named_with_threshold_and_observation(tmp_path):
    p = tmp_path / "slo.yaml"
    p.write_text('_format_version: "1"\nprofiles:\n  smoke:\n    tiers:\n'
                 '      pro: {p95_ms: 15}\n')
    slo, _ = load_slo(p, "smoke")
    verdicts = evaluate(slo, _obs(), 10, {"pro": _obs(p95=20)}, {})
    assert [(v.name, v.passed) for v in verdicts] == [("tier.pro.p95_ms", False)]
    assert verdicts[0].line() == "FAIL tier.pro.p95_ms: <= 15, observed 20"


def test_limited_ratio_is_a_range_and_missing_tiers_fail_with_no_data(tmp_path):
    p = tmp_path / "slo.yaml"
    p.write_text('_format_version: "1"\nprofiles:\n  default:\n    tiers:\n'
                 '      basic: {limited_ratio: {min: 0.1, max: 0.9}}\n'
                 '      pro: {limited_ratio: {max: 0}}\n')
    slo, _ = load_slo(p, "x")
    v = {x.name: x for x in evaluate(slo, _obs(), 10, {"basic": _obs(limited=50)}, {})}
    assert v["tier.basic.limited_ratio"].passed and v["tier.basic.limited_ratio"].observed == 0.5
    assert not v["tier.pro.limited_ratio"].passed and v["tier.pro.limited_ratio"].observed is None


def test_error_ratio_and_minimum_throughput_are_checked_on_the_totals(tmp_path):
    p = tmp_path / "slo.yaml"
    p.write_text('_format_version: "1"\nprofiles:\n  default:\n    error_ratio: 0.01\n'
                 '    min_throughput_rps: 20\n')
    slo, _ = load_slo(p, "x")
    v = {x.name: x for x in evaluate(slo, _obs(failed=2), 10, {}, {})}
    assert not v["error_ratio"].passed and v["error_ratio"].observed == pytest.approx(0.02)
    assert not v["min_throughput_rps"].passed and v["min_throughput_rps"].observed == 10


def test_a_bad_slo_value_names_file_field_expected_and_got(tmp_path):
    p = tmp_path / "slo.yaml"
    p.write_text('_format_version: "1"\nprofiles:\n  smoke:\n    error_ratio: 2\n')
    with pytest.raises(ConfigError) as err:
        load_slo(p, "smoke")
    assert str(err.value) == f"{p}: profiles.smoke.error_ratio: expected a number <= 1.0, got 2"


def test_abort_waits_for_enough_time_and_requests_then_names_the_rule():
    rule = AbortRule(after_s=5, min_requests=50, error_ratio=0.5)
    assert should_abort(rule, 2, _obs(failed=100)) is None
    assert should_abort(rule, 10, _obs(requests=10, failed=10)) is None
    assert should_abort(rule, 10, _obs(failed=40)) is None
    reason = should_abort(rule, 10, _obs(failed=60))
    assert reason is not None and reason.startswith("abort.error_ratio: 60.0% of requests")
