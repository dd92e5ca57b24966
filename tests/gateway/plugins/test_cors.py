"""cors plugin against kong-behaviour.md §6 (cors row), with the production config."""

from __future__ import annotations

import pytest
from plugin_helpers import make_ctx, make_request, run

from harness.gateway.plugin_api import Exit, Headers, Response
from harness.gateway.plugins.cors import CorsPlugin
from harness.model.plugins import CorsConfig

pytestmark = pytest.mark.transform


@pytest.fixture
def prod(gateway, runtime):
    cfg = next(sp.plugin.config for sp in gateway.plugins if sp.name == "cors")
    return CorsPlugin(cfg, runtime)


def preflight(p, gateway, origin, extra=()):
    req = make_request("OPTIONS", headers=[("Origin", origin),
                                           ("Access-Control-Request-Method", "POST"), *extra])
    with pytest.raises(Exit) as info:
        run(p.access(req, make_ctx(gateway)))
    return info.value


def test_preflight_is_answered_200_empty_before_auth(prod, gateway):
    exc = preflight(prod, gateway, "https://app.example.com")
    h = exc.headers
    assert exc.status == 200 and exc.body == b""
    assert h.get("Access-Control-Allow-Origin") == "https://app.example.com"
    assert h.get("Access-Control-Allow-Methods") == "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS"
    assert h.get("Access-Control-Allow-Headers") == "Authorization,Content-Type,X-Request-ID"
    assert h.get("Access-Control-Max-Age") == "3600"
    assert h.get("Access-Control-Allow-Credentials") == "true"
    assert h.get("Vary") == "Origin"


def test_preflight_from_unlisted_origin_has_no_allow_origin(prod, gateway):
    exc = preflight(prod, gateway, "https://evil.example.net")
    assert exc.status == 200 and "Access-Control-Allow-Origin" not in exc.headers


def test_default_config_allows_star_and_echoes_request_headers(runtime, gateway):
    p = CorsPlugin(CorsConfig(), runtime)
    exc = preflight(p, gateway, "https://x.test", [("Access-Control-Request-Headers", "X-A")])
    assert exc.headers.get("Access-Control-Allow-Origin") == "*"
    assert exc.headers.get("Access-Control-Allow-Headers") == "X-A"
    assert exc.headers.get("Access-Control-Allow-Methods") == \
        "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"


def test_star_with_credentials_echoes_the_origin(runtime, gateway):
    p = CorsPlugin(CorsConfig(credentials=True), runtime)
    exc = preflight(p, gateway, "https://x.test")
    assert exc.headers.get("Access-Control-Allow-Origin") == "https://x.test"
    assert exc.headers.get("Access-Control-Allow-Credentials") == "true"


def test_actual_request_gets_origin_and_exposed_headers(prod, gateway):
    req = make_request(headers=[("Origin", "https://admin.example.com")])
    ctx = make_ctx(gateway)
    run(prod.access(req, ctx))
    resp = Response(200, Headers([("Vary", "Accept-Encoding")]))
    prod.header_filter(req, resp, ctx)
    h = resp.headers
    assert h.get("Access-Control-Allow-Origin") == "https://admin.example.com"
    assert h.get("Access-Control-Expose-Headers") == \
        "X-Request-ID,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After"
    assert h.get_all("Vary") == ["Accept-Encoding", "Origin"]


def test_origin_with_default_port_matches_normalized(prod, gateway):
    exc = preflight(prod, gateway, "https://app.example.com:443")
    assert exc.headers.get("Access-Control-Allow-Origin") == "https://app.example.com:443"
