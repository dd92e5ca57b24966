"""A throw-away reference gateway with one service's timeouts shortened, for fault scenarios.

Waiting out kong.yml's 5 s read timeout costs a fault scenario seconds per case. This
gateway runs a copy of the repository's gateway config in which only the named
service's `read_timeout` is shorter (and, if asked, its upstream's active probes:
Probes, or its `retries`); it shares the running native stack's stubs, Redis and Tenant
Service (the stack's resolve map), so a stub fault is seen by it exactly as by the
stack's own replicas. Everything else (targets, passive checks, retries unless asked)
is kong.yml's own: what is observed is still Kong's timeout, retry and health-check
behaviour, on a shorter clock. `retries=0` makes one timed-out try the client's answer
(Kong's 504) without making every instance slow for retries x read timeout.

Several variants start together (`fault_gateways`: their ~1.4 s start-ups overlap), and
`SHARED` keeps them up across the cases of one scenario (the scenarios' conftest closes
it when the next pytest item belongs to another scenario).

Given the stack's state.json, each gateway is recorded there (extra["transient"], with
its working directory) while it runs: if the harness dies mid-scenario (SIGKILL skips
every `finally`), the orphan reaper or `harness down` stops it with the stack and frees
its ports, and the reaper removes its working directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import StackError
from harness.model import Gateway, load_gateway, load_yaml
from harness.stack.gateway_build import gateway_launch
from harness.stack.ports import free_port
from harness.stack.process import ProcessRecord, signals_deferred, spawn, stop_all
from harness.stack.readiness import HttpReady, Waiting, wait_all
from harness.stack.run_state import add_transient, drop_transient

__all__ = ["SHARED", "FaultGateway", "Probes", "SharedFaultGateways", "Variant",
           "fault_gateway", "fault_gateways", "shortened_root"]

KONG_YML = Path("kong/declarative-config/kong.yml")
READY_S = 20.0
STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class FaultGateway:
    proxy_url: str      # http://127.0.0.1:port
    status_url: str     # its status listener (upstream health, Kong's shape)
    model: Gateway      # the derived config it runs
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None


@dataclass(frozen=True)
class Probes:
    """Active health checks of the service's upstream on the derived copy: probes of a
    healthy target every `healthy_interval` s, each given `timeout` s, `unhealthy_timeouts`
    timed-out probes eject (kong.yml: 2 s, 1 s, 2, which takes 3-5 s); if given,
    `healthy_successes` successful probes (one unhealthy.interval apart) re-admit
    (kong.yml: 2, which takes 1-2 s)."""
    timeout: float
    healthy_interval: int
    unhealthy_timeouts: int
    healthy_successes: int | None = None


@dataclass(frozen=True)
class Variant:
    """What one fault gateway changes in kong.yml: `service`'s read timeout, and if given
    its upstream's active probes and its retries (see shortened_root)."""
    service: str
    read_timeout_ms: int
    probes: Probes | None = None
    retries: int | None = None


