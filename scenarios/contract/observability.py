"""Observability: Kong's request counter grows by the traffic sent, per service/route/code;
the JSON access log has one line per request with its tenant."""

from harness.contracts import Capability, Case, Feature, Scenario, register
from harness.contracts.observe import access_log_lines, requests_are_counted

register(Scenario(
    short_name="metrics-requests-total",
    description="kong_http_requests_total increments match known traffic per route and code",
    features=frozenset({Feature.OBSERVABILITY}),
    requires=frozenset({Capability.METRICS}),
    cases=[Case("counted-per-service-route-code")],
    run=lambda ctx, case: requests_are_counted(ctx),
))

register(Scenario(
    short_name="access-log",
    description="one JSON access-log line per request, carrying the tenant",
    features=frozenset({Feature.OBSERVABILITY, Feature.TENANT}),
    requires=frozenset({Capability.ACCESS_LOG}),
    cases=[Case("line-per-request-with-tenant")],
    run=lambda ctx, case: access_log_lines(ctx),
))
