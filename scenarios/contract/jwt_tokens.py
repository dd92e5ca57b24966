"""JWT: a valid token passes; every broken or foreign token is refused with Kong's answer.

Bodies and WWW-Authenticate follow Kong 3.9's jwt plugin for the route's
jwt config in kong.yml (key claim, claims_to_verify, maximum_expiration);
issuer, audience and tenant mismatches are tenant-context's refusals.
"""

from collections.abc import Iterator

from harness.contracts import INDEPENDENT, Case, Feature, Scenario, register
from harness.contracts.derive import jwt_config, jwt_failure
from harness.contracts.generators import (
    RouteRequest,
    host_cases,
    representative_tenant,
    route_requests,
)
from harness.model import Gateway

MUTATIONS = ("missing", "expired", "nbf-future", "exceeds-max-exp", "bad-signature",
             "tampered-payload", "alg-none", "hs256-public-key", "unknown-kid", "no-kid",
             "garbage", "wrong-issuer", "wrong-audience")


def protected(gw: Gateway, host: str) -> list[RouteRequest]:
    return [rr for rr in route_requests(gw, host) if jwt_config(gw, rr.view) is not None]


def every_mutation(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[-1]
    first = protected(gw, hc.host)[0]
    for m in MUTATIONS:
        yield Case(f"{m}@{first.view.name}", jwt_failure(gw, hc, first, m),
                   tiers=(hc.tenant.tier,))


def every_protected_route(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[0]
    for rr in protected(gw, hc.host):
        for m in ("missing", "expired"):
            yield Case(f"{m}-on-route-{rr.view.name}", jwt_failure(gw, hc, rr, m),
                       tiers=(hc.tenant.tier,))


def foreign_tenant(gw: Gateway) -> Iterator[Case]:
    # Tenant A's valid token on tenant B's host, for every tenant kind.
    from harness.contracts.derive import tenant_refusal

    for i, hc in enumerate(host_cases(gw)):
        other = representative_tenant(gw, index=i + 1)
        if other.id == hc.tenant.id:
            other = representative_tenant(gw, index=i + 2)
        rr = protected(gw, hc.host)[i % len(protected(gw, hc.host))]
        yield Case(f"token-of-{other.id}@{hc.label}",
                   tenant_refusal(hc, rr, "other-tenant", token_tenant=other.id),
                   tiers=(hc.tenant.tier,))


register(Scenario(
    short_name="jwt-refusals",
    description="missing, expired, not-yet-valid, forged, alg:none, HS256-with-public-key, "
                "unknown key, wrong issuer/audience tokens get Kong's 401",
    features=frozenset({Feature.JWT}),
    cases=lambda gw: [*every_mutation(gw), *every_protected_route(gw)],
    concurrency=INDEPENDENT,
))

register(Scenario(
    short_name="jwt-foreign-tenant",
    description="a valid token of tenant A on tenant B's host is refused (403)",
    features=frozenset({Feature.JWT, Feature.TENANT}),
    cases=lambda gw: list(foreign_tenant(gw)),
    concurrency=INDEPENDENT,
))
