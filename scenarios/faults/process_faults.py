"""Fault scenarios (issue 8 "Faults"): Redis killed and restarted, Tenant Service down,
a backend failing until the breaker ejects it, every target down, recovery.

They need a controllable target (a `ControllableStack`: the native stack, or the
compose stack through `docker compose kill`/`up`, with kill/restart and stub fault
controls); against a url target they skip with the reason. Waiting is done with `await_convergence`, never with sleeps. Figures
go to the report's reliability section (`redis.*`, `tenant_service.*`,
`breaker.*`).
"""

from __future__ import annotations

import time

import pytest

from harness.contracts.compare import Mismatch
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import await_convergence
from harness.contracts.expect import Captured, Request, TokenSpec
from harness.contracts.features import Capability, Feature
from harness.contracts.scenario import Case, Scenario, register
from harness.errors import ContractMismatch
from harness.stack.base import ControllableStack

RL_HEADERS = ("ratelimit-limit", "x-ratelimit-limit-minute")


def _needs_stack(ctx: ScenarioContext, *services: str) -> ControllableStack:
    stack = ctx.target.stack
    if not isinstance(stack, ControllableStack):
        pytest.skip(f"target {ctx.target.kind} is not controllable (its stack cannot kill "
                    "and restart a service: not a ControllableStack)")
    missing = [s for s in services if s not in stack.services()]
    if missing:
        pytest.skip(f"target {ctx.target.kind} has no {', '.join(missing)} to fault")
    return stack


def _get(ctx: ScenarioContext, tenant: str, host: str, path: str = "/api/users/fault") -> Captured:
    return ctx.client.send(Request(host=host, path=path, token=TokenSpec(tenant)))


def _fail(what: str, expected: str, cap: Captured | None, got: str) -> None:
    raise ContractMismatch(Mismatch(what, expected, got, cap).message)


# -- Redis ----------------------------------------------------------------------

def _redis_killed_and_restarted(ctx: ScenarioContext, case: Case) -> None:
    stack = _needs_stack(ctx, "redis")
    tid, host = ctx.fresh_tenant("basic", "fr")
    first = _get(ctx, tid, host)
    if first.status != 200 or first.header("ratelimit-limit") is None:
        _fail("status and RateLimit-Limit before the fault", "200 with the header", first,
              f"{first.status}, RateLimit-Limit={first.header('ratelimit-limit')}")
    stack.kill("redis")
    try:
        # fault_tolerant=true (kong.yml): proxied, no rate-limit headers, never a 5xx.
        lat = []
        for _ in range(5):
            cap = _get(ctx, tid, host)
            lat.append(cap.elapsed_ms)
            if cap.status != 200:
                _fail("status while Redis is down (fault_tolerant)", "200", cap, str(cap.status))
            present = [h for h in RL_HEADERS if cap.header(h) is not None]
            if present:
                _fail("rate-limit headers while Redis is down", "absent", cap, str(present))
        ctx.record("redis.fail_open_status_200", 1)
        ctx.record("redis.down_latency_max_ms", max(lat))
    finally:
        stack.restart("redis")
    back = time.monotonic()

    def enforced() -> Mismatch | None:
        cap = _get(ctx, tid, host)
        if cap.header("ratelimit-limit") is None:
            return Mismatch("RateLimit-Limit after Redis returned", "present", "absent", cap)
        return None
    await_convergence(enforced, ctx.timeouts, what="rate limiting after Redis restart",
                      required=1, max_time=10)
    recovery = time.monotonic() - back
    ctx.record("redis.recovery_s", recovery)
    if recovery > 1.0 + ctx.timeouts.poll_interval * 2:
        _fail("time from Redis restart to enforcement", "<= 1 s", None, f"{recovery:.2f} s")


# -- Tenant Service ------------------------------------------------------------------