class _Expanded(yaml.SafeDumper):
    # Aliases written out in full: the copy reads like kong.yml with values edited.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def shortened_root(root: Path, dest: Path, service: str, read_timeout_ms: int,
                   probes: Probes | None = None, retries: int | None = None) -> Gateway:
    """Copy root's kong/ to dest with `service`'s read_timeout set to read_timeout_ms (and
    its upstream's active probes to `probes`, its retries to `retries`); the copy is loaded
    back through the model, so a miss is an error, not a silent no-op."""
    original = load_gateway(root)
    svc = next((s for s in original.kong.services if s.name == service), None)
    if svc is None:
        raise StackError(f"{root / KONG_YML}: no service {service!r} to derive a fault "
                         "gateway from")
    if probes is not None and svc.host not in original.upstreams:
        raise StackError(f"{root / KONG_YML}: services.{service}.host: expected an upstream "
                         f"whose active probes to shorten, got {svc.host!r} (no such upstream)")
    shutil.copytree(root / "kong", dest / "kong")
    (dest / "stack").symlink_to(root / "stack")
    raw = load_yaml(root / KONG_YML)
    raw_svc = next(s for s in raw["services"] if s.get("name") == service)
    raw_svc["read_timeout"] = read_timeout_ms
    if retries is not None:
        raw_svc["retries"] = retries
    if probes is not None:
        up = next(u for u in raw["upstreams"] if u.get("name") == svc.host)
        active = up.setdefault("healthchecks", {}).setdefault("active", {})
        active["timeout"] = probes.timeout
        active.setdefault("healthy", {})["interval"] = probes.healthy_interval
        active.setdefault("unhealthy", {})["timeouts"] = probes.unhealthy_timeouts
        if probes.healthy_successes is not None:
            active["healthy"]["successes"] = probes.healthy_successes
    (dest / KONG_YML).write_text(yaml.dump(raw, Dumper=_Expanded, sort_keys=False))
    derived = load_gateway(dest)
    dsvc = next(s for s in derived.kong.services if s.name == service)
    if dsvc.read_timeout != read_timeout_ms:
        raise StackError(f"{dest / KONG_YML}: services.{service}.read_timeout: expected "
                         f"{read_timeout_ms} after the edit, got {dsvc.read_timeout}")
    if retries is not None and dsvc.retries != retries:
        raise StackError(f"{dest / KONG_YML}: services.{service}.retries: expected "
                         f"{retries} after the edit, got {dsvc.retries}")
    if probes is not None:
        a = derived.upstreams[svc.host].healthchecks.active
        now = Probes(a.timeout, a.healthy.interval, a.unhealthy.timeouts,
                     a.healthy.successes if probes.healthy_successes is not None else None)
        if now != probes:
            raise StackError(f"{dest / KONG_YML}: upstreams.{svc.host}.healthchecks.active: "
                             f"expected {probes} after the edit, got {now}")
    return derived


@contextmanager
def fault_gateway(root: Path, resolve: dict[str, str], service: str,
                  read_timeout_ms: int, *, probes: Probes | None = None,
                  retries: int | None = None, state: Path | None = None
                  ) -> Iterator[FaultGateway]:
    """Run a reference gateway on free ports whose `service` times out after
    read_timeout_ms (its upstream probed as `probes` says and the service retried
    `retries` times, if given), routed to the stack's processes by `resolve`; stopped on
    exit.

    `state`: the running stack's state.json, to record the gateway in while it runs
    (its files then live in the stack's run directory too)."""
    with fault_gateways(root, resolve, [Variant(service, read_timeout_ms, probes, retries)],
                        state=state) as (fgw,):
        yield fgw


@contextmanager
def fault_gateways(root: Path, resolve: dict[str, str], variants: Sequence[Variant], *,
                   state: Path | None = None) -> Iterator[list[FaultGateway]]:
    """One fault gateway per variant (as fault_gateway), all spawned before any is waited
    for, so their start-ups overlap; all stopped on exit."""
    works: list[Path] = []
    recs: list[ProcessRecord] = []
    try:
        waits: list[Waiting] = []
        out: list[FaultGateway] = []
        resolve_args = [a for k, v in sorted(resolve.items()) for a in ("--resolve", f"{k}={v}")]
        launch = gateway_launch()   # the build the stack's gateways run
        for i, v in enumerate(variants):
            work = Path(tempfile.mkdtemp(prefix="fault-gw-",
                                         dir=state.parent if state is not None else None))
            works.append(work)
            model = shortened_root(root, work / "root", v.service, v.read_timeout_ms,
                                   v.probes, v.retries)
            http, status = free_port(), free_port()
            log = work / "logs" / "fault-gateway.log"
            # Ctrl-C between the spawn and the record would orphan the gateway.
            with signals_deferred():
                proc, rec = spawn("fault-gateway", [
                    *launch.argv, "--root", str(work / "root"),
                    "--http-port", str(http), "--status-port", str(status),
                    "--log-dir", str(work / "logs"), "--replica-id", str(99 - i),
                    *resolve_args], log, cwd=root)
                recs.append(rec)
                if state is not None:
                    add_transient(state, rec, workdir=work)
            waits.append(Waiting("fault-gateway", HttpReady(status, "/status"), log, proc.poll,
                                 "the derived config did not load; see the log"))
            out.append(FaultGateway(f"http://127.0.0.1:{http}", f"http://127.0.0.1:{status}",
                                    model, proc))
        wait_all(waits, READY_S)
        yield out
    finally:
        stop_all(recs, STOP_GRACE_S)
        for work in works:
            shutil.rmtree(work, ignore_errors=True)
        if state is not None:     # after the directories: a record outlives its files
            for rec in recs:
                drop_transient(state, rec)


