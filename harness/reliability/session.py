"""Per-session state of the reliability scenarios, kept beside the contract context.

The contract suite's `ScenarioContext` is one per pytest session; the hostile
environment (fresh tenants, canary listener) is built once for it on first
use and closed at interpreter exit. Tallies for the report's reliability
section go into `ctx.figures` under the `security.` prefix.
"""

from __future__ import annotations

import atexit
import threading

import harness.reliability.figures  # noqa: F401  (registers the report's reliability section)
from harness.contracts.context import ScenarioContext
from harness.contracts.features import Capability
from harness.errors import StackError
from harness.reliability.hostile import CaseOutcome, HostileEnv, SsrfCanary, env_vars

__all__ = ["hostile_env", "record_outcome", "stub_instances"]

_ENVS: dict[int, HostileEnv] = {}


def stub_instances(ctx: ScenarioContext) -> list[str]:
    """Stub instance names (kong.yml upstream target hosts) the stack serves."""
    names = []
    for up in ctx.gateway.kong.upstreams:
        for t in up.targets:
            name = t.target.split(":")[0]
            if name not in ("tenant-service", "auth-service"):
                names.append(name)
    return names


def _tenants(ctx: ScenarioContext) -> tuple[tuple[str, str], tuple[str, str]]:
    """Tenants A and B: fresh ones (nobody else's rate-limit counters), else seeded ones."""
    if Capability.TENANT_ADMIN in ctx.capabilities:
        try:
            return ctx.fresh_tenant("enterprise", "ha"), ctx.fresh_tenant("pro", "hb")
        except (StackError, KeyError):
            pass
    active = [t for t in ctx.gateway.tenants.tenants if t.status == "active"]
    a = active[-1]
    b = next(t for t in active if t.tier != a.tier)
    host = ctx.gateway.tenants.host_of
    return (a.id, host(a)), (b.id, host(b))


def hostile_env(ctx: ScenarioContext) -> HostileEnv:
    env = _ENVS.get(id(ctx))
    if env is None:
        a, b = _tenants(ctx)
        canary = SsrfCanary()
        admins = []
        if Capability.STUB_FAULTS in ctx.capabilities and ctx.target.stack is not None:
            admins = [ctx.target.stack.endpoint(f"{n}-admin").url.rstrip("/")
                      for n in stub_instances(ctx)]
        env = HostileEnv(ctx.target, ctx.gateway, env_vars(ctx.gateway, ctx.target, a, b,
                                                           canary.url), admins, canary)
        _ENVS[id(ctx)] = env
        atexit.register(env.close)
    return env


_FIGURES_LOCK = threading.Lock()


def _bump(ctx: ScenarioContext, key: str, by: int = 1) -> None:
    # Cases of one scenario may run on threads (concurrency=INDEPENDENT).
    with _FIGURES_LOCK:
        ctx.figures[f"security.{key}"] = ctx.figures.get(f"security.{key}", 0) + by


def record_outcome(ctx: ScenarioContext, env: HostileEnv, out: CaseOutcome) -> None:
    """Tally one case for the report's reliability section."""
    sec = "jwt" if out.case.section == "§1" else "tenant"
    _bump(ctx, "hostile.tried")
    _bump(ctx, f"hostile.{sec}.tried")
    if out.mismatch is None:
        _bump(ctx, "hostile.as_expected")
        _bump(ctx, f"hostile.{sec}.as_expected")
    elif out.case.finding:
        _bump(ctx, "hostile.open_findings")
    # Known findings are tallied apart, so the gates (reached_backend, 5xx:
    # must be 0) speak of regressions only.
    where = "hostile.findings" if out.case.finding else "hostile"
    never = out.case.expect.backend == "never"
    if never and out.backend_hits:
        _bump(ctx, f"{where}.reached_backend" if out.case.finding else "hostile.reached_backend")
    if out.five_xx:
        _bump(ctx, f"{where}.5xx" if out.case.finding else "hostile.5xx")
    if out.hang:
        _bump(ctx, "hostile.hangs")
    if not env.stub_admins:
        ctx.figures["security.hostile.backend_unchecked"] = 1
