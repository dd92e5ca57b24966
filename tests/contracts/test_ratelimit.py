"""The rate-limit contracts judge one window's requests: a failed attempt is run again only
when its window may have ended meanwhile (pure logic; the live cases run in scenarios/)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from harness.contracts.converge import Timeouts
from harness.contracts.ratelimit import _in_one_window, _Window
from harness.errors import ContractMismatch

CTX: Any = SimpleNamespace(timeouts=Timeouts(max_time_to_consistency=5.0))


def test_a_passing_attempt_runs_once() -> None:
    seen: list[_Window] = []
    _in_one_window(CTX, seen.append)
    assert len(seen) == 1


def test_a_failure_inside_the_window_is_the_verdict_without_a_second_attempt() -> None:
    seen: list[_Window] = []

    def attempt(w: _Window) -> None:
        seen.append(w)
        w.safe_until, w.ends_by = time.time() + 30, time.time() + 31
        raise ContractMismatch("request 31 got 200")
    with pytest.raises(ContractMismatch, match="request 31 got 200"):
        _in_one_window(CTX, attempt)
    assert len(seen) == 1


def test_a_failure_before_the_first_answer_is_the_verdict() -> None:
    def attempt(w: _Window) -> None:
        raise ContractMismatch("first request got 403")
    with pytest.raises(ContractMismatch, match="first request got 403"):
        _in_one_window(CTX, attempt)


def test_a_failure_once_the_window_may_have_ended_is_run_again_after_it_surely_ended() -> None:
    seen: list[tuple[_Window, float]] = []

    def attempt(w: _Window) -> None:
        seen.append((w, time.time()))
        if len(seen) == 1:
            w.safe_until, w.ends_by = time.time() - 0.1, time.time() + 0.3
            raise ContractMismatch("request 31 got 200")
    _in_one_window(CTX, attempt)
    (first, _), (second, at) = seen
    assert second is not first and second.safe_until == float("inf")
    assert at >= first.ends_by, "the second attempt started before the window surely ended"


def test_the_second_attempts_failure_is_the_verdict() -> None:
    calls = []

    def attempt(w: _Window) -> None:
        calls.append(w)
        w.safe_until, w.ends_by = time.time() - 1.0, time.time() - 0.5
        raise ContractMismatch(f"attempt {len(calls)} failed")
    with pytest.raises(ContractMismatch, match="attempt 2 failed"):
        _in_one_window(CTX, attempt)
    assert len(calls) == 2
