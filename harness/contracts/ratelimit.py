"""Run bodies of the per-tier rate-limit contracts.

The limit a tier must enforce comes from the tier catalogue (kong/tiers.yaml,
which the model checks against the tier consumer's rate-limiting plugin);
the 429's status, body and headers come from that plugin's config. A verdict
is only given on requests of one window: the first request's RateLimit-Reset
says by when that window surely still runs; an attempt that failed after that
moment may have straddled the boundary (the counter restarted mid-burst), so
it is run again once, with a fresh tenant, in the next window. No attempt
waits for a boundary up front (that cost up to ~10 s whenever the start fell
in the window's last seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.contracts.compare import compare
from harness.contracts.context import ScenarioContext
from harness.contracts.expect import (
    Captured,
    Expected,
    ExpectedResponse,
    Request,
    TokenSpec,
)
from harness.contracts.features import Capability
from harness.contracts.generators import (
    RouteRequest,
    representative_tenant,
    route_requests,
    stub_instances,
)
from harness.errors import ContractMismatch
from harness.model import Gateway
from harness.model.plugins import RateLimitingConfig

__all__ = ["TierPlan", "limit_holds", "plan", "tenants_are_isolated"]

_WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class TierPlan:
    """What the rate-limit contract expects of one tier, all from the model."""

    tier: str
    window: str          # the smallest configured window (e.g. "minute")
    limit: int
    config: RateLimitingConfig

    @property
    def seconds(self) -> int:
        return _WINDOW_SECONDS[self.window]

    @property
    def header(self) -> str:
        return self.window.capitalize()


def plan(gw: Gateway, tier: str) -> TierPlan:
    limits = gw.tier_limits(tier)
    window = next(w for w in _WINDOW_SECONDS if w in limits)
    consumer = gw.tier_consumer(tier)
    route = _route(gw, f"probe.{gw.tenants.base_domain}").view
    conf = next((sp.plugin.config for sp in gw.plugins_for(route, consumer)
                 if sp.name == "rate-limiting"), None)
    if not isinstance(conf, RateLimitingConfig):
        raise ContractMismatch(f"expected a rate-limiting plugin for consumer {consumer} "
                               f"(tier {tier}) on route {route.name}, got none")
    return TierPlan(tier, window, limits[window], conf)


def _route(gw: Gateway, host: str) -> RouteRequest:
    return next(rr for rr in route_requests(gw, host) if stub_instances(rr.view))


def _request(gw: Gateway, host: str, tenant_id: str, gateway: str = "gateway") -> Request:
    rr = _route(gw, host)
    return Request(rr.method, host, rr.path, token=TokenSpec(tenant_id), gateway=gateway)


def _allowed(p: TierPlan, req: Request, remaining: int | None = None) -> Expected:
    hdrs = {f"X-RateLimit-Limit-{p.header}": str(p.limit)}
    if remaining is not None:
        hdrs[f"X-RateLimit-Remaining-{p.header}"] = str(remaining)
    if p.config.hide_client_headers:
        return Expected(req, ExpectedResponse(absent_headers=tuple(hdrs)),
                        upstream_optional=True)
    return Expected(req, ExpectedResponse(headers=hdrs), upstream_optional=True)


def _refused(p: TierPlan, req: Request) -> Expected:
    c = p.config
    resets = tuple(str(i) for i in range(1, p.seconds + 1))
    if c.hide_client_headers:
        resp = ExpectedResponse(status=(c.error_code,), json={"message": c.error_message},
                                json_extra_keys=frozenset({"request_id"}))
    else:
        resp = ExpectedResponse(
            status=(c.error_code,), json={"message": c.error_message},
            json_extra_keys=frozenset({"request_id"}),
            headers={f"X-RateLimit-Limit-{p.header}": str(p.limit),
                     f"X-RateLimit-Remaining-{p.header}": "0",
                     "RateLimit-Limit": str(p.limit), "RateLimit-Remaining": "0"},
            header_one_of={"Retry-After": resets, "RateLimit-Reset": resets})
    return Expected(req, resp)


def _signed(ctx: ScenarioContext, req: Request) -> Request:
    """`req` with its token minted once, as a header: a burst of the same request reuses
    it (minting, an RS256 signature, cost the harness ~1 ms of CPU per request, ~0.6 s
    of a 600-request burst, while the gateway it measures shared the 2 cores)."""
    auth = dict(ctx.client.headers_for(req))["Authorization"]
    return replace(req, headers=(*req.headers, ("Authorization", auth)))


def _must(expected: Expected, captured: Captured, note: str) -> None:
    mismatch = compare(expected, captured)
    if mismatch is not None:
        raise ContractMismatch(f"{note}: {mismatch.message}")


def _tenant(ctx: ScenarioContext, tier: str, label: str) -> tuple[str, str, bool]:
    """(tenant id, host, fresh): a tenant nobody else used, when the target allows it."""
    if Capability.TENANT_ADMIN in ctx.capabilities:
        tid, host = ctx.fresh_tenant(tier, label)
        return tid, host, True
    t = representative_tenant(ctx.gateway, tier)
    return t.id, ctx.gateway.tenants.host_of(t), False


class _Window:
    """The rate-limit window an attempt's first request fell in, on the local clock."""

    def __init__(self) -> None:
        self.safe_until = float("inf")   # the window surely still runs before this
        self.ends_by = float("inf")      # ... and surely ended at this

    def first(self, ctx: ScenarioContext, p: TierPlan, req: Request, fresh: bool) -> int:
        """Send the attempt's first request, check it, note its window; return what is
        left of the limit in that window."""
        sent = time.time()
        cap = ctx.client.send(req)
        got = time.time()
        _must(_allowed(p, req, p.limit - 1 if fresh else None), cap,
              f"first request of tenant {req.token.tenant_id if req.token else '?'}")
        reset = cap.header("RateLimit-Reset")
        if reset and cap.header("RateLimit-Limit") == str(p.limit):
            # Kong: Reset = window - floor(elapsed) whole seconds (kong-behaviour.md, rate
            # limiting), so the window ends within [Reset - 1, Reset] s of the answer.
            self.safe_until, self.ends_by = sent + float(reset) - 1.0, got + float(reset)
        else:             # headers hidden: fixed UTC windows on this host's clock
            end = (sent // p.seconds + 1) * p.seconds
            self.safe_until, self.ends_by = end - 1.0, end + 1.0
        return int(cap.header(f"X-RateLimit-Remaining-{p.header}") or 0)

    def maybe_crossed(self) -> bool:
        return time.time() >= self.safe_until


def _in_one_window(ctx: ScenarioContext, attempt: Callable[[_Window], None]) -> None:
    """Run `attempt`; if it fails with a mismatch after its window may have ended, wait
    until that window surely has (at most ~2 s) and run it once more: a verdict always
    rests on one window's requests, and no attempt waits for a boundary up front."""
    w = _Window()
    try:
        attempt(w)
        return
    except ContractMismatch:
        if not w.maybe_crossed():
            raise
    left = w.ends_by + 0.05 - time.time()
    if left > 0:
        time.sleep(min(left, float(ctx.timeouts.max_time_to_consistency)))
    attempt(_Window())


def limit_holds(ctx: ScenarioContext, tier: str, *, replicas: bool = False) -> None:
    """Exactly the tier's limit passes in one window; the next request gets the 429."""
    p = plan(ctx.gateway, tier)
    gateways = ["gateway", "gateway-2"] if replicas else ["gateway"]

    def attempt(w: _Window) -> None:
        tid, host, fresh = _tenant(ctx, tier, "rl")
        reqs = [_signed(ctx, _request(ctx.gateway, host, tid, g)) for g in gateways]
        remaining = w.first(ctx, p, reqs[0], fresh)
        burst = [reqs[i % len(reqs)] for i in range(1, remaining + 1)]
        started = time.perf_counter()
        for i, cap in enumerate(ctx.client.send_many(burst, threads=4)):
            _must(_allowed(p, cap.request), cap,
                  f"request {i + 2} of {p.limit} allowed for tier {tier} (tenant {tid})")
        last = reqs[(remaining + 1) % len(reqs)]
        _must(_refused(p, last), ctx.client.send(last),
              f"request {remaining + 2} (limit {p.limit}/{p.window} for tier {tier}, "
              f"tenant {tid}{', alternating replicas' if replicas else ''})")
        ctx.record(f"rate_limit.{tier}{'.replicas' if replicas else ''}.burst_s",
                   time.perf_counter() - started)
    _in_one_window(ctx, attempt)


def tenants_are_isolated(ctx: ScenarioContext, tier: str) -> None:
    """Tenant A exhausting its limit leaves tenant B of the same tier untouched."""
    p = plan(ctx.gateway, tier)

    def attempt(w: _Window) -> None:
        a_id, a_host, _ = _tenant(ctx, tier, "iso-a")
        b_id, b_host, _ = _tenant(ctx, tier, "iso-b")
        a = _request(ctx.gateway, a_host, a_id)
        remaining = w.first(ctx, p, a, True)
        for cap in ctx.client.send_many([a] * remaining, threads=4):
            _must(_allowed(p, a), cap, f"tenant {a_id} within its limit")
        _must(_refused(p, a), ctx.client.send(a), f"tenant {a_id} over its limit")
        b = _request(ctx.gateway, b_host, b_id)
        _must(_allowed(p, b, p.limit - 1), ctx.client.send(b),
              f"tenant {b_id} (same tier {tier}) after tenant {a_id} exhausted its limit")
    _in_one_window(ctx, attempt)
