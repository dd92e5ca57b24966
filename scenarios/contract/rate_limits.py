"""Per-tier rate limits: the catalogue's limit exactly, Kong's 429, counters per tenant.

Limits come from kong/tiers.yaml through the model: changing a tier's limit
(and the matching kong.yml consumer plugin) changes what is expected here
with no edit to this file.
"""

from harness.contracts import Capability, Case, Feature, Scenario, register
from harness.contracts.ratelimit import limit_holds, tenants_are_isolated
from harness.model import Gateway


def _smallest_tier(gw: Gateway) -> str:
    return min(gw.tiers.tiers, key=lambda t: min(gw.tier_limits(t).values()))


register(Scenario(
    short_name="rate-limit-per-tier",
    description="exactly the tier's limit passes in a window, the next request gets 429 "
                "with Retry-After and RateLimit headers",
    features=frozenset({Feature.RATE_LIMIT}),
    cases=lambda gw: [Case(f"limit@{tier}", tiers=(tier,), params={"tier": tier})
                      for tier in gw.tiers.tiers],
    run=lambda ctx, case: limit_holds(ctx, case.params["tier"]),
))

register(Scenario(
    short_name="rate-limit-isolation",
    description="a tenant exhausting its limit does not touch another tenant of its tier",
    features=frozenset({Feature.RATE_LIMIT, Feature.TENANT}),
    requires=frozenset({Capability.TENANT_ADMIN}),
    cases=lambda gw: [Case(f"isolated@{t}", tiers=(t,), params={"tier": t})
                      for t in [_smallest_tier(gw)]],
    run=lambda ctx, case: tenants_are_isolated(ctx, case.params["tier"]),
))

register(Scenario(
    short_name="rate-limit-replicas",
    description="with two gateway replicas sharing Redis the limit holds across both",
    features=frozenset({Feature.RATE_LIMIT}),
    requires=frozenset({Capability.REPLICAS, Capability.TENANT_ADMIN}),
    cases=lambda gw: [Case(f"across-replicas@{t}", tiers=(t,), params={"tier": t})
                      for t in [_smallest_tier(gw)]],
    run=lambda ctx, case: limit_holds(ctx, case.params["tier"], replicas=True),
))
