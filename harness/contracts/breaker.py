"""Run bodies of the circuit-breaker contracts (passive + active health checks).

The upstream, its targets, thresholds and check intervals come from kong.yml
through the model; faults are set on the stub instances through their admin
API and always cleared afterwards, and the scenario waits (by convergence,
not sleeps) until every target is back before it returns.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from harness.contracts.compare import Mismatch, compare
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import await_convergence
from harness.contracts.expect import Expected, ExpectedUpstream, Request, TokenSpec, kong_error
from harness.contracts.generators import host_cases, route_requests, stub_instances
from harness.errors import ContractMismatch, HarnessError
from harness.model import Gateway, Upstream

__all__ = ["BreakerPlan", "all_down_fast_503", "eject_and_recover", "plan"]

NO_PEER = "failure to get a peer from the ring-balancer"


@dataclass(frozen=True)
class BreakerPlan:
    upstream: Upstream
    instances: tuple[str, ...]
    request: Request

    @property
    def recovery_bound(self) -> float:
        """Seconds within which active checks must re-admit a recovered target."""
        a = self.upstream.healthchecks.active
        return a.healthy.interval * (a.healthy.successes + 1) + a.timeout + 2.0

    @property
    def ejection_bound(self) -> float:
        a = self.upstream.healthchecks.active
        return a.unhealthy.interval * (a.unhealthy.http_failures + 1) + a.timeout + 2.0


def plan(gw: Gateway, min_targets: int = 1) -> BreakerPlan:
    """The first stub route whose upstream has health checks and enough targets."""
    hc = host_cases(gw)[-1]
    for rr in route_requests(gw, hc.host):
        inst = stub_instances(rr.view)
        up = rr.view.upstream
        if inst and up is not None and up.healthchecks.enabled and len(inst) >= min_targets:
            req = Request(rr.method, hc.host, rr.path, token=TokenSpec(hc.tenant.id))
            return BreakerPlan(up, inst, req)
    raise HarnessError(f"kong.yml has no stub-backed route whose upstream has health checks "
                       f"and at least {min_targets} targets")


def _served_by(ctx: ScenarioContext, p: BreakerPlan, allowed: tuple[str, ...],
               n: int) -> Mismatch | None:
    exp = Expected(p.request, upstream=ExpectedUpstream(instances=allowed))
    for cap in ctx.client.send_many([p.request] * n):
        m = compare(exp, cap)
        if m is not None:
            return m
    return None


def _all_back(ctx: ScenarioContext, p: BreakerPlan) -> Mismatch | None:
    seen: set[str] = set()
    for cap in ctx.client.send_many([p.request] * (2 * len(p.instances))):
        echo = cap.echo
        if cap.status != 200 or echo is None:
            return Mismatch("status", "200 from a stub", str(cap.status), cap)
        seen.add(echo.instance)
    if seen != set(p.instances):
        return Mismatch("instances answering", f"all of {sorted(p.instances)}",
                        str(sorted(seen)))
    return None


def _await_recovery(ctx: ScenarioContext, p: BreakerPlan, what: str) -> float:
    started = time.monotonic()
    await_convergence(lambda: _all_back(ctx, p), ctx.timeouts, what=what,
                      max_time=max(p.recovery_bound * 2, ctx.timeouts.max_time_to_consistency))
    return time.monotonic() - started


def eject_and_recover(ctx: ScenarioContext) -> None:
    """A failing instance is ejected, traffic goes to the healthy one, and the active
    checks bring it back within the configured interval once it recovers."""
    p = plan(ctx.gateway, min_targets=2)
    bad, good = p.instances[0], p.instances[1:]
    started = time.monotonic()
    try:
        ctx.set_faults(bad, status=500)
        await_convergence(lambda: _served_by(ctx, p, good, 4), ctx.timeouts,
                          what=f"ejection of {bad} from {p.upstream.name}",
                          max_time=p.ejection_bound * 2)
        ctx.record("breaker.ejection_s", time.monotonic() - started)
    finally:
        ctx.clear_faults(bad)
    took = _await_recovery(ctx, p, f"re-admission of {bad} by active health checks")
    ctx.record("breaker.recovery_s", took)
    if took > p.recovery_bound:
        raise ContractMismatch(f"expected {bad} back within {p.recovery_bound:.1f} s "
                               f"(active healthy interval x successes), got {took:.1f} s")


def all_down_fast_503(ctx: ScenarioContext) -> None:
    """All targets down: once ejected, the gateway answers 503 fast, without waiting."""
    p = plan(ctx.gateway)
    exp = Expected(p.request, kong_error(503, NO_PEER,
                                         max_elapsed_ms=ctx.timeouts.breaker_fast_503_ms))
    times: list[float] = []

    def fast_503() -> Mismatch | None:
        cap = ctx.client.send(p.request)
        m = compare(exp, cap)
        if m is None:
            times.append(cap.elapsed_ms)
        return m

    try:
        for inst in p.instances:
            ctx.set_faults(inst, down=True)
        await_convergence(fast_503, ctx.timeouts, what=f"503 with every target of "
                          f"{p.upstream.name} down", max_time=p.ejection_bound * 2)
        ctx.record("breaker.all_down_503_ms", statistics.median(times))
    finally:
        for inst in p.instances:
            ctx.clear_faults(inst)
    _await_recovery(ctx, p, f"recovery of {p.upstream.name} after all targets returned")
