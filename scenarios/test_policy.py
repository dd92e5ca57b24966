"""The production config keeps the policy of scenarios/policy.yaml (no stack needed)."""

import pytest

from harness.contracts.policy import check_policy, load_policy
from harness.model import Gateway


def test_config_keeps_the_policy_invariants(gateway: Gateway,
                                            request: pytest.FixtureRequest) -> None:
    problems = check_policy(gateway, load_policy(request.config.rootpath))
    assert not problems, "policy violations:\n" + "\n".join(problems)
