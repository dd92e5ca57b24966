"""Request size: Kong's request-size-limiting answers 413 above the limit the route gets.

Limits come from kong.yml through the model (the global plugin, and any
route or service override): one route per distinct limit. A body over the
limit is refused from its Content-Length alone (Kong does not read it), a
body of exactly the limit reaches the backend whole, and a route with a
larger override accepts what the smaller limit refuses.
"""

from collections.abc import Iterator

from harness.contracts import (
    INDEPENDENT,
    Case,
    Expected,
    ExpectedUpstream,
    Feature,
    Request,
    Scenario,
    TokenSpec,
    register,
)
from harness.contracts.derive import proxied
from harness.contracts.expect import kong_error
from harness.contracts.generators import (
    RouteRequest,
    host_cases,
    route_requests,
    stub_instances,
)
from harness.model import Gateway
from harness.model.plugins import RequestSizeLimitingConfig

MESSAGE = "Request size limit exceeded"
# Bodies actually sent stay small enough for a fast suite; larger limits are
# exercised through Content-Length only.
MAX_BODY_SENT = 2 * 1048576


def size_cases(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[-1]
    consumer = gw.tier_consumer(hc.tenant.tier)
    by_limit: dict[int, RouteRequest] = {}
    for rr in route_requests(gw, hc.host):
        methods = rr.view.route.methods
        if not stub_instances(rr.view) or (methods and "POST" not in methods):
            continue
        conf = gw.plugin_config(rr.view, RequestSizeLimitingConfig, consumer)
        if conf is not None:
            by_limit.setdefault(conf.limit_bytes(), rr)
    smallest = min(by_limit, default=0)
    for limit, rr in sorted(by_limit.items()):
        base = proxied(gw, hc, rr)
        up = base.upstream
        # proxied() expects an upstream for every stub route (the only routes kept above).
        assert up is not None, f"no upstream expectation for stub route {rr.view.name}"

        def post(body: bytes = b"", declared: int | None = None, raw: bool = False) -> Request:
            headers: tuple[tuple[str, str], ...] = (
                ("Content-Type", "application/octet-stream"),)
            if declared is not None:
                headers += (("Content-Length", str(declared)),)
            return Request("POST", hc.host, rr.path, headers, body,
                           token=TokenSpec(hc.tenant.id), raw=raw)

        yield Case(f"declared-over-limit@{rr.view.name}", Expected(
            post(declared=limit + 1, raw=True), kong_error(413, MESSAGE)))
        if limit <= MAX_BODY_SENT:
            yield Case(f"body-over-limit@{rr.view.name}", Expected(
                post(b"x" * (limit + 1)), kong_error(413, MESSAGE)))
            yield Case(f"body-at-limit@{rr.view.name}", Expected(
                post(b"x" * limit), upstream=ExpectedUpstream(
                    instances=up.instances, method="POST", path=up.path,
                    headers=up.headers, body_size=limit)))
        elif limit > smallest and smallest + 1 <= MAX_BODY_SENT:
            yield Case(f"body-over-smaller-limit@{rr.view.name}", Expected(
                post(b"x" * (smallest + 1)), upstream=ExpectedUpstream(
                    instances=up.instances, method="POST", path=up.path,
                    headers=up.headers, body_size=smallest + 1)))


register(Scenario(
    short_name="request-size",
    description="bodies over the route's request-size limit get Kong's 413, at the limit "
                "they reach the backend; route overrides apply",
    features=frozenset({Feature.TRANSFORM}),
    cases=lambda gw: list(size_cases(gw)),
    concurrency=INDEPENDENT,
))
