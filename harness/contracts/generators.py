"""Case generators: requests and their expected outcome, derived from the gateway model.

Everything a contract expects comes from here, and everything here comes
from `harness.model` (kong.yml, tiers, tenants): the hosts of each tenant
kind, a request path per route, the route Kong would pick (traditional_compatible
priority, reduced to what our config uses), and the upstream path Kong sends
(kong-behaviour.md §1.5, `get_upstream_uri_v0`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from harness.errors import HarnessError
from harness.model import Gateway, RouteView, Tenant

__all__ = [
    "HostCase",
    "RouteRequest",
    "host_cases",
    "match_route",
    "public_routes",
    "representative_tenant",
    "route_requests",
    "stub_instances",
    "tenant_hosts",
    "upstream_path",
]


@dataclass(frozen=True)
class HostCase:
    """A host a client can use, with the tenant it belongs to and its kind."""

    host: str
    tenant: Tenant
    kind: str  # "subdomain" | "custom-domain"

    @property
    def label(self) -> str:
        return f"{self.tenant.tier}-{self.kind}-{self.tenant.id}"


def tenant_hosts(gw: Gateway, tenant: Tenant) -> list[HostCase]:
    out = [HostCase(gw.tenants.host_of(tenant), tenant, "subdomain")]
    out += [HostCase(d, tenant, "custom-domain") for d in tenant.custom_domains]
    return out


def host_cases(gw: Gateway, *, status: str = "active") -> list[HostCase]:
    """One host per (tier, host kind) the directory has, spread over its tenants.

    Several tenants of the same (tier, kind) take turns, so no single tenant
    takes all the generated traffic (per-tenant rate limits stay clear).
    """
    groups: dict[tuple[str, str], list[HostCase]] = {}
    for t in gw.tenants.tenants:
        if t.status != status:
            continue
        for hc in tenant_hosts(gw, t):
            groups.setdefault((t.tier, hc.kind), []).append(hc)
    order = list(gw.tiers.tiers)
    return [hcs[0] for (tier, kind), hcs in sorted(
        groups.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99,
                                        kv[0][1]))]


def representative_tenant(gw: Gateway, tier: str | None = None, *, index: int = 0,
                          status: str = "active") -> Tenant:
    """The index-th tenant (wrapping) with this status (and tier)."""
    pool = [t for t in gw.tenants.tenants if t.status == status
            and (tier is None or t.tier == tier)]
    if not pool:
        raise HarnessError(f"kong/tenants.yaml has no {status} tenant"
                           + (f" of tier {tier!r}" if tier else ""))
    return pool[index % len(pool)]


# -- routes ------------------------------------------------------------------

def _regex(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", path[1:]))


def _host_matches(patterns: list[str], host: str) -> bool:
    if not patterns:
        return True
    for p in patterns:
        if p.startswith("*.") and host.endswith(p[1:]):
            return True
        if p.endswith(".*") and host.startswith(p[:-1]):
            return True
        if p == host:
            return True
    return False


@dataclass(frozen=True)
class _Hit:
    view: RouteView
    prefix: str       # the literal or the regex's matched text
    regex: bool


def _candidates(gw: Gateway, method: str, host: str, path: str) -> Iterator[tuple[tuple[int, ...], _Hit]]:
    for view in gw.routes:
        r = view.route
        if r.methods and method not in r.methods:
            continue
        if not _host_matches(r.hosts, host):
            continue
        if not r.paths:
            yield (_weight(view), 0, 0, 0), _Hit(view, "", False)
            continue
        for p in r.paths:
            if p.startswith("~"):
                m = _regex(p).match(path)
                if m:
                    yield (_weight(view), 1, r.regex_priority, 0), _Hit(view, m.group(0), True)
            elif path.startswith(p):
                yield (_weight(view), 0, 0, len(p)), _Hit(view, p, False)


def _weight(view: RouteView) -> int:
    r = view.route
    return sum(bool(x) for x in (r.hosts, r.paths, r.methods))


def match_route(gw: Gateway, method: str, host: str, path: str) -> _Hit | None:
    """The route Kong's traditional_compatible router picks (§1.4), or None (404)."""
    best = max(_candidates(gw, method, host.split(":")[0].lower(), path),
               key=lambda kv: kv[0], default=None)
    return best[1] if best else None


