"""Fault scenario: a gateway replica killed during traffic (issue 8 "Faults").

gateway-2 of the native stack (`--replicas 2`) is killed while requests alternate between
the replicas; gateway-1 keeps serving and the rate-limit counter they share in Redis stays
consistent. Needs a `ControllableStack` with a second replica; otherwise it skips with the
reason. Figures: `replica.*`.
"""

from __future__ import annotations

import time
import uuid

import pytest

from harness.contracts.compare import Mismatch
from harness.contracts.context import ScenarioContext
from harness.contracts.expect import Captured, Request, TokenSpec
from harness.contracts.features import Capability, Feature
from harness.contracts.scenario import Case, Scenario, register
from harness.errors import ContractMismatch
from harness.stack.base import ControllableStack

UPSTREAM_ROUTE = "users"


def _fail(what: str, expected: str, got: str, cap: Captured | None = None) -> None:
    raise ContractMismatch(Mismatch(what, expected, got, cap).message)


def _replica_killed(ctx: ScenarioContext, case: Case) -> None:
    """gateway-2 killed mid-traffic: gateway-1 keeps serving; the shared Redis counter
    stays consistent (admitted = what the backend saw; Remaining follows it)."""
    stack = ctx.target.stack
    if Capability.REPLICAS not in ctx.capabilities:
        pytest.skip(f"target {ctx.target.kind} has no second replica to kill")
    if not isinstance(stack, ControllableStack):
        pytest.skip(f"target {ctx.target.kind} cannot kill and restart a gateway replica "
                    "(its stack is not a ControllableStack)")
    # The counter check holds within one minute window: a run that a window boundary
    # cut (the first answer's RateLimit-Reset ran out) is run again once, with a fresh
    # tenant, which then starts well inside a window.
    for attempt in (1, 2):
        caps, after, window_ended = _replica_killed_once(ctx, stack)
        if not window_ended or attempt == 2:
            break
    limit = ctx.gateway.tier_limits("basic")["minute"]
    remaining = after[-1].header("ratelimit-remaining")
    if remaining is None or int(remaining) != limit - len(caps):
        _fail("RateLimit-Remaining after the kill (shared Redis counter)",
              str(limit - len(caps)), str(remaining), after[-1])
    ctx.record("replica.served_after_kill", len(after))
    ctx.record("replica.counter_consistent", 1)


def _replica_killed_once(ctx: ScenarioContext, stack: ControllableStack
                         ) -> tuple[list[Captured], list[Captured], bool]:
    """One run: (every answer, the answers after the kill, whether its window ended)."""
    tid, host = ctx.fresh_tenant("basic", "fk")
    limit = ctx.gateway.tier_limits("basic")["minute"]
    mark = f"rk-{uuid.uuid4().hex[:8]}"
    prefix = f"/api/users/{mark}"     # the stub sees it under the service's path
    sent: list[Captured] = []
    window_ends = float("inf")
    try:
        for i in range(limit // 2):
            gw = "gateway" if i % 2 == 0 else "gateway-2"
            if i == limit // 4:
                stack.kill("gateway-2")
            if gw == "gateway-2" and i >= limit // 4:
                continue          # that replica is gone: its clients fail over
            t0 = time.monotonic()
            sent.append(ctx.client.send(Request(host=host, path=f"{prefix}/{i}",
                                                token=TokenSpec(tid), gateway=gw)))
            reset = sent[-1].header("ratelimit-reset")
            if len(sent) == 1 and reset is not None:
                # Kong: Reset = window - floor(elapsed): the window ends by t0 + Reset.
                window_ends = t0 + float(reset) - 1.0
        after = [ctx.client.send(Request(host=host, path=f"{prefix}/after-{i}",
                                         token=TokenSpec(tid))) for i in range(4)]
        window_ended = time.monotonic() >= window_ends
    finally:
        stack.restart("gateway-2")
    caps = sent + after
    if any(c.status != 200 for c in caps):
        _fail("statuses around the replica kill (under the limit)", "all 200",
              str(sorted({c.status for c in caps})))
    up = ctx.gateway.route(UPSTREAM_ROUTE).upstream
    insts = [t.target.split(":")[0] for t in up.targets] if up else []
    seen = 0
    for inst in insts:
        by_path = ctx.admin("GET", f"{inst}-admin", "/counters")["by_path"]
        seen += sum(int(n) for p, n in by_path.items() if f"/{mark}/" in p)
    if seen != len(caps):
        _fail("requests the backend saw vs admitted", str(len(caps)), str(seen))
    return caps, after, window_ended


register(Scenario(
    short_name="fault-replica-killed",
    description="A gateway replica killed during traffic: the other keeps serving and the "
                "shared rate-limit counter stays consistent",
    features=frozenset({Feature.FAULTS, Feature.RATE_LIMIT}),
    cases=[Case(name="gateway-2")], run=_replica_killed, slow=False))
