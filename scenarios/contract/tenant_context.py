"""Tenant context: the backend sees the host's tenant, never a client's claim of one.

Spoofed tenant/consumer headers (also underscore variants and names smuggled
through `Connection`, hostile-inputs.md §0/§2) never reach the backend; a
suspended tenant and an unknown tenant host are refused.
"""

from collections.abc import Iterator

from harness.contracts import INDEPENDENT, Case, Feature, Scenario, register
from harness.contracts.derive import proxied, tenant_refusal
from harness.contracts.generators import (
    HostCase,
    RouteRequest,
    host_cases,
    representative_tenant,
    route_requests,
    stub_instances,
    tenant_hosts,
)
from harness.model import Gateway

SPOOFS = (
    ("X-Tenant-ID", "{other}"),
    ("X-Tenant-Tier", "enterprise"),
    ("X-Tenant-User", "admin"),
    ("X-Consumer-Username", "tier-enterprise"),
    ("X-Consumer-ID", "00000000-0000-0000-0000-000000000000"),
    ("X-Credential-Identifier", "forged"),
    ("X-Anonymous-Consumer", "true"),
)
UNDERSCORE_SPOOFS = (("X_Tenant_ID", "{other}"), ("x_consumer_username", "tier-enterprise"))


def _first_stub_route(gw: Gateway, host: str) -> RouteRequest:
    return next(rr for rr in route_requests(gw, host) if stub_instances(rr.view))


def spoofing(gw: Gateway) -> Iterator[Case]:
    tc = gw.tenant_context
    assert tc is not None, "kong.yml has no tenant-context plugin"
    for i, hc in enumerate(host_cases(gw)):
        other = representative_tenant(gw, index=i + 1)
        other_id = other.id if other.id != hc.tenant.id else "someone-else"
        rr = _first_stub_route(gw, hc.host)
        headers = tuple((k, v.format(other=other_id)) for k, v in SPOOFS)
        yield Case(f"spoofed-headers@{hc.label}", proxied(gw, hc, rr, headers=headers),
                   tiers=(hc.tenant.tier,))
    hc = host_cases(gw)[-1]
    rr = _first_stub_route(gw, hc.host)
    under = tuple((k, v.format(other="someone-else")) for k, v in UNDERSCORE_SPOOFS)
    yield Case(f"underscore-spoofs@{hc.label}",
               proxied(gw, hc, rr, headers=under, absent=tuple(k.lower() for k, _ in under)))
    # Names listed in Connection are hop-by-hop: Kong deletes them after the
    # plugins ran. The context headers must survive that.
    yield Case(f"connection-smuggling@{hc.label}", proxied(
        gw, hc, rr, headers=(("Connection", f"keep-alive, {tc.tenant_header}, "
                                            f"{tc.tier_header}, X-Consumer-Username"),)))


def refusals(gw: Gateway) -> Iterator[Case]:
    for t in gw.tenants.tenants:
        if t.status == "suspended":
            for hc in tenant_hosts(gw, t):
                rr = _first_stub_route(gw, hc.host)
                yield Case(f"suspended@{hc.kind}-{t.id}", tenant_refusal(hc, rr, "suspended"),
                           tiers=(t.tier,))
    some = representative_tenant(gw)
    ghost = HostCase(f"no-such-tenant.{gw.tenants.base_domain}", some, "unknown")
    rr = _first_stub_route(gw, ghost.host)
    yield Case("unknown-tenant-host", tenant_refusal(ghost, rr, "unknown-host"))


register(Scenario(
    short_name="tenant-context-spoofing",
    description="client-sent tenant/consumer headers never reach the backend",
    features=frozenset({Feature.TENANT, Feature.SECURITY}),
    cases=lambda gw: list(spoofing(gw)),
    concurrency=INDEPENDENT,
))

register(Scenario(
    short_name="tenant-refusals",
    description="a suspended tenant and an unknown tenant host are refused",
    features=frozenset({Feature.TENANT}),
    cases=lambda gw: list(refusals(gw)),
    concurrency=INDEPENDENT,
))
