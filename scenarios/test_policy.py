"""The production config keeps the policy of scenarios/policy.yaml (no stack needed)."""

from harness.contracts.policy import check_policy, load_policy


def test_config_keeps_the_policy_invariants(gateway, request):
    problems = check_policy(gateway, load_policy(request.config.rootpath))
    assert not problems, "policy violations:\n" + "\n".join(problems)
