"""Routing: every route x tenant kind reaches the right backend with Kong's upstream path.

Generated from kong.yml (routes, services, strip_path, service paths) and
kong/tenants.yaml (one host per tier x subdomain/custom domain); unknown
hosts, paths and methods get the router's 404.
"""

from collections.abc import Iterator

from harness.contracts import INDEPENDENT, Case, Feature, Scenario, register
from harness.contracts.derive import no_route, proxied
from harness.contracts.generators import (
    RouteRequest,
    host_cases,
    match_route,
    route_requests,
    stub_instances,
    upstream_path,
)
from harness.model import Gateway


def every_route_and_tenant_kind(gw: Gateway) -> Iterator[Case]:
    for hc in host_cases(gw):
        for rr in route_requests(gw, hc.host):
            yield Case(f"{rr.view.name}@{hc.label}", proxied(gw, hc, rr),
                       tiers=(hc.tenant.tier,))


def exact_prefix_paths(gw: Gateway) -> Iterator[Case]:
    # The bare prefix and prefix + "/" of each plain-path stub route: the rows
    # of Kong's upstream-URI table that differ (strip_path, service path).
    hc = host_cases(gw)[-1]
    for rr in route_requests(gw, hc.host, exact=True):
        if rr.view.route.paths[0].startswith("~") or stub_instances(rr.view) is None:
            continue
        for trailing in ("", "/"):
            path = rr.path.rstrip("/") + trailing
            hit = match_route(gw, rr.method, hc.host, path)
            if hit is None or hit.view.name != rr.view.name:
                continue
            exact = RouteRequest(rr.view, rr.method, path, upstream_path(rr.view, path,
                                                                         hit.prefix))
            yield Case(f"{rr.view.name}-prefix{'-slash' if trailing else ''}@{hc.label}",
                       proxied(gw, hc, exact), tiers=(hc.tenant.tier,))


def unmatched(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[-1]
    yield Case("unknown-host", no_route("unknown.example.org", "/api/users"))
    yield Case("unknown-path", no_route(hc.host, "/no-such-route"))
    for view in gw.routes:
        if not view.route.methods:
            continue
        path = view.route.paths[0] if not view.route.paths[0].startswith("~") else None
        if path is None:
            continue
        for method in ("DELETE", "PUT", "PATCH", "POST", "GET"):
            if method not in view.route.methods and match_route(gw, method, hc.host,
                                                                path) is None:
                yield Case(f"method-{method}-not-allowed@{view.name}",
                           no_route(hc.host, path, method))
                break


register(Scenario(
    short_name="routing",
    description="each route x tenant kind reaches its backend with Kong's upstream path",
    features=frozenset({Feature.ROUTING, Feature.TENANT}),
    cases=lambda gw: [*every_route_and_tenant_kind(gw), *exact_prefix_paths(gw)],
    concurrency=INDEPENDENT,
))

register(Scenario(
    short_name="routing-no-match",
    description="unknown host, unknown path and a method a route does not allow get Kong's 404",
    features=frozenset({Feature.ROUTING}),
    cases=lambda gw: list(unmatched(gw)),
    concurrency=INDEPENDENT,
))
