"""Acceptance: removing the jwt plugin from a protected route fails the policy check readably."""

import pytest

from harness.contracts.policy import check_policy, load_policy
from harness.errors import ConfigError
from harness.model import load_gateway

from conftest import edit


def test_production_config_keeps_the_policy(config_copy):
    assert check_policy(load_gateway(config_copy), load_policy(config_copy)) == []


def test_removing_jwt_from_a_protected_route_names_the_route(config_copy):
    kong = config_copy / "kong/declarative-config/kong.yml"
    edit(kong, "    plugins:\n      - *jwt_plugin\n    routes:\n      - name: billing\n",
         "    routes:\n      - name: billing\n")
    problems = check_policy(load_gateway(config_copy), load_policy(config_copy))
    assert problems == [
        "kong.yml: route billing (service billing-service): expected the jwt plugin (only "
        "['auth-token', 'auth-jwks'] may skip it), got plugins ['correlation-id', 'cors', "
        "'file-log', 'prometheus', 'request-size-limiting', 'response-transformer', "
        "'tenant-context']",
        "kong.yml: route billing-invoices (service billing-service): expected the jwt plugin "
        "(only ['auth-token', 'auth-jwks'] may skip it), got plugins ['correlation-id', "
        "'cors', 'file-log', 'prometheus', 'request-size-limiting', 'response-transformer', "
        "'tenant-context']",
    ]


def test_limits_that_do_not_grow_with_the_tier_are_a_violation(config_copy):
    edit(config_copy / "kong/tiers.yaml", "minute: 120", "minute: 20")
    edit(config_copy / "kong/declarative-config/kong.yml", "minute: 120", "minute: 20")
    problems = check_policy(load_gateway(config_copy), load_policy(config_copy))
    assert problems == ["tiers.yaml: tiers.pro.limits.minute: expected more than tier basic's "
                        "30 (limits grow with the tier), got 20"]


def test_unverified_exp_claim_is_a_violation(config_copy):
    edit(config_copy / "kong/declarative-config/kong.yml",
         "claims_to_verify: [exp, nbf]\n          maximum_expiration: 3600",
         "claims_to_verify: [nbf]")
    problems = check_policy(load_gateway(config_copy), load_policy(config_copy))
    claims = [p for p in problems if "claims_to_verify" in p]
    assert claims[0] == ("kong.yml: services[user-service].plugins[jwt].config."
                         "claims_to_verify: expected to contain ['exp', 'nbf'], got ['nbf']")
    assert len(claims) == 8  # every protected route
    assert any("maximum_expiration: expected 1..3600, got 0" in p for p in problems)


def test_unknown_policy_key_is_a_config_error_naming_it(config_copy):
    edit(config_copy / "scenarios/policy.yaml", "public_routes:", "publik_routes:")
    with pytest.raises(ConfigError, match=r"policy.yaml: publik_routes: expected one of the "
                                          r"known keys"):
        load_policy(config_copy)
