import random

import pytest

from harness.load.recorder import Recorder
from harness.load.summary import sliced, totals

LIMITS = {"basic": {"minute": 30, "hour": 600}, "enterprise": {"minute": 600, "hour": 20000}}


def _headers(d):
    low = {k.lower(): v for k, v in d.items()}
    return lambda name: low.get(name.lower())


NONE = _headers({})
BASIC_EXHAUSTED = _headers({"X-RateLimit-Limit-Minute": "30", "X-RateLimit-Remaining-Minute": "0"})


def _exact(values, q):
    s = sorted(values)
    return s[max(int(round(q / 100 * len(s) + 0.5)) - 1, 0)]


def test_percentiles_match_the_raw_samples_within_a_tenth_of_a_percent():
    rec = Recorder(LIMITS, [10.0], clock=lambda: 1000.0)
    rng = random.Random(7)
    raw = [rng.lognormvariate(1.0, 0.8) for _ in range(20000)]  # ms
    for ms in raw:
        rec.record("enterprise", "enterprise", "acme", "users", 200, ms, NONE)
    lat = sliced(rec.cells, 0, 10)["enterprise"].latency
    for q, got in ((50, lat.p50), (95, lat.p95), (99, lat.p99)):
        want = _exact(raw, q)
        assert abs(got - want) / want <= 0.001, (q, got, want)


def test_a_429_with_the_tiers_own_limit_exhausted_counts_as_limited_not_failed():
    rec = Recorder(LIMITS, [10.0], clock=lambda: 1000.0)
    assert rec.record("basic", "basic", "umbrella", "users", 429, 1.0, BASIC_EXHAUSTED) == \
        "limited"
    assert rec.record("enterprise", "enterprise", "acme", "users", 429, 1.0,
                      BASIC_EXHAUSTED) == "failed"     # someone else's limit hit acme
    assert rec.record("basic", "basic", "umbrella", "users", 429, 1.0, NONE) == "failed"
    assert rec.record("basic", "basic", "umbrella", "users", 503, 1.0, NONE) == "failed"
    fig = totals(rec, 1.0)
    assert (fig.limited, fig.failed, fig.ok) == (1, 3, 0)
    assert any("429 not explained" in r for r in rec.reasons)


def test_requests_land_in_the_stage_of_their_second():
    from harness.load.profiles import Profile
    from harness.load.summary import per_stage

    now = [1000.0]
    rec = Recorder(LIMITS, [5.0, 10.0], clock=lambda: now[0])
    rec.start()
    for t in (0.5, 4.9, 5.1, 9.9, 12.0):
        now[0] = 1000.0 + t
        rec.record("basic", "basic", "hooli", "users", 200, 1.0, NONE)
    prof = Profile(description="d", stages=[{"duration": 5, "users": 1},
                                            {"duration": 5, "users": 1}])
    stages = per_stage(rec, prof)
    # after the last stage's end (the final stop): counted in the last one
    assert [s.per_tier["basic"].requests for s in stages] == [2, 3]


def test_drained_worker_deltas_merge_into_the_same_figures_as_one_recorder():
    direct = Recorder(LIMITS, [10.0], clock=lambda: 1000.0)
    master = Recorder(LIMITS, [10.0], clock=lambda: 1000.0)
    workers = [Recorder(LIMITS, [10.0], clock=lambda: 1000.0) for _ in range(2)]
    rng = random.Random(3)
    for i in range(3000):
        ms, status = rng.uniform(0.2, 50), rng.choice([200, 200, 200, 429, 500])
        hdr = BASIC_EXHAUSTED if status == 429 else NONE
        direct.record("basic", "basic", "hooli", "users", status, ms, hdr)
        workers[i % 2].record("basic", "basic", "hooli", "users", status, ms, hdr)
        if i % 700 == 0:
            for w in workers:
                master.merge(w.drain())
    for w in workers:
        master.merge(w.drain())
    a, b = totals(direct, 10), totals(master, 10)
    assert (a.requests, a.ok, a.limited, a.failed) == (b.requests, b.ok, b.limited, b.failed)
    assert a.latency == b.latency
    assert sum(c.requests for c in master.series.values()) == 3000


@pytest.mark.parametrize("status,cls", [(200, "2xx"), (429, "4xx"), (503, "5xx"), (0, "err")])
def test_cells_are_keyed_by_status_class(status, cls):
    rec = Recorder(LIMITS, [10.0], clock=lambda: 1000.0)
    rec.record("basic", "basic", "hooli", "users", status, 1.0, NONE)
    assert list(rec.cells) == [("basic", "users", cls)]
    assert [k[1:] for k in rec.series] == [("basic", cls)]


def test_the_inlined_recording_matches_hdrhistograms_own_record_value():
    from harness.load.recorder import Cell, new_histogram

    rng = random.Random(11)
    for digits in (2, 3):
        cell, ref = Cell(digits), new_histogram(digits)
        for _ in range(5000):
            us = int(rng.lognormvariate(8, 2.5))
            cell.add(us, 200, "ok")
            ref.record_value(min(max(us, 1), 60_000_000))
        assert list(cell.hist.counts) == list(ref.counts)
        assert (cell.hist.get_total_count(), cell.hist.get_min_value(),
                cell.hist.get_max_value()) == (ref.get_total_count(), ref.get_min_value(),
                                               ref.get_max_value())


def test_the_vectorised_batch_recording_matches_hdrhistograms_own_record_value():
    from harness.load.recorder import Cell, new_histogram

    rng = random.Random(12)
    for digits in (2, 3):
        cell, ref = Cell(digits), new_histogram(digits)
        values = [int(rng.lognormvariate(8, 2.5)) for _ in range(5000)] + [0, 70_000_000]
        cell.add_many(values[:2500])
        cell.add_many(values[2500:])
        for us in values:
            ref.record_value(min(max(us, 1), 60_000_000))
        assert list(cell.hist.counts) == list(ref.counts)
        assert (cell.hist.get_total_count(), cell.hist.get_min_value(),
                cell.hist.get_max_value()) == (ref.get_total_count(), ref.get_min_value(),
                                               ref.get_max_value())
        assert cell.sum_us == sum(values)


def test_pending_requests_are_flushed_when_the_second_changes_or_a_view_is_read():
    now = [1000.2]
    rec = Recorder(LIMITS, [10.0], clock=lambda: now[0])
    rec.record("basic", "basic", "hooli", "users", 200, 2.0, NONE)
    assert rec._pending and not rec._cells          # buffered, not yet in a histogram
    now[0] = 1001.1
    rec.record("basic", "basic", "hooli", "users", 200, 3.0, NONE)
    assert rec._cells[("basic", "users", "2xx")].requests == 1   # second 1000 flushed
    assert rec.cells[("basic", "users", "2xx")].requests == 2    # reading flushes the rest
    assert sorted(k[0] for k in rec.series) == [1000, 1001]
    assert rec.tenants[("hooli",)].outcomes["ok"] == 2
