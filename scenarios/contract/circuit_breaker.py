"""Circuit breaker: passive ejection, traffic to the healthy instance, fast 503 when all are
down, recovery by active checks within the configured interval (kong.yml healthchecks)."""

from harness.contracts import Capability, Case, Feature, Scenario, register
from harness.contracts.breaker import all_down_fast_503, eject_and_recover

register(Scenario(
    short_name="circuit-breaker",
    description="a failing instance is ejected and re-admitted; all down gives a fast 503",
    features=frozenset({Feature.BREAKER}),
    requires=frozenset({Capability.STUB_FAULTS}),
    cases=[Case("eject-failing-instance-and-recover"), Case("all-targets-down-fast-503")],
    run=lambda ctx, case: (eject_and_recover(ctx) if case.name.startswith("eject")
                           else all_down_fast_503(ctx)),
))
