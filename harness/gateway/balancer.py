"""Upstream balancers: weighted round-robin and Kong's health checks (§4).

Health state follows lua-resty-healthcheck (what Kong uses): counters per
target shared by active and passive checks; a success resets the failure
counters, a failure resets the success counter; a counter reaching its
threshold flips the state. A disabled threshold (0) counts nothing. Passive
checks only see proxied traffic, so they never bring a target back; active
checks (an interval > 0) do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.model import Healthchecks, Upstream

__all__ = ["Balancer", "TargetState"]

log = logging.getLogger("harness.gateway.balancer")

HEALTHY, MOSTLY_HEALTHY, MOSTLY_UNHEALTHY, UNHEALTHY = (
    "healthy", "mostly_healthy", "mostly_unhealthy", "unhealthy")
SUCCESS, HTTP, TCP, TIMEOUT = "successes", "http_failures", "tcp_failures", "timeouts"

Resolver = Callable[[str, int], tuple[str, int]]


@dataclass
class TargetState:
    target: str                 # as written in kong.yml, "host:port"
    host: str
    port: int
    address: tuple[str, int]    # after the --resolve map
    weight: int
    internal: str = HEALTHY
    counters: dict[str, int] = field(default_factory=lambda: {SUCCESS: 0, HTTP: 0, TCP: 0,
                                                               TIMEOUT: 0})
    current: int = 0            # smooth weighted round-robin state

    @property
    def healthy(self) -> bool:
        return self.internal in (HEALTHY, MOSTLY_HEALTHY)


class Balancer:
    """Round-robin over the healthy targets of one upstream (or one plain host)."""

    def __init__(self, name: str, targets: list[TargetState],
                 checks: Healthchecks | None, host_header: str | None = None) -> None:
        self.name = name
        self.targets = targets
        self.checks = checks
        self.host_header = host_header
        self.enabled = bool(checks and checks.enabled)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_upstream(cls, up: Upstream, resolve: Resolver) -> Balancer:
        targets = [TargetState(t.target if ":" in t.target else f"{t.target}:{t.port}",
                               t.host, t.port, resolve(t.host, t.port), t.weight)
                   for t in up.targets]
        return cls(up.name, targets, up.healthchecks, up.host_header)

    @classmethod
    def for_host(cls, host: str, port: int, resolve: Resolver) -> Balancer:
        return cls(host, [TargetState(f"{host}:{port}", host, port, resolve(host, port), 100)],
                   None)

    # -- selection -------------------------------------------------------
    def pick(self) -> TargetState | None:
        """nginx's smooth weighted round-robin over healthy targets with weight > 0."""
        total = 0
        best: TargetState | None = None
        for t in self.targets:
            if t.weight <= 0 or not t.healthy:
                continue
            t.current += t.weight
            total += t.weight
            if best is None or t.current > best.current:
                best = t
        if best is None:
            return None
        if self.checks is not None and self.checks.threshold > 0:
            all_weight = sum(t.weight for t in self.targets)
            if all_weight == 0 or total * 100.0 / all_weight < self.checks.threshold:
                return None
        best.current -= total
        return best

    # -- health bookkeeping ---------------------------------------------
    def _report(self, t: TargetState, kind: str, limit: int) -> None:
        if limit == 0:
            return
        want = HEALTHY if kind == SUCCESS else UNHEALTHY
        if t.internal == want:
            return
        c = t.counters
        if kind == SUCCESS:
            c[HTTP] = c[TCP] = c[TIMEOUT] = 0
        else:
            c[SUCCESS] = 0
        c[kind] += 1
        if c[kind] >= limit:
            if t.internal != want:
                log.warning("upstream %s target %s is now %s (%s=%d)", self.name, t.target,
                            want, kind, c[kind])
            t.internal = want
            for k in c:
                c[k] = 0
        elif t.internal == HEALTHY and kind != SUCCESS:
            t.internal = MOSTLY_HEALTHY
        elif t.internal == UNHEALTHY and kind == SUCCESS:
            t.internal = MOSTLY_UNHEALTHY

    def report_status(self, t: TargetState, status: int) -> None:
        """Passive check: a proxied response came back with `status`."""
        if not self.enabled or self.checks is None:
            return
        p = self.checks.passive
        if status in p.unhealthy.http_statuses:
            self._report(t, HTTP, p.unhealthy.http_failures)
        elif status in p.healthy.http_statuses:
            self._report(t, SUCCESS, p.healthy.successes)

    def report_tcp_failure(self, t: TargetState) -> None:
        if self.enabled and self.checks is not None:
            self._report(t, TCP, self.checks.passive.unhealthy.tcp_failures)

    def report_timeout(self, t: TargetState) -> None:
        if self.enabled and self.checks is not None:
            self._report(t, TIMEOUT, self.checks.passive.unhealthy.timeouts)

    def set_healthy(self, t: TargetState, healthy: bool) -> None:
        """Admin API PUT /upstreams/{u}/targets/{t}/healthy|unhealthy."""
        t.internal = HEALTHY if healthy else UNHEALTHY
        for k in t.counters:
            t.counters[k] = 0

    def health(self) -> list[tuple[str, str, str]]:
        """(target, "ip:port", state) with state healthy/unhealthy/healthchecks_off."""
        out = []
        for t in self.targets:
            state = ("healthchecks_off" if not self.enabled
                     else HEALTHY if t.healthy else UNHEALTHY)
            out.append((t.target, f"{t.address[0]}:{t.address[1]}", state))
        return out

    # -- active checks ----------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.checks is None:
            return
        a = self.checks.active
        if a.healthy.interval > 0:
            self._tasks.append(loop.create_task(self._active_loop(True, a.healthy.interval)))
        if a.unhealthy.interval > 0:
            self._tasks.append(loop.create_task(self._active_loop(False, a.unhealthy.interval)))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    async def _active_loop(self, healthy: bool, interval: float) -> None:
        assert self.checks is not None
        conc = asyncio.Semaphore(self.checks.active.concurrency)
        while True:
            await asyncio.sleep(interval)
            batch = [t for t in self.targets if t.healthy == healthy]

            async def one(t: TargetState) -> None:
                async with conc:
                    await self._probe(t)

            await asyncio.gather(*(one(t) for t in batch), return_exceptions=True)

    async def _probe(self, t: TargetState) -> None:
        """One active check: GET http_path (HTTP/1.0, as lua-resty-healthcheck)."""
        assert self.checks is not None
        a = self.checks.active
        host = t.host if t.port in (80, 443) else f"{t.host}:{t.port}"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(a.timeout):
                reader, writer = await asyncio.open_connection(*t.address)
                if a.type == "tcp":
                    status = None
                else:
                    extra = "".join(f"{k}: {v}\r\n" for k, vs in (a.headers or {}).items()
                                    for v in vs)
                    writer.write(f"GET {a.http_path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n"
                                 .encode())
                    line = await reader.readline()
                    parts = line.split()
                    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        except TimeoutError:
            self._report(t, TIMEOUT, a.unhealthy.timeouts)
            return
        except OSError:
            self._report(t, TCP, a.unhealthy.tcp_failures)
            return
        finally:
            if writer is not None:
                writer.close()
        if status is None or status in a.healthy.http_statuses:
            self._report(t, SUCCESS, a.healthy.successes)
        elif status in a.unhealthy.http_statuses:
            self._report(t, HTTP, a.unhealthy.http_failures)
