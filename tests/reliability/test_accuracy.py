from __future__ import annotations

from harness.reliability.accuracy import (
    Sample,
    analyse,
    counter_within_bounds,
    peak_in_rolling_window,
    window_of,
)


def _s(n: int, t: float, status: int | None = 200, reset: int | None = None) -> Sample:
    return Sample(f"n{n}", sent_at=t - 0.01, received_at=None if status is None else t,
                  status=status, reset_s=reset)


def test_window_of_uses_the_gateways_reset_header_not_the_clients_clock():
    # Sent at 119.95, answered at 120.05 with 1 s left: the gateway's clock said 119.
    assert window_of(Sample("a", 119.95, 120.05, 200, 1), 60) == 60
    # Same instants, reset 60: the gateway's clock said 120, window [120,180).
    assert window_of(Sample("a", 119.95, 120.05, 200, 60), 60) == 120
    # Mid-window: 30 s left at 90.4 -> window [60,120).
    assert window_of(Sample("a", 90.3, 90.4, 200, 30), 60) == 60


def test_window_of_falls_back_to_the_send_time_without_an_answer():
    assert window_of(_s(1, 61.5, status=None), 60) == 60
    assert window_of(_s(1, 10.2, status=None), 1) == 10


def test_no_over_admission_when_the_backend_saw_exactly_the_limit_per_window():
    samples = [_s(i, 100.0 + i * 0.01, 200 if i % 100 < 10 else 429, reset=1) for i in range(200)]
    backend = {s.nonce: 1 for s in samples if s.status == 200}
    rep = analyse(samples, backend, limit=10, window_s=1)
    assert [w.admitted for w in rep.windows] == [10, 10]
    assert rep.over_admission_pct == 0.0 and rep.max_over == 0
    assert rep.lost == [] and rep.unexpected == []


def test_over_admission_counts_what_the_backend_received_beyond_the_limit():
    samples = [_s(i, 100.5, 200, reset=1) for i in range(12)] + \
              [_s(100 + i, 101.5, 200 if i < 10 else 429, reset=1) for i in range(15)]
    backend = {s.nonce: 1 for s in samples if s.status == 200}
    rep = analyse(samples, backend, limit=10, window_s=1)
    assert [w.over for w in rep.windows] == [2, 0]
    # Σ over / (limit × saturated windows) = 2 / (10 × 2)
    assert rep.over_admission_pct == 10.0


def test_a_request_the_backend_saw_twice_counts_twice():
    samples = [_s(i, 100.5, 200, reset=1) for i in range(11)]
    backend = {s.nonce: 1 for s in samples}
    backend["n0"] = 2   # a retried request delivered twice
    rep = analyse(samples, backend, limit=10, window_s=1)
    assert rep.windows[0].admitted == 12 and rep.max_over == 2


def test_client_successes_the_backend_never_saw_are_reported_lost():
    samples = [_s(1, 100.5, 200, reset=1), _s(2, 100.5, 429, reset=1)]
    rep = analyse(samples, {"n2": 1}, limit=10, window_s=1)
    assert rep.lost == ["n1"] and rep.unexpected == ["n2"]


def test_errors_count_missing_answers_and_5xx():
    samples = [_s(1, 100.5, None), _s(2, 100.5, 503, reset=None), _s(3, 100.5, 200, reset=1)]
    rep = analyse(samples, {"n3": 1}, limit=10, window_s=1)
    assert rep.errors == 2 and rep.answered == 2


def test_rolling_peak_finds_the_boundary_burst_of_a_fixed_window():
    # 10 admitted at the end of one window and 10 at the start of the next.
    times = [100.9 + i * 0.001 for i in range(10)] + [101.0 + i * 0.001 for i in range(10)]
    assert peak_in_rolling_window(times, 1.0) == 20
    samples = [Sample(f"n{i}", t, t, 200, None) for i, t in enumerate(times)]
    rep = analyse(samples, {s.nonce: 1 for s in samples}, limit=10, window_s=1)
    assert rep.peak_ratio == 2.0 and rep.over_admission_pct == 0.0


def test_rolling_window_is_half_open():
    assert peak_in_rolling_window([0.0, 1.0, 2.0], 1.0) == 1
    assert peak_in_rolling_window([], 1.0) == 0


def test_unsaturated_windows_do_not_dilute_the_over_admission_figure():
    samples = [_s(i, 100.5, 200, reset=1) for i in range(3)]   # demand below the limit
    rep = analyse(samples, {s.nonce: 1 for s in samples}, limit=10, window_s=1)
    assert rep.full_windows == [] and rep.over_admission_pct == 0.0


def test_counter_bound_holds_between_definite_answers_and_requests_sent():
    group = [_s(1, 1, 200), _s(2, 1, 429), _s(3, 1, None)]
    assert counter_within_bounds(2, group) == (True, 2, 3)
    assert counter_within_bounds(3, group) == (True, 2, 3)
    assert counter_within_bounds(1, group)[0] is False    # a lost increment
    assert counter_within_bounds(4, group)[0] is False    # counted more than sent