def _tenant_service_down(ctx: ScenarioContext, case: Case) -> None:
    stack = _needs_stack(ctx, "tenant-service")
    tid, host = ctx.fresh_tenant("pro", "ft")
    warm = _get(ctx, tid, host)           # caches the tenant (cache_ttl 30 s)
    if warm.status != 200:
        _fail("status before the fault", "200", warm, str(warm.status))
    tc = ctx.gateway.tenant_context
    timeout_ms = float(tc.timeout) if tc is not None else 1000.0
    unknown = f"ft-never-seen-{int(time.time() * 1000) % 10**9}.{ctx.gateway.tenants.base_domain}"
    stack.kill("tenant-service")
    try:
        cached = _get(ctx, tid, host)
        if cached.status != 200:
            _fail("cached tenant while the Tenant Service is down", "200", cached,
                  str(cached.status))
        cold = ctx.client.send(Request(host=unknown, path="/api/users/fault",
                                       token=TokenSpec(tid)))
        if cold.status != 503 or b"Tenant directory unavailable" not in cold.body:
            _fail("uncached host while the Tenant Service is down",
                  "503 Tenant directory unavailable", cold, f"{cold.status} {cold.body[:80]!r}")
        if cold.elapsed_ms > timeout_ms + 1500:
            _fail("answer time for an uncached host", f"<= {timeout_ms + 1500:.0f} ms "
                  "(tenant-context timeout + margin)", cold, f"{cold.elapsed_ms:.0f} ms")
        ctx.record("tenant_service.cached_ok", 1)
        ctx.record("tenant_service.uncached_status", cold.status)
        ctx.record("tenant_service.uncached_ms", cold.elapsed_ms)
    finally:
        stack.restart("tenant-service")


# -- backends and the breaker --------------------------------------------------------

def _user_instances(ctx: ScenarioContext) -> list[str]:
    up = ctx.gateway.route("users").upstream
    return [t.target.split(":")[0] for t in up.targets] if up else []


def _counter(ctx: ScenarioContext, inst: str) -> int:
    return int(ctx.admin("GET", f"{inst}-admin", "/counters")["total"])


def _backend_breaker(ctx: ScenarioContext, case: Case) -> None:
    _needs_stack(ctx)
    if Capability.STUB_FAULTS not in ctx.capabilities:
        pytest.skip(f"target {ctx.target.kind} offers no stub faults")
    insts = _user_instances(ctx)
    if len(insts) < 2:
        pytest.skip("the users upstream needs two targets for ejection")
    bad, good = insts[0], insts[1]
    tid, host = ctx.fresh_tenant("enterprise", "fb")
    try:
        ctx.set_faults(bad, status=500, health_status=500)
        # Passive http_failures threshold (3) then active checks: bad gets ejected.
        def ejected() -> Mismatch | None:
            before = _counter(ctx, bad)
            for _ in range(4):
                _get(ctx, tid, host)
            got = _counter(ctx, bad) - before
            return None if got == 0 else Mismatch(f"requests reaching ejected {bad}", "0",
                                                   str(got))
        t0 = time.monotonic()
        await_convergence(ejected, ctx.timeouts, what=f"{bad} ejected", required=2,
                          max_time=30)
        ctx.record("breaker.time_to_eject_s", time.monotonic() - t0)
        # Every target down: fail fast with 503 from the balancer.
        ctx.set_faults(good, status=500, health_status=500)

        def all_down() -> Mismatch | None:
            cap = _get(ctx, tid, host)
            return None if cap.status == 503 else Mismatch("status with every target failing",
                                                           "503", str(cap.status), cap)
        await_convergence(all_down, ctx.timeouts, what="all targets ejected", required=3,
                          max_time=15)
        lat = sorted(_get(ctx, tid, host).elapsed_ms for _ in range(20))
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        ctx.record("breaker.open_p99_ms", p99)
    finally:
        ctx.clear_faults(bad)
        ctx.clear_faults(good)
    t1 = time.monotonic()

    def recovered() -> Mismatch | None:
        before = _counter(ctx, bad)
        caps = [_get(ctx, tid, host) for _ in range(4)]
        if any(c.status != 200 for c in caps):
            return Mismatch("status after recovery", "200", str([c.status for c in caps]))
        return None if _counter(ctx, bad) > before else Mismatch(
            f"traffic to recovered {bad}", "> 0", "0")
    await_convergence(recovered, ctx.timeouts, what="active checks re-enable the targets",
                      required=1, max_time=20)
    ctx.record("breaker.recovery_s", time.monotonic() - t1)


for short, desc, feats, body in (
    ("fault-redis", "Redis killed mid-run (fault_tolerant on): fail open without rate-limit "
     "headers and no 5xx; limiting resumes within 1 s of Redis returning",
     {Feature.FAULTS, Feature.RATE_LIMIT}, _redis_killed_and_restarted),
    ("fault-tenant-service", "Tenant Service down: cached tenants keep working; an uncached "
     "host gets 503 Tenant directory unavailable, not a hang",
     {Feature.FAULTS, Feature.TENANT}, _tenant_service_down),
    ("fault-backend", "A failing backend is ejected (no more traffic), every target down "
     "fails fast with 503, active checks recover",
     {Feature.FAULTS, Feature.BREAKER}, _backend_breaker),
):
    register(Scenario(short_name=short, description=desc, features=frozenset(feats),
                      cases=[Case(name="native")], run=body, slow=False))
