"""Property-based contracts (hypothesis): random hosts, paths, headers and token
mutations never produce a 5xx and never deliver a request into another tenant's context.

Examples are few (bounded for a fast suite) and derandomized, so CI runs the
same inputs every time; a failure prints the shrunk example.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.contracts.context import ScenarioContext
from harness.contracts.expect import Captured, Request, TokenSpec
from harness.contracts.generators import example_path, tenant_hosts
from harness.contracts.tokens import MUTATIONS
from harness.errors import ContractMismatch
from harness.model import Gateway

__all__ = ["never_5xx_never_cross_tenant"]

MAX_EXAMPLES = 40
_SPOOFS = ["X-Tenant-ID", "X-Tenant-Tier", "X-Consumer-Username", "X-Consumer-ID",
           "X_Tenant_ID", "X-Forwarded-Host", "Connection"]


def _strategies(gw: Gateway) -> st.SearchStrategy[Request]:
    hosts = [hc.host for t in gw.tenants.tenants for hc in tenant_hosts(gw, t)]
    host = st.one_of(
        st.sampled_from(hosts),
        st.from_regex(r"[a-z0-9-]{1,12}\.app\.example\.com", fullmatch=True),
        st.sampled_from(["unknown.example.org", "APP.SOYLENT.FOOD", "acme.app.example.com.",
                         "localhost", "127.0.0.1"]))
    prefixes = sorted({example_path(p, "") for v in gw.routes for p in v.route.paths})
    path = st.builds(lambda p, tail: p + tail, st.sampled_from(prefixes + ["/"]),
                     st.from_regex(r"(/[A-Za-z0-9._~%-]{0,8}){0,3}", fullmatch=True))
    tenants = [t.id for t in gw.tenants.tenants] + ["ghost"]
    token = st.one_of(st.none(), st.builds(TokenSpec, st.sampled_from(tenants),
                                           st.sampled_from(sorted(MUTATIONS))))
    value = st.one_of(st.sampled_from(tenants + ["tier-enterprise", "enterprise"]),
                      st.text(alphabet="abcdefghijklmnop-XYZ0123456789", max_size=12))
    headers = st.lists(st.tuples(st.sampled_from(_SPOOFS), value), max_size=3).map(tuple)
    method = st.sampled_from(["GET", "POST", "DELETE", "OPTIONS"])
    return st.builds(lambda m, h, p, hd, tok: Request(m, h, p, hd, token=tok),
                     method, host, path, headers, token)


def _check(gw: Gateway, cap: Captured) -> None:
    req = cap.request
    if cap.status >= 500:
        raise ContractMismatch(f"expected no 5xx for a client-side input, got {cap.status}: "
                               f"{req.describe()} -> {cap.body[:200]!r}")
    echo = cap.echo
    if echo is None:
        return
    host = req.host.lower().rstrip(".")
    tenant = gw.tenants_by_host.get(host)
    seen = echo.header(gw.tenant_context.tenant_header if gw.tenant_context else "X-Tenant-ID")
    # Every stub-backed route is protected (policy.yaml): a backend may only see
    # a valid token of the Host's own active tenant, in that tenant's context.
    token_ok = req.token is not None and req.token.mutation == "valid" and tenant is not None \
        and req.token.tenant_id == tenant.id
    if tenant is None or not tenant.active or seen != tenant.id or not token_ok:
        raise ContractMismatch(
            f"expected a backend to see only requests of the Host's active tenant "
            f"({tenant.id if tenant else 'none'}) with a valid token of its own, got tenant "
            f"header {seen!r} for {req.describe()}")


def never_5xx_never_cross_tenant(ctx: ScenarioContext) -> None:
    gw = ctx.gateway
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow], print_blob=False)
    @given(_strategies(gw))
    def prop(req: Request) -> None:
        _check(gw, ctx.client.send(req))

    prop()
