"""Contract scenarios are declared records, kept in one explicit registry.

A scenario file under scenarios/contract/ builds one `Scenario` and calls
`register(...)`. Its cases are usually generated from the gateway model
(`cases=lambda gw: ...`), so a config change changes the expectations with
no test edit. A scenario without a `run` body is described by its cases
alone: each case's `Expected` is sent and compared. The pytest plugin turns
every (scenario, case) pair into one pytest item.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from harness.contracts.compare import Mismatch, compare
from harness.contracts.features import Capability, Feature
from harness.errors import ContractMismatch, HarnessError

if TYPE_CHECKING:
    from harness.contracts.context import ScenarioContext
    from harness.contracts.expect import Captured, Expected
    from harness.model import Gateway

__all__ = [
    "INDEPENDENT",
    "Case",
    "REGISTRY",
    "Scenario",
    "check",
    "load_scenarios",
    "register",
    "run_case",
]


# Threads for a scenario whose cases do not affect each other (Scenario.concurrency):
# they mostly wait on the gateway, so more threads than cores still pay off.
INDEPENDENT = 8


@dataclass(frozen=True)
class Case:
    """One concrete check of a scenario (one pytest item)."""

    name: str
    expected: Expected | None = None
    tiers: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


CaseSource = Union[Sequence[Case], Callable[["Gateway"], Iterable[Case]]]
RunBody = Callable[["ScenarioContext", Case], None]


@dataclass(frozen=True)
class Scenario:
    short_name: str
    description: str
    features: frozenset[Feature]
    cases: CaseSource
    tiers: tuple[str, ...] = ()
    requires: frozenset[Capability] = frozenset()
    run: RunBody | None = None
    slow: bool = False
    provisional: bool = False
    timeout_s: float = 90.0   # per case: a stuck gateway fails the case, never hangs CI
    concurrency: int = 1      # >1: independent cases, run together on this many threads
    source: str = ""   # the scenario file, for messages

    def expand(self, gateway: Gateway) -> list[Case]:
        cases = list(self.cases(gateway) if callable(self.cases) else self.cases)
        names = [c.name for c in cases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise HarnessError(f"{self.source or self.short_name}: duplicate case names {dupes}")
        return cases


REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    """Add a scenario to the registry (a second one with the same short name is an error)."""
    if not scenario.features:
        raise HarnessError(f"scenario {scenario.short_name}: at least one Feature is required")
    old = REGISTRY.get(scenario.short_name)
    if old is not None and old.source != scenario.source:
        raise HarnessError(f"scenario {scenario.short_name!r} registered twice "
                           f"({old.source} and {scenario.source})")
    REGISTRY[scenario.short_name] = scenario
    return scenario


def load_scenarios(directory: Path) -> dict[str, Scenario]:
    """Import every scenario file of `directory` (sorted) and return the registry."""
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        mod_name = f"harness_scenarios.{path.stem.replace('-', '_')}"
        if mod_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise HarnessError(f"{path}: cannot be imported as a scenario file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        before = set(REGISTRY)
        spec.loader.exec_module(module)
        for name in set(REGISTRY) - before:
            sc = REGISTRY[name]
            if not sc.source:
                REGISTRY[name] = replace(sc, source=str(path))
    return REGISTRY


def check(ctx: ScenarioContext, expected: Expected) -> Captured:
    """Send `expected.request`, compare, raise ContractMismatch on the first difference."""
    captured = ctx.client.send(expected.request)
    mismatch: Mismatch | None = compare(expected, captured)
    if mismatch is not None:
        raise ContractMismatch(mismatch.message)
    return captured


def run_case(scenario: Scenario, ctx: ScenarioContext, case: Case) -> None:
    """The body of every contract item: the scenario's `run`, or send-and-compare."""
    if scenario.run is not None:
        scenario.run(ctx, case)
        return
    if case.expected is None:
        raise HarnessError(f"scenario {scenario.short_name}, case {case.name}: "
                           "no run body and no Expected")
    check(ctx, case.expected)
