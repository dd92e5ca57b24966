"""The load report document, its Markdown/HTML renderings, compare and trend — on reports
built from real Recorder data (no Locust needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.cli import main
from harness.client import GatewayClient
from harness.errors import ConfigError
from harness.load.context import LoadContext
from harness.load.profiles import load_profiles
from harness.load.recorder import Recorder
from harness.load.report_build import build_report
from harness.model import load_gateway
from harness.reports.compare import compare, render_compare_text
from harness.reports.load import LoadReport, load_report, report_paths, target_identity, \
    write_report
from harness.reports.markdown import render_markdown
from harness.reports.trend import find_runs, render_trend_text
from harness.tokens import dev_minter

ROOT = Path(__file__).resolve().parents[2]
GW = load_gateway(ROOT)
CAT = load_profiles(ROOT / "scenarios/load/profiles.yaml")
NONE = {}.get


def make_report(latency_ms: float, *, profile: str = "smoke", stamp: str = "20260101T000000Z",
                failed: int = 0, seed: int = 1, complete: bool = True) -> LoadReport:
    prof = CAT.profile(profile)
    clock = [1000.0]
    rec = Recorder({t: GW.tier_limits(t) for t in GW.tiers.tiers}, [prof.duration],
                   clock=lambda: clock[0])
    rec.start()
    rng = random.Random(seed)
    for i in range(600):
        clock[0] = 1000.0 + i * prof.duration / 600
        kind = ("basic", "pro", "enterprise")[i % 3]
        status = 500 if i < failed else 200
        rec.record(kind, kind, {"basic": "hooli", "pro": "globex", "enterprise": "acme"}[kind],
                   "users", status, rng.uniform(0.8, 1.2) * latency_ms, NONE)
    ctx = LoadContext(ROOT, GW, CAT, profile, GatewayClient(GW, dev_minter(), "http://x"), rec)
    ident = target_identity("native", "native", "http://x", "test-gateway", "1", GW.config_hash,
                            ROOT)
    return build_report(ctx=ctx, profile=prof, ident=ident, started_at=stamp, complete=complete,
                        reason=None if complete else "interrupted", workers=0, slo=None,
                        slo_path=None, duration=prof.duration, cpu=None, events=[],
                        prom_url=None, aborted=None)


def test_a_report_round_trips_through_its_json_file(tmp_path):
    rep = make_report(10)
    paths = report_paths(tmp_path, "0.1.0", "native", "smoke", rep.started_at)
    write_report(rep, paths)
    assert paths["json"].name == "load-smoke-20260101T000000Z.json"
    assert paths["json"].parent == tmp_path / "0.1.0" / "native"
    back = load_report(paths["json"])
    assert back == rep
    assert back.per_tier["pro"].latency.count == 200
    html = paths["html"].read_text()
    assert "src='data:image/png;base64," in html      # self-contained: plots embedded
    assert "src='http" not in html and "<script" not in html and "<link" not in html


def test_a_file_that_is_not_a_load_report_is_refused_naming_the_field(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"kind": "conformance"}))
    with pytest.raises(ConfigError, match=r"r.json: kind: expected 'load' \(a load report\)"):
        load_report(p)
    p.write_text(json.dumps({"kind": "load", "schema_version": 99}))
    with pytest.raises(ConfigError, match="schema_version: expected 1, got 99"):
        load_report(p)


def test_markdown_is_short_and_says_pass_or_incomplete():
    md = render_markdown(make_report(10))
    assert md.startswith("### Load `smoke` on test-gateway (native): ✅ pass")
    assert len(md.splitlines()) < 40
    assert "⚠️ incomplete" in render_markdown(make_report(10, complete=False))


def test_compare_flags_a_latency_regression_and_not_noise():
    old, same, slow = make_report(10, seed=1), make_report(10.3, seed=2), make_report(30, seed=3)
    assert not [r for r in compare(old, same) if r.regression]
    bad = {r.figure for r in compare(old, slow) if r.regression}
    assert {"total.p50_ms", "tier.enterprise.p95_ms", "route.users.p99_ms"} <= bad
    text = render_compare_text(old, slow, compare(old, slow))
    assert "REGRESSION" in text and text.rstrip().endswith("route.users.p99_ms")


def test_compare_flags_a_rise_in_errors():
    rows = compare(make_report(10), make_report(10, failed=30))
    bad = {r.figure for r in rows if r.regression}
    assert {"total.error_ratio", "route.users.error_ratio"} <= bad


def test_harness_report_compare_exits_1_on_regression_and_0_otherwise(tmp_path, capsys):
    files = []
    for i, lat in enumerate((10, 10.2, 40)):
        rep = make_report(lat, seed=i, stamp=f"2026010{i + 1}T000000Z")
        files.append(write_report(rep, report_paths(tmp_path, "0.1.0", "native", "smoke",
                                                    rep.started_at), json_only=True)["json"])
    assert main(["report", "compare", str(files[0]), str(files[1])]) == 0
    assert main(["report", "compare", str(files[0]), str(files[2])]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and (files[2].with_name(files[2].stem + ".compare.html")).exists()


def test_trend_lists_every_run_of_a_profile_oldest_first(tmp_path, capsys):
    for i, stamp in enumerate(("20260103T000000Z", "20260101T000000Z", "20260102T000000Z")):
        rep = make_report(10 + i, seed=i, stamp=stamp)
        write_report(rep, report_paths(tmp_path, "0.1.0", "native", "smoke", stamp),
                     json_only=True)
    runs = find_runs(tmp_path)
    assert [r.started_at for _, r in runs["smoke"]] == sorted(
        ["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"])
    assert "profile smoke: 3 run(s)" in render_trend_text(runs)
    assert main(["report", "trend", str(tmp_path)]) == 0
    assert (tmp_path / "load-trend.html").exists()
