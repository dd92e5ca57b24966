"""Concurrent scenarios: selected cases run together once, each item replays its outcome."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from harness.contracts.batch import Batches
from harness.contracts.features import Feature
from harness.contracts.scenario import Case, Scenario
from harness.errors import ContractMismatch

CTX: Any = object()  # run bodies below never touch the context


def _scenario(run: Any, n: int, concurrency: int) -> tuple[Scenario, list[Case]]:
    cases = [Case(f"c{i}") for i in range(n)]
    return Scenario("batch-demo", "demo", frozenset({Feature.ROUTING}), cases,
                    run=run, concurrency=concurrency), cases


def test_selected_cases_of_a_concurrent_scenario_run_at_the_same_time() -> None:
    barrier = threading.Barrier(4, timeout=5)  # only passes if 4 cases run at once
    calls: list[str] = []

    def run(ctx: Any, case: Case) -> None:
        calls.append(case.name)
        if case.name != "c0":
            barrier.wait()

    sc, cases = _scenario(run, 5, concurrency=4)
    b = Batches()
    b.plan([(sc, c) for c in cases])
    outcomes = [b.run(sc, CTX, c) for c in cases]
    assert [o.error for o in outcomes] == [None] * 5
    assert calls[0] == "c0"  # alone first: lazily built shared state is built once
    assert sorted(calls) == ["c0", "c1", "c2", "c3", "c4"]  # each once, at the first item


def test_each_item_replays_its_own_failure_or_skip() -> None:
    def run(ctx: Any, case: Case) -> None:
        if case.name == "c1":
            raise ContractMismatch("expected status 200, got 500")
        if case.name == "c2":
            pytest.skip("skipping c2: no tls-proxy")

    sc, cases = _scenario(run, 3, concurrency=3)
    b = Batches()
    b.plan([(sc, c) for c in cases])
    errors = [b.run(sc, CTX, c).error for c in cases]
    assert errors[0] is None
    assert isinstance(errors[1], ContractMismatch) and "got 500" in str(errors[1])
    assert isinstance(errors[2], pytest.skip.Exception)


def test_a_sequential_scenario_runs_each_case_when_its_item_runs() -> None:
    calls: list[str] = []
    sc, cases = _scenario(lambda ctx, case: calls.append(case.name), 3, concurrency=1)
    b = Batches()
    b.plan([(sc, c) for c in cases])
    b.run(sc, CTX, cases[0])
    assert calls == ["c0"]


def test_only_the_selected_cases_run_in_the_batch() -> None:
    calls: list[str] = []
    sc, cases = _scenario(lambda ctx, case: calls.append(case.name), 4, concurrency=4)
    b = Batches()
    b.plan([(sc, cases[1]), (sc, cases[3])])   # e.g. -k deselected c0 and c2
    b.run(sc, CTX, cases[1])
    assert sorted(calls) == ["c1", "c3"]


def test_an_item_run_twice_runs_its_case_again_the_second_time() -> None:
    calls: list[str] = []
    sc, cases = _scenario(lambda ctx, case: calls.append(case.name), 2, concurrency=2)
    b = Batches()
    b.plan([(sc, c) for c in cases])
    b.run(sc, CTX, cases[0])
    b.run(sc, CTX, cases[0])
    assert sorted(calls) == ["c0", "c0", "c1"]
