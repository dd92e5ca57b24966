import json
from pathlib import Path

import pytest

from harness.contracts import Captured, Request, TokenSpec
from harness.contracts.properties import _check
from harness.errors import ContractMismatch
from harness.model import load_gateway

GW = load_gateway(Path(__file__).resolve().parents[2])


def echo_of(tenant):
    return json.dumps({"service": "user", "instance": "user-1", "path": "/v1/users",
                       "headers": {"x-tenant-id": tenant}}).encode()


def cap(host, token, status=200, body=b""):
    return Captured(Request("GET", host, "/api/users", token=token), (), status, (), body, 1.0)


def test_own_tenant_with_a_valid_token_is_fine():
    _check(GW, cap("acme.app.example.com", TokenSpec("acme"), body=echo_of("acme")))


@pytest.mark.parametrize("host,token,seen", [
    ("acme.app.example.com", TokenSpec("stark"), "acme"),       # foreign token delivered
    ("acme.app.example.com", TokenSpec("acme"), "stark"),       # wrong context
    ("acme.app.example.com", None, "acme"),                     # no token delivered
    ("app.soylent.food", TokenSpec("soylent"), "soylent"),      # suspended tenant delivered
    ("acme.app.example.com", TokenSpec("acme", "expired"), "acme"),
])
def test_delivery_outside_the_hosts_tenant_context_is_a_violation(host, token, seen):
    with pytest.raises(ContractMismatch, match="expected a backend to see only requests"):
        _check(GW, cap(host, token, body=echo_of(seen)))


def test_a_5xx_is_a_violation_and_a_refusal_is_not():
    _check(GW, cap("x.example.org", None, status=404, body=b'{"message":"no"}'))
    with pytest.raises(ContractMismatch, match="expected no 5xx for a client-side input, got 502"):
        _check(GW, cap("x.example.org", None, status=502))