class SharedFaultGateways:
    """Fault gateways kept up across the cases of one scenario instead of one start per case.

    Every case asks for all the variants its scenario (`owner`) uses (`get`): the first
    ask starts them together, later asks get the running ones (restarted if one died, or
    if another stack is asked for). `prepare` starts them in the background beforehand,
    so that a preceding scenario's waits hide the start-up; `get` then waits for it.
    What a case leaves behind (a target it got ejected) is the next case's to wait out:
    check health before relying on it; what must hold before the next scenario goes to
    `at_end`. `close()` runs those and stops them; the scenarios' conftest calls it once
    the next pytest item belongs to another scenario than `owner`."""

    def __init__(self) -> None:
        self.owner: str | None = None
        self._exit: ExitStack | None = None
        self._key: tuple[str, ...] = ()
        self._running: dict[Variant, FaultGateway] = {}
        self._starting: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._at_end: list[Callable[[], None]] = []

    @staticmethod
    def _key_of(root: Path, resolve: dict[str, str], state: Path | None) -> tuple[str, ...]:
        return (str(root), repr(sorted(resolve.items())), str(state))

    def _start(self, key: tuple[str, ...], root: Path, resolve: dict[str, str],
               variants: Sequence[Variant], state: Path | None) -> None:
        try:
            with ExitStack() as starting:      # stops what started if a start fails
                gws = starting.enter_context(fault_gateways(root, resolve, variants,
                                                            state=state))
                self._exit = starting.pop_all()
            self._key, self._running = key, dict(zip(variants, gws, strict=True))
        except Exception as exc:               # noqa: BLE001 - re-raised by `get`
            self._failed = exc

    def _settle(self) -> None:
        """Wait for a background start (bounded: the readiness wait inside is)."""
        if self._starting is not None:
            self._starting.join(READY_S + 10 * STOP_GRACE_S)
            if self._starting.is_alive():
                raise StackError(f"fault gateways for {self.owner}: the background start "
                                 f"did not finish within {READY_S + 10 * STOP_GRACE_S:.0f} s")
            self._starting = None

    def prepare(self, owner: str, root: Path, resolve: dict[str, str],
                variants: Sequence[Variant], *, state: Path | None = None) -> None:
        """Start `variants` for scenario `owner` in the background and return at once."""
        self.close()
        self.owner = owner
        self._starting = threading.Thread(
            target=self._start, name=f"fault-gateways-{owner}", daemon=True,
            args=(self._key_of(root, resolve, state), root, resolve, list(variants), state))
        self._starting.start()

    def get(self, owner: str, root: Path, resolve: dict[str, str],
            variants: Sequence[Variant], *, state: Path | None = None) -> list[FaultGateway]:
        self._settle()
        failed, self._failed = self._failed, None
        if failed is not None:       # the background start's error, where it is needed
            self.close()
            raise failed
        key = self._key_of(root, resolve, state)
        if (key != self._key or any(v not in self._running for v in variants)
                or not all(g.alive() for g in self._running.values())):
            self.close()
            self._start(key, root, resolve, variants, state)
            failed, self._failed = self._failed, None
            if failed is not None:
                raise failed
        self.owner = owner
        return [self._running[v] for v in variants]

    def at_end(self, check: Callable[[], None]) -> None:
        """Run `check` when the owner scenario is over (close), before the gateways stop:
        for what a case must verify before the next scenario runs, though not before its
        own scenario's next case, which does not depend on it."""
        self._at_end.append(check)

    def close(self) -> None:
        """Run the at_end checks, then stop every shared gateway (no-op when none runs);
        the first failed check is raised once all ran and the gateways stopped."""
        checks, self._at_end = self._at_end, []
        failed: list[Exception] = []
        for check in checks:
            try:
                check()
            except Exception as exc:           # noqa: BLE001 - raised below
                failed.append(exc)
        try:
            self._settle()
        finally:
            exit_stack, self._exit, self._running, self._key = self._exit, None, {}, ()
            self.owner, self._failed = None, None
            if exit_stack is not None:
                exit_stack.close()
        if failed:
            raise failed[0]


SHARED = SharedFaultGateways()
