"""Locust user classes, one per tier (plus the flooding neighbour), built from the model.

Weights come from the tenant directory (active tenants per tier); each user
binds to one tenant of its tier, mints real tokens through the shared client,
and runs the profile catalogue's request mix, each task tagged with the
features it exercises. No assertions beyond `catch_response`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, tag
from locust.env import Environment

from harness.client import Prepared, classify
from harness.load.context import LoadContext, current
from harness.load.features import features_of
from harness.load.profiles import LoadCatalogue, MixEntry
from harness.model import Gateway

__all__ = ["TierUser", "build_user_classes"]


class TierUser(FastHttpUser):
    """Base of the generated classes: `kind` is a tier name or "flood"."""

    abstract = True
    kind = "basic"
    insecure = True          # the gateway's certificates are for tenant SNIs, not 127.0.0.1
    _counter: itertools.count[int]

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        ctx = current()
        self._ctx = ctx
        tenants = ctx.tenants_for(self.kind)
        if not tenants:
            raise RuntimeError(f"no active tenant of kind {self.kind!r} in the directory")
        n = next(type(self)._counter)
        self.tenant = tenants[n % len(tenants)]
        self.sub = f"load-{self.kind}-{n}"
        self.tier = LoadContext.tier_of(self.kind)
        self._limits = ctx.client.limits(self.tier)
        self._recorder = ctx.recorder
        # Per mix entry: (prepared request or None, re-prepare after, Locust context).
        self._prepared: dict[str, tuple[Prepared | None, float, dict[str, str]]] = {}
        # The profile is fixed for the run: its think time is read once, not per task.
        prof = ctx.profile
        self._wait = (prof.flood_wait, prof.flood_wait) if self.kind == "flood" \
            else (prof.wait.min, prof.wait.max)

    def wait_time(self) -> float:
        lo, hi = self._wait
        return lo if lo == hi else random.uniform(lo, hi)

    def send(self, entry: MixEntry) -> None:
        # The prepared request (with its token) is reused for a minute: the client re-mints
        # tokens well before they expire, so this never sends a stale one. This is the
        # generator's per-request path: kept to a dict lookup and a clock read.
        now = time.monotonic()
        cached = self._prepared.get(entry.name)
        if cached is None or now > cached[1]:
            cached = self._prepared[entry.name] = (
                self._ctx.client.prepare(self.tenant, entry.route, entry.method, entry.path,
                                         entry.body, sub=self.sub), now + 60,
                {"kind": self.kind, "tier": self.tier, "tenant": self.tenant.id,
                 "route": entry.route})
        prep = cached[0]
        if prep is None:      # https-only route and no TLS listener known: not in this run
            return
        # The users record their own requests (harness.load.hooks only ships the records
        # of workers): no listener hop and no second look at the response per request.
        with self.client.request(prep.method, prep.url, headers=prep.headers,
                                 data=prep.body,  # type: ignore[arg-type]
                                 name=prep.name, catch_response=True,
                                 context=cached[2]) as resp:
            status = resp.status_code or 0
            if 200 <= status < 300:
                resp.success()
                self._recorder.record_ok(self.kind, entry.route, self.tenant.id, status,
                                         resp.request_meta["response_time"])
                return
            header = resp.headers.get if resp.headers is not None else _no_header
            outcome, why = classify(status, header, self._limits)
            if outcome == "failed":
                resp.failure(why)
            else:
                resp.success()
            exc = resp.request_meta.get("exception") or getattr(resp, "error", None)
            reason = f"{type(exc).__name__}: {str(exc)[:80]}" if status == 0 and exc else ""
            self._recorder.record(self.kind, self.tier, self.tenant.id, entry.route, status,
                                  float(resp.request_meta["response_time"]), header, reason)


def _no_header(_: str) -> None:
    return None


def _task(entry: MixEntry, features: list[str]) -> Callable[[TierUser], None]:
    def run(user: TierUser) -> None:
        user.send(entry)

    run.__name__ = run.__qualname__ = entry.name.replace("-", "_")
    return tag(*features)(run) if features else run


def build_user_classes(gateway: Gateway, catalogue: LoadCatalogue) -> dict[str, type[TierUser]]:
    """Class name -> class: BasicUser, ProUser, EnterpriseUser, FloodUser."""
    tasks = {m.name: _task(m, features_of(gateway, m.route)) for m in catalogue.mix}
    mix: dict[Any, int] = {tasks[m.name]: m.weight for m in catalogue.mix}
    flood: dict[Any, int] = {tasks[m.name]: m.weight for m in catalogue.mix
                             if m.name in catalogue.flood_mix}
    out: dict[str, type[TierUser]] = {}
    for tier in gateway.tiers.tiers:
        active = sum(1 for t in gateway.tenants.tenants if t.tier == tier and t.active)
        if not active:
            continue
        name = f"{tier.capitalize()}User"
        out[name] = type(name, (TierUser,), {
            "kind": tier, "weight": active, "tasks": mix, "abstract": False,
            "_counter": itertools.count(), "__module__": __name__,
            "__doc__": f"A user of a {tier}-tier tenant ({active} active tenants)."})
    out["FloodUser"] = type("FloodUser", (TierUser,), {
        "kind": "flood", "weight": 1, "tasks": flood, "abstract": False,
        "_counter": itertools.count(), "__module__": __name__,
        "__doc__": "One basic tenant sending as fast as it can (noisy-neighbour)."})
    return out
