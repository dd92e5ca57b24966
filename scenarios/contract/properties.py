"""Property-based: random hosts, paths, headers and token mutations never give a 5xx and never
deliver a request into another tenant's context (hypothesis, bounded and derandomized)."""

from harness.contracts import Case, Feature, Scenario, register
from harness.contracts.properties import never_5xx_never_cross_tenant

register(Scenario(
    short_name="property-isolation",
    description="random inputs: no 5xx, no request reaches a backend outside its Host's tenant",
    features=frozenset({Feature.SECURITY, Feature.TENANT}),
    cases=[Case("random-hosts-paths-headers-tokens")],
    run=lambda ctx, case: never_5xx_never_cross_tenant(ctx),
))
