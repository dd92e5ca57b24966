import pytest

from harness.contracts import Clock, Mismatch, Timeouts, await_convergence, await_window
from harness.errors import ConvergenceTimeout


class FakeClock(Clock):
    def __init__(self):
        self.now = 1000.0
        super().__init__(monotonic=lambda: self.now, wall=lambda: self.now,
                         sleep=self._sleep)

    def _sleep(self, s):
        self.now += s


def seq(results):
    it = iter(results)
    return lambda: next(it)


FAIL = Mismatch("status", "200", "503")


def test_needs_n_consecutive_passes_and_a_failure_resets_the_streak():
    t = Timeouts(required_consecutive_successes=3, poll_interval=0.1)
    check = seq([None, None, FAIL, None, None, None])
    assert await_convergence(check, t, clock=FakeClock()) == 6


def test_timeout_reports_attempts_streak_and_last_mismatch():
    t = Timeouts(required_consecutive_successes=3, poll_interval=0.5,
                 max_time_to_consistency=2.0)
    with pytest.raises(ConvergenceTimeout) as info:
        await_convergence(lambda: FAIL, t, what="ejection", clock=FakeClock())
    msg = str(info.value)
    assert msg.startswith("ejection did not converge within 2.0 s: 5 attempts, 0/3 "
                          "consecutive successes at the end; last mismatch: expected status "
                          "200, got 503")


def test_window_check_returns_at_once_when_the_burst_fits():
    clk = FakeClock()
    assert await_window(2.0, 30.0, Timeouts(window_margin=3.0), clock=clk) == 0.0
    assert clk.now == 1000.0


def test_window_check_waits_past_the_boundary_when_the_burst_does_not_fit():
    clk = FakeClock()
    waited = await_window(5.0, 4.0, Timeouts(window_margin=3.0), clock=clk)
    assert 4.0 < waited < 4.5
