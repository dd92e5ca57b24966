"""Transforms: correlation id, request/response header transforms and CORS, as kong.yml says.

Every header name and value below is read from the plugins' config in the
model (correlation-id, request-transformer, response-transformer, cors).
"""

from collections.abc import Iterable, Iterator

from harness.contracts import (
    INDEPENDENT,
    Case,
    Expected,
    ExpectedResponse,
    ExpectedUpstream,
    Feature,
    Request,
    Scenario,
    TokenSpec,
    register,
)
from harness.contracts.derive import proxied
from harness.contracts.generators import host_cases, route_requests, stub_instances
from harness.model import Gateway
from harness.model.plugins import (
    CorrelationIdConfig,
    CorsConfig,
    RequestTransformerConfig,
    ResponseTransformerConfig,
)


def _pairs(entries: Iterable[str]) -> dict[str, str]:
    """Kong's "name:value" list entries as a header mapping."""
    return {e.split(":", 1)[0]: e.split(":", 1)[1] for e in entries}


def correlation(gw: Gateway) -> Iterator[Case]:
    conf = gw.plugin_config(None, CorrelationIdConfig)
    if conf is None:
        return
    hc = host_cases(gw)[1]
    rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
    base = proxied(gw, hc, rr)
    echo = (conf.header_name,) if conf.echo_downstream else ()
    yield Case("correlation-id-generated", Expected(
        base.request, ExpectedResponse(present_headers=echo),
        ExpectedUpstream(instances=stub_instances(rr.view), same_header_as_response=echo)
        if echo else base.upstream))
    given = f"contract-{rr.view.name}-1234"
    req = Request(base.request.method, base.request.host, base.request.path,
                  ((conf.header_name, given),), token=base.request.token)
    yield Case("correlation-id-propagated", Expected(
        req, ExpectedResponse(headers={conf.header_name: given} if echo else {}),
        ExpectedUpstream(instances=stub_instances(rr.view), headers={conf.header_name: given})))


def header_transforms(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[-1]
    resp = gw.plugin_config(None, ResponseTransformerConfig)
    for rr in route_requests(gw, hc.host):
        if not stub_instances(rr.view):
            continue
        consumer = gw.tier_consumer(hc.tenant.tier)
        rt = gw.plugin_config(rr.view, RequestTransformerConfig, consumer)
        if rt is None:
            continue
        sent = tuple((h, "contract=1") for h in rt.remove.headers)
        yield Case(f"request-transformer@{rr.view.name}",
                   proxied(gw, hc, rr, headers=sent, upstream_headers=_pairs(rt.add.headers),
                           absent=tuple(rt.remove.headers)))
    if resp is not None:
        rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
        base = proxied(gw, hc, rr)
        yield Case("response-transformer", Expected(
            base.request, ExpectedResponse(headers=_pairs(resp.add.headers),
                                           absent_headers=tuple(resp.remove.headers)),
            base.upstream))


def cors(gw: Gateway) -> Iterator[Case]:
    conf = gw.plugin_config(None, CorsConfig)
    if conf is None:
        return
    hc = host_cases(gw)[-1]
    rr = next(r for r in route_requests(gw, hc.host)
              if not r.view.route.methods or "OPTIONS" in r.view.route.methods)
    origin = (conf.origins or ["https://client.example"])[0]
    pre = (("Origin", origin), ("Access-Control-Request-Method", "GET"),
           ("Access-Control-Request-Headers", "authorization"))
    want = {"Access-Control-Allow-Origin": origin if conf.origins else "*",
            "Access-Control-Allow-Methods": ",".join(conf.methods)}
    if conf.headers:
        want["Access-Control-Allow-Headers"] = ",".join(conf.headers)
    if conf.max_age is not None:
        want["Access-Control-Max-Age"] = str(conf.max_age)
    if conf.credentials:
        want["Access-Control-Allow-Credentials"] = "true"
    yield Case(f"preflight-allowed-origin@{rr.view.name}", Expected(
        Request("OPTIONS", hc.host, rr.path, pre),
        ExpectedResponse(headers=want, empty_body=not conf.preflight_continue,
                         present_headers=("Vary",) if conf.origins else ())))
    if conf.origins:
        evil = (("Origin", "https://evil.example.net"),) + pre[1:]
        yield Case(f"preflight-foreign-origin@{rr.view.name}", Expected(
            Request("OPTIONS", hc.host, rr.path, evil),
            ExpectedResponse(absent_headers=("Access-Control-Allow-Origin",))))
    simple = Request(rr.method, hc.host, rr.path, (("Origin", origin),),
                     token=TokenSpec(hc.tenant.id))
    exposed = {"Access-Control-Expose-Headers": ",".join(conf.exposed_headers)} \
        if conf.exposed_headers else {}
    yield Case(f"actual-request-allowed-origin@{rr.view.name}", Expected(
        simple, ExpectedResponse(headers={"Access-Control-Allow-Origin": want[
            "Access-Control-Allow-Origin"], **exposed}), upstream_optional=True))


register(Scenario(
    short_name="transforms",
    description="correlation id generated/propagated; request and response headers "
                "transformed as kong.yml says",
    features=frozenset({Feature.TRANSFORM}),
    cases=lambda gw: [*correlation(gw), *header_transforms(gw)],
    concurrency=INDEPENDENT,
))

register(Scenario(
    short_name="cors",
    description="CORS preflight answered per the cors plugin config; foreign origins get no ACAO",
    features=frozenset({Feature.TRANSFORM}),
    cases=lambda gw: list(cors(gw)),
    concurrency=INDEPENDENT,
))
