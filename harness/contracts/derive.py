"""Expected outcomes derived from the model: what Kong + our plugins answer for a request.

Scenario files combine these with the generators; none of them hard-code a
limit, a header name or a message that the config decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.contracts.expect import (
    Expected,
    ExpectedResponse,
    ExpectedUpstream,
    Request,
    TokenSpec,
    kong_error,
    kong_exit,
)
from harness.contracts.generators import HostCase, RouteRequest, public_routes, stub_instances
from harness.model import Gateway, RouteView
from harness.model.plugins import JwtConfig

__all__ = [
    "NO_ROUTE",
    "PLATFORM_RESPONSES",
    "jwt_config",
    "jwt_failure",
    "no_route",
    "proxied",
    "tenant_refusal",
]

NO_ROUTE = "no Route matched with those values"

# Responses of the real platform services behind public/platform routes
# (their HTTP APIs are fixed in the common brief); keyed by kong.yml service.
PLATFORM_RESPONSES: Mapping[str, Any] = {
    "tenant-service": lambda hc: ExpectedResponse(
        json={"id": hc.tenant.id, "tier": hc.tenant.tier}, json_any_extra=True),
    "auth-service:auth-token": lambda hc: ExpectedResponse(
        json={"token_type": "Bearer"}, json_present=("access_token", "expires_in"),
        json_any_extra=True),
    "auth-service:auth-jwks": lambda hc: ExpectedResponse(json_present=("keys",),
                                                          json_any_extra=True),
}

# Kong 3.9 jwt plugin refusals (kong-behaviour.md §2), by token mutation.
_JWT_BODIES: Mapping[str, Any] = {
    "missing": lambda c: {"message": "Unauthorized"},
    "garbage": lambda c: {"message": "Bad token; invalid JSON"},
    "alg-none": lambda c: {"message": "Bad token; invalid alg"},
    "no-kid": lambda c: {"message": f"No mandatory '{c.key_claim_name}' in claims"},
    "unknown-kid": lambda c: {"message": f"No credentials found for given "
                                         f"'{c.key_claim_name}'"},
    "hs256-public-key": lambda c: {"message": "Invalid algorithm"},
    "bad-signature": lambda c: {"message": "Invalid signature"},
    "tampered-payload": lambda c: {"message": "Invalid signature"},
    "expired": lambda c: {"exp": "token expired"} if "exp" in (c.claims_to_verify or [])
    else None,
    "nbf-future": lambda c: {"nbf": "token not valid yet"}
    if "nbf" in (c.claims_to_verify or []) else None,
    "exceeds-max-exp": lambda c: {"exp": "exceeds maximum allowed expiration"}
    if c.maximum_expiration and c.maximum_expiration < 7200 else None,
}
# tenant-context refusals (kong/custom-plugins/tenant-context/handler.lua).
_TENANT_BODIES: Mapping[str, tuple[int, str]] = {
    "wrong-issuer": (401, "Invalid issuer"),
    "wrong-audience": (401, "Invalid audience"),
    "other-tenant": (403, "Token tenant does not match host"),
    "suspended": (403, "Tenant suspended"),
    "unknown-host": (404, "Unknown tenant host"),
}


def jwt_config(gw: Gateway, view: RouteView) -> JwtConfig | None:
    for sp in gw.plugins_for(view):
        if sp.name == "jwt":
            return sp.plugin.config  # type: ignore[return-value]
    return None


def _request(hc: HostCase, rr: RouteRequest, token: TokenSpec | None,
             headers: tuple[tuple[str, str], ...] = (), scheme: str = "http") -> Request:
    https_only = rr.view.route.protocols == ["https"]
    hdrs = headers + ((("Content-Type", "application/json"),) if rr.body else ())
    return Request(rr.method, hc.host, rr.path, hdrs, rr.body,
                   scheme="https" if https_only or scheme == "https" else "http",
                   token=token)


def proxied(gw: Gateway, hc: HostCase, rr: RouteRequest, *,
            headers: tuple[tuple[str, str], ...] = (), token: bool = True,
            upstream_headers: Mapping[str, str] | None = None,
            absent: tuple[str, ...] = ()) -> Expected:
    """A request of hc's tenant on rr's route that must reach the backend with its context."""
    tc = gw.tenant_context
    is_public = rr.view.name in public_routes(gw)
    tok = TokenSpec(hc.tenant.id) if token and not is_public else None
    req = _request(hc, rr, tok, headers)
    instances = stub_instances(rr.view)
    if instances is None:
        key = f"{rr.view.service.name}:{rr.view.name}"
        make = PLATFORM_RESPONSES.get(key) or PLATFORM_RESPONSES.get(rr.view.service.name)
        resp = make(hc) if make else ExpectedResponse()
        return Expected(req, resp, upstream_optional=True)
    want = {}
    if tc is not None:
        want = {tc.tenant_header: hc.tenant.id, tc.tier_header: hc.tenant.tier,
                "X-Consumer-Username": gw.tier_consumer(hc.tenant.tier)}
    want.update(upstream_headers or {})
    return Expected(req, ExpectedResponse(), ExpectedUpstream(
        instances=instances, method=rr.method, path=rr.upstream_path, headers=want,
        absent_headers=absent))


def no_route(host: str, path: str, method: str = "GET") -> Expected:
    """Kong's router 404 (kong.response.error template, 3.5+)."""
    return Expected(Request(method, host, path), kong_error(404, NO_ROUTE))


def jwt_failure(gw: Gateway, hc: HostCase, rr: RouteRequest, mutation: str) -> Expected:
    """The answer to a broken (or missing) token on a protected route."""
    conf = jwt_config(gw, rr.view)
    token = None if mutation == "missing" else TokenSpec(hc.tenant.id, mutation)
    req = _request(hc, rr, token)
    if mutation in _TENANT_BODIES:
        status, message = _TENANT_BODIES[mutation]
        return Expected(req, kong_exit(status, {"message": message}))
    body = _JWT_BODIES[mutation](conf) if conf is not None else None
    if conf is None or body is None:
        # The config does not make Kong refuse this token: it is proxied.
        return proxied(gw, hc, rr) if conf is None else Expected(
            req, ExpectedResponse(), upstream_optional=True)
    realm = f' realm="{conf.realm}"' if conf.realm else ""
    www = f"Bearer{realm}" if mutation == "missing" else \
        f'Bearer{realm}{"," if realm else ""} error="invalid_token"'
    return Expected(req, kong_exit(401, body, headers={"WWW-Authenticate": www}))


def tenant_refusal(hc: HostCase, rr: RouteRequest, why: str,
                   token_tenant: str | None = None) -> Expected:
    """A tenant-context refusal (suspended, unknown host, other tenant's token)."""
    status, message = _TENANT_BODIES[why]
    tok = TokenSpec(token_tenant or hc.tenant.id)
    return Expected(_request(hc, rr, tok), kong_exit(status, {"message": message}))
