"""Every registered contract scenario case is one item of this test (see harness.pytest_plugin)."""

import pytest

from harness.contracts.context import ScenarioContext
from harness.contracts.scenario import Case, Scenario
from harness.pytest_plugin import run_contract


def test_contract(contract_case: tuple[Scenario, Case], contract_ctx: ScenarioContext,
                  request: pytest.FixtureRequest) -> None:
    run_contract(contract_ctx, contract_case, request)
