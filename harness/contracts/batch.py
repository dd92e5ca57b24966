"""Concurrent scenarios: the selected cases of one scenario run together, once.

A scenario whose cases are independent of each other (no faults, no shared
counters) sets `Scenario.concurrency > 1`. When the first of its pytest
items runs, every selected case of that scenario runs on a thread pool;
each item then replays its own outcome (pass, the mismatch, or a pytest
skip/xfail raised by the body), so names, markers and the report stay one
item per case. Nothing else runs meanwhile: pytest is still sequential
between scenarios, so a scenario that needs the gateway to itself (metrics,
breaker, faults) is never disturbed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.contracts.scenario import Case, Scenario, run_case

if TYPE_CHECKING:
    from harness.contracts.context import ScenarioContext

__all__ = ["Batches", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    error: BaseException | None
    elapsed_s: float


class Batches:
    """The selected cases per concurrent scenario, and their outcomes once run."""

    def __init__(self) -> None:
        self._planned: dict[str, list[Case]] = {}
        self._outcomes: dict[str, dict[str, Outcome]] = {}
        self._lock = threading.Lock()

    def plan(self, pairs: list[tuple[Scenario, Case]]) -> None:
        """Remember which cases of each concurrent scenario were selected to run."""
        self._planned.clear()
        self._outcomes.clear()
        for sc, case in pairs:
            if sc.concurrency > 1:
                self._planned.setdefault(sc.short_name, []).append(case)

    def run(self, scenario: Scenario, ctx: ScenarioContext, case: Case) -> Outcome:
        """Run (or replay) one case: its error (to raise) and its own elapsed seconds."""
        cases = self._planned.get(scenario.short_name, [])
        if scenario.concurrency <= 1 or len(cases) < 2 or case not in cases:
            return _one(scenario, ctx, case)
        with self._lock:
            done = self._outcomes.get(scenario.short_name)
            if done is None:
                done = self._outcomes[scenario.short_name] = _run_all(scenario, ctx, cases)
        replay = done.pop(case.name, None)
        # A second run of the same item (a rerun plugin, a repeated id) runs it again.
        return replay if replay is not None else _one(scenario, ctx, case)


def _one(scenario: Scenario, ctx: ScenarioContext, case: Case) -> Outcome:
    started = time.perf_counter()
    try:
        run_case(scenario, ctx, case)
    except BaseException as exc:  # pytest's skip/xfail are BaseExceptions: replayed too
        return Outcome(exc, time.perf_counter() - started)
    return Outcome(None, time.perf_counter() - started)


def _run_all(scenario: Scenario, ctx: ScenarioContext, cases: list[Case]
             ) -> dict[str, Outcome]:
    # The first case runs alone: state a run body builds lazily on first use
    # (sessions, fresh tenants, caches) is then built once, not once per thread.
    first = _one(scenario, ctx, cases[0])
    rest = cases[1:]
    workers = max(1, min(scenario.concurrency, len(rest)))
    with ThreadPoolExecutor(max_workers=workers,
                            thread_name_prefix=f"contract-{scenario.short_name}") as pool:
        outcomes = [first, *pool.map(lambda c: _one(scenario, ctx, c), rest)]
    return {c.name: o for c, o in zip(cases, outcomes)}
