"""The shared gateway client: what to send for a (tenant, route), and what the answer means.

Load users (and anything else that drives traffic) ask this module for a
prepared request — Host header of the tenant, a real bearer token from
`harness.tokens`, the path of the kong.yml route, the right listener for the
route's protocols — and for the outcome of a response: ``ok`` (2xx),
``limited`` (a 429 the tenant's tier limit explains) or ``failed``. It holds
no Locust import so it stays a plain library.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.model import Gateway, RouteView, Tenant
from harness.tokens import TokenMinter

__all__ = ["GatewayClient", "Outcome", "Prepared", "classify"]

Outcome = Literal["ok", "limited", "failed"]
_WINDOWS = ("second", "minute", "hour", "day", "month", "year")
# Re-mint a token this long before it expires, so no request carries a stale one.
_REFRESH_MARGIN_S = 60


@dataclass(frozen=True)
class Prepared:
    """A request ready to send: absolute URL, headers, body, and labels for the reports."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    name: str        # the stats name: "<route> <METHOD>"
    route: str
    tenant: str
    tier: str


def classify(status: int, header: Callable[[str], str | None], limits: dict[str, int]
             ) -> tuple[Outcome, str]:
    """Outcome of one response, with a short reason for failures.

    A 429 counts as "limited" only when Kong's rate-limit headers show a window of
    the tenant's tier (same limit) exhausted; any other 429 is a failure: it means
    the limit of someone else, or no limit at all, hit this tenant.
    """
    if 200 <= status < 300:
        return "ok", ""
    if status == 429:
        for window in _WINDOWS:
            limit = header(f"X-RateLimit-Limit-{window.capitalize()}")
            if limit is None:
                continue
            remaining = header(f"X-RateLimit-Remaining-{window.capitalize()}")
            if limits.get(window) == _int(limit) and _int(remaining) == 0:
                return "limited", ""
        shown = {w: header(f"X-RateLimit-Limit-{w.capitalize()}") for w in _WINDOWS}
        seen = {w: v for w, v in shown.items() if v is not None}
        return "failed", f"429 not explained by the tier limits {limits} (headers: {seen})"
    if status == 0:
        return "failed", "no response (connection error)"
    return "failed", f"HTTP {status}"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass
class _Token:
    value: str
    expires: float


@dataclass
class GatewayClient:
    """Builds requests for the tenants and routes of one gateway model."""

    gateway: Gateway
    minter: TokenMinter
    proxy_url: str
    tls_url: str | None = None
    _tokens: dict[tuple[str, str], _Token] = field(default_factory=dict, repr=False)
    # (tenant, route, method, path) -> (request without token or None, needs a token)
    _static: dict[tuple[str, str, str, str], tuple[Prepared | None, bool]] = field(
        default_factory=dict, repr=False)

    def tenants_of(self, tier: str) -> list[Tenant]:
        return [t for t in self.gateway.tenants.tenants if t.tier == tier and t.active]

    def host_of(self, tenant: Tenant) -> str:
        return self.gateway.tenants.host_of(tenant)

    def limits(self, tier: str) -> dict[str, int]:
        return self.gateway.tier_limits(tier)

    def token(self, tenant: Tenant, sub: str) -> str:
        key = (tenant.id, sub)
        now = time.time()
        tok = self._tokens.get(key)
        if tok is None or tok.expires - now < _REFRESH_MARGIN_S:
            ttl = self.minter.default_ttl
            tok = _Token(self.minter.mint(tenant.id, sub, ttl=ttl, tier=tenant.tier), now + ttl)
            self._tokens[key] = tok
        return tok.value

    def needs_token(self, route: RouteView) -> bool:
        return any(p.name == "jwt" for p in self.gateway.plugins_for(route))

    def prepare(self, tenant: Tenant, route_name: str, method: str = "GET",
                path: str | None = None, body: dict[str, object] | None = None,
                sub: str = "load-user") -> Prepared | None:
        """The request, or None when the route needs TLS and no TLS listener is known."""
        key = (tenant.id, route_name, method, path or "")
        cached = self._static.get(key)
        if cached is None:
            cached = (self._build(tenant, route_name, method, path, body),
                      self.needs_token(self.gateway.route(route_name)))
            self._static[key] = cached
        base, needs = cached
        if base is None or not needs:
            return base
        headers = {**base.headers, "Authorization": f"Bearer {self.token(tenant, sub)}"}
        return Prepared(base.method, base.url, headers, base.body, base.name, base.route,
                        base.tenant, base.tier)

    def _build(self, tenant: Tenant, route_name: str, method: str, path: str | None,
               body: dict[str, object] | None) -> Prepared | None:
        view = self.gateway.route(route_name)
        if path is None:
            plain = [p for p in view.route.paths if not p.startswith("~")]
            if not plain:
                raise ValueError(f"route {route_name} has only regex paths "
                                 f"({view.route.paths}); give the mix entry a path")
            path = plain[0]
        if "http" in view.route.protocols:
            base = self.proxy_url
        elif self.tls_url:
            base = self.tls_url
        else:
            return None
        headers = {"Host": self.host_of(tenant), "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return Prepared(method, base.rstrip("/") + path, headers, data,
                        f"{route_name} {method}", route_name, tenant.id, tenant.tier)
