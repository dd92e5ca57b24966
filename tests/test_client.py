import jwt
import pytest

from harness.client import GatewayClient, classify
from harness.tokens import dev_minter


@pytest.fixture()
def client(gateway):
    return GatewayClient(gateway, dev_minter(), "http://127.0.0.1:1", None)


def test_a_protected_route_gets_the_tenant_host_and_a_real_rs256_token(client, gateway):
    acme = gateway.tenant("acme")
    prep = client.prepare(acme, "users", "GET", sub="u1")
    assert prep.url == "http://127.0.0.1:1/api/users"
    assert prep.headers["Host"] == "acme.app.example.com"
    token = prep.headers["Authorization"].removeprefix("Bearer ")
    kid = jwt.get_unverified_header(token)["kid"]
    pub = client.minter.key(kid).public_pem
    claims = jwt.decode(token, pub, algorithms=["RS256"], audience="api.app.example.com")
    assert claims["tenant_id"] == "acme" and claims["sub"] == "u1"


def test_public_routes_carry_no_token(client, gateway):
    prep = client.prepare(gateway.tenant("hooli"), "auth-jwks")
    assert "Authorization" not in prep.headers


def test_https_only_routes_need_the_tls_listener(client, gateway):
    assert client.prepare(gateway.tenant("acme"), "billing") is None
    tls = GatewayClient(gateway, dev_minter(), "http://127.0.0.1:1", "https://127.0.0.1:2")
    assert tls.prepare(gateway.tenant("acme"), "billing").url == "https://127.0.0.1:2/api/billing"


def test_a_regex_only_route_without_a_path_is_a_clear_error(client, gateway):
    with pytest.raises(ValueError, match="billing-invoices has only regex paths"):
        GatewayClient(gateway, dev_minter(), "http://x", "https://y").prepare(
            gateway.tenant("acme"), "billing-invoices")


def test_tokens_are_reused_until_close_to_expiry(client, gateway):
    acme = gateway.tenant("acme")
    assert client.token(acme, "u") == client.token(acme, "u")
    assert client.token(acme, "u") != client.token(acme, "v")


def test_suspended_tenants_never_get_load(client):
    assert "soylent" not in [t.id for t in client.tenants_of("basic")]


def test_classify_explains_429s_only_by_the_tiers_own_limit():
    hdr = {"X-RateLimit-Limit-Hour": "600", "X-RateLimit-Remaining-Hour": "0"}.get
    assert classify(429, hdr, {"minute": 30, "hour": 600}) == ("limited", "")
    outcome, why = classify(429, hdr, {"minute": 600, "hour": 20000})
    assert outcome == "failed" and "not explained by the tier limits" in why
    assert classify(204, hdr, {}) == ("ok", "")
    assert classify(502, hdr, {}) == ("failed", "HTTP 502")
