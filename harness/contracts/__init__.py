"""Contract scenarios: declared records, expectations as values, one comparator.

What a scenario file under scenarios/contract/ imports. See
scenarios/contract/README.md for how to add one.
"""

from harness.contracts.compare import Mismatch, compare
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import Clock, Timeouts, await_convergence, await_window
from harness.contracts.expect import (
    Captured,
    Echo,
    Expected,
    ExpectedResponse,
    ExpectedUpstream,
    Request,
    TokenSpec,
    kong_error,
    kong_exit,
)
from harness.contracts.features import Capability, Feature
from harness.contracts.scenario import (
    INDEPENDENT,
    REGISTRY,
    Case,
    Scenario,
    check,
    register,
)

__all__ = [
    "INDEPENDENT",
    "Captured",
    "Capability",
    "Case",
    "Clock",
    "Echo",
    "Expected",
    "ExpectedResponse",
    "ExpectedUpstream",
    "Feature",
    "Mismatch",
    "REGISTRY",
    "Request",
    "Scenario",
    "ScenarioContext",
    "Timeouts",
    "TokenSpec",
    "await_convergence",
    "await_window",
    "check",
    "compare",
    "kong_error",
    "kong_exit",
    "register",
]
