"""Acceptance of issue 6: expectations follow the config; a misbehaving gateway fails readably."""

import json

import pytest

from harness.contracts import REGISTRY, Request, Timeouts, TokenSpec
from harness.contracts.client import GatewayClient
from harness.contracts.context import ScenarioContext
from harness.contracts.ratelimit import _refused, plan
from harness.contracts.scenario import check, load_scenarios, run_case
from harness.errors import ContractMismatch
from harness.model import load_gateway
from harness.target import Target
from harness.tokens import dev_minter

from conftest import ROOT, edit


def test_changing_a_tiers_limit_changes_the_rate_limit_expectation(config_copy):
    before = plan(load_gateway(config_copy), "basic")
    edit(config_copy / "kong/tiers.yaml", "minute: 30", "minute: 45")
    edit(config_copy / "kong/declarative-config/kong.yml", "minute: 30", "minute: 45")
    after = plan(load_gateway(config_copy), "basic")
    assert (before.limit, after.limit) == (30, 45)
    refused = _refused(after, Request(host="x"))
    assert refused.response.headers["X-RateLimit-Limit-Minute"] == "45"
    assert refused.response.json == {"message": "API rate limit exceeded"}


def _lenient_gateway(handler):
    """Echoes every request like a stub behind a gateway that checks nothing."""
    body = json.dumps({"service": "user", "instance": "user-1", "method": handler.command,
                       "path": handler.path, "raw_query": "", "host": "user-1:8080",
                       "headers": {k.lower(): v for k, v in handler.headers.items()}})
    return 200, {"Content-Type": "application/json"}, body.encode()


def test_a_gateway_accepting_an_expired_token_fails_the_jwt_contract(http_server):
    url = http_server(_lenient_gateway)
    gw = load_gateway(ROOT)
    load_scenarios(ROOT / "scenarios" / "contract")
    sc = REGISTRY["jwt-refusals"]
    case = next(c for c in sc.expand(gw) if c.name == "expired@users")
    target = Target(kind="url", proxy_url=url, minter=dev_minter())
    ctx = ScenarioContext(target, gw, GatewayClient(target, Timeouts(request=5)), Timeouts())
    try:
        with pytest.raises(ContractMismatch) as info:
            run_case(sc, ctx, case)
    finally:
        ctx.close()
    lines = str(info.value).splitlines()
    assert lines[0] == "expected status 401, got 200"
    assert lines[1].startswith("  request sent: GET http://acme.app.example.com/api/users/"
                               "contract-probe token=expired@acme")
    assert lines[-1].startswith("  upstream saw: user/user-1 saw GET /api/users/contract-probe")


def test_the_same_case_passes_against_a_gateway_that_refuses_it(http_server):
    url = http_server(lambda h: (401, {"Content-Type": "application/json; charset=utf-8",
                                       "WWW-Authenticate": 'Bearer error="invalid_token"'},
                                 b'{"exp":"token expired"}'))
    gw = load_gateway(ROOT)
    load_scenarios(ROOT / "scenarios" / "contract")
    case = next(c for c in REGISTRY["jwt-refusals"].expand(gw) if c.name == "expired@users")
    target = Target(kind="url", proxy_url=url, minter=dev_minter())
    ctx = ScenarioContext(target, gw, GatewayClient(target), Timeouts())
    try:
        captured = check(ctx, case.expected)
    finally:
        ctx.close()
    assert captured.status == 401
    assert captured.sent_header("Authorization").startswith("Bearer ey")


def test_token_spec_is_minted_at_send_time_with_the_tenant_claim(http_server):
    seen = {}

    def handler(h):
        seen["auth"] = h.headers["Authorization"]
        return 204, {}, b""

    url = http_server(handler)
    client = GatewayClient(Target(kind="url", proxy_url=url, minter=dev_minter()))
    client.send(Request("GET", "acme.app.example.com", "/", token=TokenSpec("acme")))
    client.close()
    import jwt as pyjwt

    claims = pyjwt.decode(seen["auth"].split()[1], options={"verify_signature": False})
    assert claims["tenant_id"] == "acme" and claims["exp"] - claims["iat"] <= 3600


def test_changing_the_global_size_limit_changes_the_request_size_cases(config_copy):
    load_scenarios(ROOT / "scenarios" / "contract")
    sc = REGISTRY["request-size"]
    edit(config_copy / "kong/declarative-config/kong.yml",
         "allowed_payload_size: 1\n", "allowed_payload_size: 2\n")
    cases = {c.name: c.expected for c in sc.expand(load_gateway(config_copy))}
    at = cases["body-at-limit@users"]
    assert at is not None and at.upstream is not None
    assert (len(at.request.body), at.upstream.body_size) == (2 * 1048576, 2 * 1048576)
    over = cases["declared-over-limit@users"]
    assert over is not None and over.request.header("Content-Length") == str(2 * 1048576 + 1)
    assert over.response.status == (413,)
    assert "declared-over-limit@files" in cases  # the 25 MB override keeps its own case