def upstream_path(view: RouteView, request_path: str, prefix: str) -> str:
    """Kong's upstream path for a matched request (get_upstream_uri_v0, §1.5)."""
    base = view.service.path or "/"
    req = request_path
    strip = view.route.strip_path
    postfix = req[len(prefix):] if strip else req
    if base.endswith("/"):
        if strip:
            if postfix == "":
                if base == "/":
                    return "/"
                return base if req.endswith("/") else base[:-1]
            return base + (postfix[1:] if postfix.startswith("/") else postfix)
        return base + (req[1:] if req.startswith("/") else req)
    if strip:
        if postfix == "":
            return base + "/" if len(req) > 1 and req.endswith("/") else base
        return base + postfix if postfix.startswith("/") else base + "/" + postfix
    return base if req == "/" else base + req


_EXAMPLES = [(re.compile(r"\(\?<[A-Za-z_]\w*>(\[0-9\]|\\d)\+\)"), "4711"),
             (re.compile(r"(\[0-9\]|\\d)\+"), "4711"),
             (re.compile(r"\(\?<[A-Za-z_]\w*>\[a-z0-9-\]\+\)"), "item-7"),
             (re.compile(r"[$^]"), "")]


@lru_cache(maxsize=256)
def example_path(view_path: str, suffix: str = "/contract-probe") -> str:
    """A request path that the route path matches (a regex gets a worked example)."""
    if not view_path.startswith("~"):
        return view_path.rstrip("/") + suffix if suffix else view_path
    text = view_path[1:]
    for pat, repl in _EXAMPLES:
        text = pat.sub(repl, text)
    if not _regex(view_path).match(text):
        raise HarnessError(f"kong.yml: route path {view_path!r}: cannot derive an example "
                           "request path; extend harness.contracts.generators._EXAMPLES")
    return text


@dataclass(frozen=True)
class RouteRequest:
    """A request that hits `view`, with what Kong sends upstream."""

    view: RouteView
    method: str
    path: str
    upstream_path: str

    @property
    def body(self) -> bytes:
        return b'{"username": "contract-user"}' if self.method in ("POST", "PUT", "PATCH") \
            else b""


def route_requests(gw: Gateway, host: str, *, exact: bool = False) -> list[RouteRequest]:
    """One request per route (its first path; `exact` = the bare prefix), checked to hit it."""
    out = []
    for view in gw.routes:
        r = view.route
        method = r.methods[0] if r.methods else "GET"
        # Real services (Tenant, Auth) answer only their own paths; stubs echo any.
        suffix = "" if exact or stub_instances(view) is None else "/contract-probe"
        path = example_path(r.paths[0], suffix) if r.paths else "/"
        hit = match_route(gw, method, host, path)
        if hit is None or hit.view.name != r.name:
            raise HarnessError(f"kong.yml: route {r.name}: the generated request {method} "
                               f"{path} on {host} would hit "
                               f"{hit.view.name if hit else 'no route'}; routes overlap")
        out.append(RouteRequest(view, method, path, upstream_path(view, path, hit.prefix)))
    return out


def public_routes(gw: Gateway) -> list[str]:
    return list(gw.tenant_context.public_routes) if gw.tenant_context else []


def stub_instances(view: RouteView) -> tuple[str, ...] | None:
    """Instance names of the echo stubs behind a route (None: a real service, no echo).

    Backend services (tag `backend`) are served by stubs named as their
    targets' host names; platform services (Tenant, Auth) answer for real.
    """
    if "backend" not in view.service.tags or view.upstream is None:
        return None
    return tuple(t.host for t in view.upstream.targets)
