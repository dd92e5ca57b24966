"""Policy, live: every route outside the policy's public list refuses a request without a token.

Expectations come from scenarios/policy.yaml, NOT from kong.yml: removing the
jwt plugin from a route makes this fail even though the config-derived JWT
contracts would follow the config.
"""

from collections.abc import Iterator
from pathlib import Path

from harness.contracts import (
    INDEPENDENT,
    Case,
    Expected,
    Feature,
    Request,
    Scenario,
    kong_exit,
    register,
)
from harness.contracts.generators import host_cases, route_requests
from harness.contracts.policy import load_policy
from harness.model import Gateway

ROOT = Path(__file__).resolve().parents[2]


def protected_routes_refuse_anonymous(gw: Gateway) -> Iterator[Case]:
    policy = load_policy(ROOT)
    hc = host_cases(gw)[0]
    for rr in route_requests(gw, hc.host):
        if rr.view.name in policy.public_routes:
            continue
        https_only = rr.view.route.protocols == ["https"]
        req = Request(rr.method, hc.host, rr.path, body=rr.body,
                      scheme="https" if https_only else "http")
        yield Case(f"no-token-401@{rr.view.name}",
                   Expected(req, kong_exit(401, {"message": "Unauthorized"})))


register(Scenario(
    short_name="policy-live",
    description="the running gateway refuses anonymous requests on every non-public route",
    features=frozenset({Feature.JWT}),
    cases=lambda gw: list(protected_routes_refuse_anonymous(gw)),
    concurrency=INDEPENDENT,
))
