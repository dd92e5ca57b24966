"""TLS: every certificate of kong.yml is served for its SNI (verified with the stack's CA);
https-only routes over plain HTTP get 426 or the configured redirect."""

from collections.abc import Iterator

from harness.contracts import (
    INDEPENDENT,
    Capability,
    Case,
    Expected,
    ExpectedResponse,
    Feature,
    Request,
    Scenario,
    TokenSpec,
    kong_exit,
    register,
)
from harness.contracts.derive import proxied, tenant_refusal
from harness.contracts.generators import (
    HostCase,
    example_path,
    host_cases,
    route_requests,
    stub_instances,
)
from harness.model import Gateway


def by_sni(gw: Gateway) -> Iterator[Case]:
    subdomain = next(hc for hc in host_cases(gw) if hc.kind == "subdomain")
    for cert in gw.kong.certificates:
        for sni in cert.snis:
            if sni.name.startswith("*."):
                hc = subdomain if subdomain.host.endswith(sni.name[1:]) else None
            else:
                tenant = gw.tenants_by_host.get(sni.name)
                hc = HostCase(sni.name, tenant, "custom-domain") if tenant else None
            if hc is None:
                continue
            rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
            exp = (proxied(gw, hc, rr) if hc.tenant.active
                   else tenant_refusal(hc, rr, "suspended"))
            req = exp.request
            https = Request(req.method, req.host, req.path, req.headers, req.body,
                            scheme="https", token=req.token)
            yield Case(f"certificate-for-{sni.name.replace('*', 'wildcard')}",
                       Expected(https, exp.response, exp.upstream, exp.upstream_optional))


def https_only(gw: Gateway) -> Iterator[Case]:
    hc = host_cases(gw)[-1]
    for view in gw.routes:
        r = view.route
        if "http" in r.protocols or not r.paths:
            continue
        path = example_path(r.paths[0])
        req = Request(r.methods[0] if r.methods else "GET", hc.host, path,
                      token=TokenSpec(hc.tenant.id))
        if r.https_redirect_status_code == 426:
            resp = kong_exit(426, {"message": "Please use HTTPS protocol"},
                             headers={"Upgrade": "TLS/1.2, HTTP/1.1"})
        else:
            resp = ExpectedResponse(status=(r.https_redirect_status_code,),
                                    headers={"Location": f"https://{hc.host}{path}"})
        yield Case(f"plain-http-{r.https_redirect_status_code}@{r.name}", Expected(req, resp))


register(Scenario(
    short_name="tls-sni",
    description="each tenant domain gets its certificate by SNI, trusted through the stack CA",
    features=frozenset({Feature.TLS}),
    requires=frozenset({Capability.TLS_PROXY}),
    cases=lambda gw: list(by_sni(gw)),
    concurrency=INDEPENDENT,
))

register(Scenario(
    short_name="tls-https-only",
    description="https-only routes over plain HTTP answer 426 or the configured redirect",
    features=frozenset({Feature.TLS, Feature.ROUTING}),
    cases=lambda gw: list(https_only(gw)),
    concurrency=INDEPENDENT,
))
