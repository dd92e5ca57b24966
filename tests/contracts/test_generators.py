import pytest

from harness.contracts.generators import (
    host_cases,
    match_route,
    route_requests,
    upstream_path,
)
from harness.model import load_gateway
from harness.model.kong import Route, Service
from harness.model.gateway import RouteView

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def view(service_path, strip):
    svc = Service(name="s", host="h", path=service_path)
    return RouteView(Route(name="r", paths=["/foo"], strip_path=strip), svc, None)


# kong-behaviour.md §1.5, every row of the upstream-URI table.
@pytest.mark.parametrize("service_path,strip,request_path,expected", [
    (None, True, "/foo", "/"),
    (None, True, "/foo/", "/"),
    (None, True, "/foo/bar", "/bar"),
    (None, True, "/foobar", "/bar"),
    ("/api", True, "/foo", "/api"),
    ("/api", True, "/foo/", "/api/"),
    ("/api", True, "/foo/bar", "/api/bar"),
    ("/api/", True, "/foo", "/api"),
    ("/api/", True, "/foo/", "/api/"),
    (None, False, "/foo/bar", "/foo/bar"),
    ("/api", False, "/foo/bar", "/api/foo/bar"),
    ("/api", False, "/", "/api"),
])
def test_upstream_path_follows_kongs_table(service_path, strip, request_path, expected):
    assert upstream_path(view(service_path, strip), request_path, "/foo") == expected


@pytest.fixture(scope="module")
def gw():
    return load_gateway(ROOT)


def test_host_cases_cover_every_tier_and_host_kind_of_active_tenants(gw):
    kinds = {(hc.tenant.tier, hc.kind) for hc in host_cases(gw)}
    expected = {(t.tier, k) for t in gw.tenants.tenants if t.active
                for k in (["subdomain"] + (["custom-domain"] if t.custom_domains else []))}
    assert kinds == expected
    assert all(hc.tenant.active for hc in host_cases(gw))


def test_every_route_gets_a_request_that_hits_it(gw):
    reqs = route_requests(gw, "acme.app.example.com")
    assert [r.view.name for r in reqs] == [v.name for v in gw.routes]
    invoices = next(r for r in reqs if r.view.name == "billing-invoices")
    assert invoices.path == "/api/billing/invoices/4711"
    assert invoices.upstream_path == "/billing/api/billing/invoices/4711"


def test_router_prefers_more_criteria_and_regex_and_404s_unknown(gw):
    host = "acme.app.example.com"
    assert match_route(gw, "GET", host, "/api/billing/invoices/7").view.name == "billing-invoices"
    assert match_route(gw, "POST", host, "/api/billing/invoices/7").view.name == "billing"
    assert match_route(gw, "DELETE", host, "/api/notifications") is None
    assert match_route(gw, "GET", "unknown.example.org", "/api/users") is None
    assert match_route(gw, "GET", "a.b.app.example.com", "/api/users").view.name == "users"
