"""Converge, don't sleep: N consecutive passes within a time limit.

The gateway is eventually consistent in places (health checks eject and
re-admit targets, rate-limit windows roll over, Prometheus scrapes on an
interval). Scenarios never sleep; they call `await_convergence` with a check
that returns None on success or a Mismatch, and `await_window` when a burst
must fit inside one rate-limit window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from harness.contracts.compare import Mismatch
from harness.errors import ConvergenceTimeout

__all__ = ["Clock", "Timeouts", "await_convergence", "await_window"]

T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    """Every time limit of the contract suite, in seconds (counts where noted)."""

    request: float = 10.0
    """One HTTP round trip to the gateway."""
    max_time_to_consistency: float = 30.0
    """Longest an eventually-consistent check may take (Gateway API's conformance limit)."""
    required_consecutive_successes: int = 3
    """Passes in a row before a converging check counts as settled (a count)."""
    poll_interval: float = 0.1
    """Pause between two attempts of a converging check."""
    window_margin: float = 3.0
    """Seconds kept free before a rate-limit window ends when a burst starts."""
    breaker_fast_503_ms: float = 200.0
    """Upper bound of the all-targets-down 503 response time (milliseconds)."""
    metrics_scrape: float = 15.0
    """Longest wait for Prometheus to show traffic just sent."""


@dataclass
class Clock:
    """Time source of the helpers (tests inject a fake one)."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


def await_convergence(check: Callable[[], Mismatch | None], timeouts: Timeouts, *,
                      what: str = "check", required: int | None = None,
                      max_time: float | None = None, clock: Clock | None = None) -> int:
    """Run `check` until it passes `required` times in a row; return the attempt count.

    A failing attempt resets the streak. On timeout raise ConvergenceTimeout
    naming the attempts, successes/required and the last mismatch.
    """
    clk = clock or Clock()
    need = timeouts.required_consecutive_successes if required is None else required
    limit = timeouts.max_time_to_consistency if max_time is None else max_time
    deadline = clk.monotonic() + limit
    attempts = streak = 0
    last: Mismatch | None = None
    while True:
        attempts += 1
        result = check()
        if result is None:
            streak += 1
            if streak >= need:
                return attempts
        else:
            streak, last = 0, result
        if clk.monotonic() + timeouts.poll_interval > deadline:
            break
        clk.sleep(timeouts.poll_interval)
    raise ConvergenceTimeout(
        f"{what} did not converge within {limit:.1f} s: {attempts} attempts, "
        f"{streak}/{need} consecutive successes at the end"
        + (f"; last mismatch: {last.message}" if last else ""))


def await_window(needed: float, reset_in: float, timeouts: Timeouts, *,
                 clock: Clock | None = None) -> float:
    """Make sure a burst of `needed` seconds fits in the current rate-limit window.

    `reset_in` is the seconds left in the window (e.g. from RateLimit-Reset).
    If the burst plus the margin fits, return 0 at once; otherwise wait until
    the window has rolled over and return the seconds waited. Never waits
    longer than the window remainder (bounded by max_time_to_consistency).
    """
    clk = clock or Clock()
    if needed + timeouts.window_margin <= reset_in:
        return 0.0
    if reset_in > timeouts.max_time_to_consistency:
        raise ConvergenceTimeout(
            f"a burst of {needed:.1f} s does not fit in the {reset_in:.1f} s left of the "
            f"window and waiting exceeds {timeouts.max_time_to_consistency:.1f} s")
    start = clk.monotonic()
    target = start + reset_in + 0.05  # just past the boundary
    while (now := clk.monotonic()) < target:
        clk.sleep(min(timeouts.poll_interval * 5, target - now))
    return clk.monotonic() - start
