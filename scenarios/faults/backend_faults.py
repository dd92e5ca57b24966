"""Backend fault scenarios (issue 8 "Faults"): hanging, slower than the read timeout, 50 %
errors, flapping (the replica kill is in replica_faults.py).

Every backend case faults ONE instance of the users upstream (the other stays
good) and follows the breaker through the gateway's own health view (the
status listener's `GET /upstreams/<u>/health`, Kong's shape), so waiting for
the ejection costs no proxied request that would sit out a read timeout. The
bounds come from kong.yml's healthchecks (interval, thresholds, probe timeout),
not from constants. Figures go to the report under `breaker.<case>.*`.
The hang/slow cases, which must let proxied requests time out, run
them through a fault gateway (harness.reliability.fault_gateway) whose users
service has a 0.5 s read timeout instead of kong.yml's 5 s, and whose users
upstream probes faster (FAULT_PROBES): the same upstream, health checks and
retries on a shorter clock. The timeout_504 case runs one request through a fault
gateway whose users service also has `retries: 0` while both instances are slow: the
one try times out and the client gets Kong's 504 (kong-behaviour.md §4 failure
responses and §0 error templates), checked by the contracts' comparator. Both fault
gateways start together at the scenario's first case and serve all its cases (the
shared SHARED pool, closed by scenarios/conftest.py when the scenario is over): each
case first waits until its gateway sees both users instances healthy again.
"""

from __future__ import annotations

import atexit
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.contracts.compare import Mismatch, compare
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import await_convergence
from harness.contracts.expect import Captured, Expected, Request, TokenSpec, kong_error
from harness.contracts.features import Capability, Feature
from harness.contracts.scenario import Case, Scenario, register
from harness.errors import ContractMismatch, StackError
from harness.model import Upstream
from harness.reliability.fault_gateway import SHARED, FaultGateway, Probes, Variant

UPSTREAM_ROUTE = "users"
SLACK_S = 3.0   # scheduling slack on this shared 2-core machine
# The slow/hang cases run on a fault gateway whose users service times out after this
# (kong.yml: 5000 ms): Kong's behaviour on a shorter clock. A slow answer comes halfway
# between a fault gateway's read timeout and kong.yml's active probe timeout (1 s):
# past the read timeout, yet the stack's own replicas see slow successful probes, not
# timeouts, so they never eject the slow instance (a timed-out probe still in flight at
# the end of a case ejected it after the case's check, and the next case waited ~2 s
# for its re-admission); or, if there is no room between the two, this much after the
# read timeout.
FAULT_READ_TIMEOUT_MS = 500
SLOW_PAST_MS = 500
# ... and its users upstream's active probes: a healthy target probed every 1 s (kong.yml:
# 2 s), given 0.5 s (1 s), one timed-out probe ejects (2): an ejection by probes alone
# shows within ~1.5 s instead of 3-5 s; one successful probe re-admits (2): within 1 s
# (the unhealthy.interval) instead of 1-2 s, as each case's re-admission check and the
# next case on the shared gateway wait for it. Both hang and slow stubs answer /health
# no faster than their other paths, so these probes (timeout <= the read timeout) time
# out.
FAULT_PROBES = Probes(timeout=0.5, healthy_interval=1, unhealthy_timeouts=1,
                      healthy_successes=1)
# The 504 case's read timeout: one try is the whole wait (its stubs answer as the slow
# case's do, see _slow_ms).
TIMEOUT_504_READ_MS = 500
# kong-behaviour.md §4: every try timed out -> 504 through /kong_error_handler, whose
# type follows Accept (§0); asked for JSON, the kong.response.error template.
TIMEOUT_MESSAGE = "The upstream server is timing out"
PROXIED_LATENCIES = ("X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency")
MIME_JSON = "application/json; charset=utf-8"


def _fail(what: str, expected: str, got: str, cap: Captured | None = None) -> None:
    raise ContractMismatch(Mismatch(what, expected, got, cap).message)


def _setup(ctx: ScenarioContext) -> tuple[Upstream, str, str]:
    """(upstream model, bad instance, good instance); skips without stub faults."""
    if ctx.target.stack is None or Capability.STUB_FAULTS not in ctx.capabilities:
        pytest.skip(f"target {ctx.target.kind} offers no stub faults")
    if not ctx.target.status_url:
        pytest.skip(f"target {ctx.target.kind} has no status listener (upstream health)")
    up = ctx.gateway.route(UPSTREAM_ROUTE).upstream
    if up is None or len(up.targets) < 2:
        pytest.skip("the users upstream needs two targets")
    names = [t.target.split(":")[0] for t in up.targets]
    return up, names[0], names[1]


_HTTP: list[httpx.Client] = []


def _http() -> httpx.Client:
    """One keep-alive client for the fault gateways and status listeners: a new client
    per request (httpx.get) cost ~35 ms (its TLS context), which every health poll and
    every ejected_p99_ms figure carried."""
    if not _HTTP:
        _HTTP.append(httpx.Client(trust_env=False))
        atexit.register(_HTTP[0].close)
    return _HTTP[0]


def _health(ctx: ScenarioContext, upstream: str, inst: str, status_url: str | None = None
            ) -> str:
    base = status_url or ctx.target.status_url
    if not base:
        raise StackError(f"target {ctx.target.kind} has no status listener (upstream health)")
    url = f"{base.rstrip('/')}/upstreams/{upstream}/health"
    doc = _http().get(url, timeout=ctx.timeouts.request).json()
    for row in doc.get("data", []):
        if str(row.get("target", "")).split(":")[0] == inst:
            return str(row.get("health"))
    raise StackError(f"GET {url}: no target {inst} in {doc}")


def _counter(ctx: ScenarioContext, inst: str) -> int:
    return int(ctx.admin("GET", f"{inst}-admin", "/counters")["total"])


def _get(ctx: ScenarioContext, tid: str, host: str, base: str | None = None,
         headers: tuple[tuple[str, str], ...] = ()) -> Captured:
    req = Request(host=host, path=f"/api/users/bf-{uuid.uuid4().hex[:6]}",
                  headers=headers, token=TokenSpec(tid))
    if base is None:
        return ctx.client.send(req)
    headers = ctx.client.headers_for(req)
    t0 = time.perf_counter()
    r = _http().get(base + req.path, headers=list(headers), timeout=ctx.timeouts.request)
    return Captured(req, headers, r.status_code, tuple(r.headers.multi_items()), r.content,
                    (time.perf_counter() - t0) * 1000)


def _await_health(ctx: ScenarioContext, up: Upstream, inst: str, want: str, bound: float,
                  label: str, *, drive: tuple[str, str] | None = None,
                  status_url: str | None = None, burst: int = 1) -> float:
    """Seconds until the gateway (the stack's, or the one at status_url) reports `inst` as
    `want`; fails past `bound`.

    `drive` (tenant, host) sends `burst` requests per poll, for thresholds that only
    passive checks (proxied responses) can reach."""
    t0 = time.monotonic()

    def check() -> Mismatch | None:
        if drive is not None:
            for _ in range(burst):
                _get(ctx, *drive)
        got = _health(ctx, up.name, inst, status_url)
        return None if got == want else Mismatch(f"health of {inst}", want, got)
    await_convergence(check, ctx.timeouts, what=f"{inst} {want} ({label})", required=1,
                      max_time=bound)
    return time.monotonic() - t0


def _eject_bound(up: Upstream, failures: int) -> float:
    """Active checks: `failures` probes one unhealthy.interval apart, each up to `timeout`."""
    a = up.healthchecks.active
    return failures * (float(a.unhealthy.interval) + float(a.timeout)) + SLACK_S


def _recover_bound(up: Upstream) -> float:
    a = up.healthchecks.active
    return (a.healthy.successes + 1) * float(a.healthy.interval) + float(a.timeout) + SLACK_S


def _assert_no_traffic(ctx: ScenarioContext, tid: str, host: str, bad: str, label: str,
                       n: int = 12, base: str | None = None) -> None:
    """While ejected: every request answered 200 by the good instance, none reaches `bad`."""
    before = _counter(ctx, bad)
    caps = [_get(ctx, tid, host, base) for _ in range(n)]
    reached = _counter(ctx, bad) - before
    statuses = sorted({c.status for c in caps})
    if statuses != [200]:
        _fail(f"statuses with {bad} ejected", "all 200", str(statuses))
    if reached:
        _fail(f"requests reaching ejected {bad}", "0", str(reached))
    lat = sorted(c.elapsed_ms for c in caps)
    ctx.record(f"breaker.{label}.ejected_p99_ms", lat[min(len(lat) - 1, int(len(lat) * 0.99))])


def _recover(ctx: ScenarioContext, up: Upstream, tid: str, host: str, bad: str, label: str, *,
             status_url: str | None = None, base: str | None = None) -> None:
    ctx.clear_faults(bad)
    took = _await_health(ctx, up, bad, "HEALTHY", _recover_bound(up), label,
                         status_url=status_url)
    before = _counter(ctx, bad)
    for _ in range(4):
        _get(ctx, tid, host, base)
    if _counter(ctx, bad) == before:
        _fail(f"traffic to recovered {bad}", "> 0 of 4 round-robin requests", "0")
    ctx.record(f"breaker.{label}.recovery_s", took)


def _active_eject(ctx: ScenarioContext, up: Upstream, bad: str, faults: dict[str, Any],
                  label: str, status_url: str) -> None:
    """Active probes alone eject an instance whose probes time out: the fault again, no
    proxied traffic (the stub's counter, which skips probes, proves none reached it),
    UNHEALTHY within `unhealthy.timeouts` probes one healthy.interval apart."""
    a = up.healthchecks.active
    bound = a.unhealthy.timeouts * (float(a.healthy.interval) + float(a.timeout)) + SLACK_S
    before = _counter(ctx, bad)
    try:
        ctx.set_faults(bad, **faults)
        took = _await_health(ctx, up, bad, "UNHEALTHY", bound,
                             f"{label}: {a.unhealthy.timeouts} active probe timeouts",
                             status_url=status_url)
    finally:
        ctx.clear_faults(bad)
    reached = _counter(ctx, bad) - before
    if reached:
        _fail(f"proxied requests reaching {bad} while only active probes may eject it", "0",
              str(reached))
    ctx.record(f"breaker.{label}.active_time_to_eject_s", took)


def _slow_ms(up: Upstream, read_ms: int) -> int:
    """A slow stub's latency: past `read_ms`, and below kong.yml's active probe timeout
    when there is room (see FAULT_READ_TIMEOUT_MS)."""
    probe_ms = float(up.healthchecks.active.timeout) * 1000
    return int((read_ms + probe_ms) / 2) if probe_ms >= read_ms + 200 else \
        read_ms + SLOW_PAST_MS


def _fault_get(ctx: ScenarioContext, base: str, tid: str, host: str, timeout_s: float
               ) -> tuple[int | str, float]:
    """(status or error name, ms) of one GET on the users route through `base`."""
    token = ctx.client.headers_for(Request(host=host, token=TokenSpec(tid)))
    t0 = time.monotonic()
    try:
        r = _http().get(f"{base}/api/users/bf-{uuid.uuid4().hex[:6]}", headers=dict(token),
                        timeout=timeout_s)
        return r.status_code, (time.monotonic() - t0) * 1000
    except httpx.HTTPError as exc:
        return type(exc).__name__, (time.monotonic() - t0) * 1000


SLOW_SCENARIO = "fault-backend-slow"


def _fault_gateway_spec(ctx: ScenarioContext
                        ) -> tuple[Path, dict[str, str], list[Variant], Path | None] | None:
    """(root, resolve map, variants, state.json) of the slow scenario's fault gateways:
    the slow/hang one, and the retries-0 one (kong.yml's probes) of timeout_504; None if
    the target cannot host them."""
    resolve = getattr(ctx.target.stack, "resolve_map", None)
    if not isinstance(resolve, dict):
        return None
    svc = ctx.gateway.route(UPSTREAM_ROUTE).service.name
    # Recorded in the stack's state.json while they run: a killed run's reaper stops them.
    state = getattr(ctx.target.stack, "state_path", None)
    return (ctx.gateway.kong_file.resolve().parents[2], resolve,
            [Variant(svc, FAULT_READ_TIMEOUT_MS, FAULT_PROBES),
             Variant(svc, TIMEOUT_504_READ_MS, retries=0)],
            state if isinstance(state, Path) else None)


def _fault_gateways(ctx: ScenarioContext) -> tuple[FaultGateway, FaultGateway]:
    """(slow/hang gateway, retries-0 gateway), shared by the scenario's cases."""
    spec = _fault_gateway_spec(ctx)
    if spec is None:
        pytest.skip(f"target {ctx.target.kind} cannot host a fault gateway (no resolve map)")
    root, resolve, variants, state = spec
    slow, no_retry = SHARED.get(SLOW_SCENARIO, root, resolve, variants, state=state)
    return slow, no_retry


def _gateway_ready(ctx: ScenarioContext, fgw: FaultGateway, label: str) -> Upstream:
    """The fault gateway's users upstream, once it sees every target healthy (an earlier
    case on this shared gateway may have left one ejected; its probes re-admit it)."""
    fup = fgw.model.route(UPSTREAM_ROUTE).upstream
    assert fup is not None
    for t in fup.targets:
        _await_health(ctx, fup, t.target.split(":")[0], "HEALTHY", _recover_bound(fup),
                      f"{label}: fault gateway ready", status_url=fgw.status_url)
    return fup


def _stack_readmits(ctx: ScenarioContext, up: Upstream, insts: list[str], label: str) -> None:
    """The stack's own replicas probed the faulty stubs too (a hung one's probes time out):
    they must see them healthy again within the recovery bound from now, before the next
    scenario runs. Checked when this scenario is over (SHARED.at_end): its other cases use
    only the fault gateways, and a re-admission still pending here cost up to ~2 s."""
    deadline = time.monotonic() + _recover_bound(up)

    def check() -> None:
        for inst in insts:
            _await_health(ctx, up, inst, "HEALTHY", max(0.1, deadline - time.monotonic()),
                          f"{label}: stack replicas")
    SHARED.at_end(check)


def _slow_backend(ctx: ScenarioContext, case: Case) -> None:
    """Through a fault gateway whose users service times out after FAULT_READ_TIMEOUT_MS
    (kong.yml's own upstream, passive checks and retries; active probes FAULT_PROBES):
    requests landing on the faulty instance wait out the read timeout and are retried on
    the other (200); the timed-out tries are passive health-check timeouts that eject it
    (a probe timing out meanwhile counts too); then no traffic reaches it, and once the
    fault is cleared active checks re-admit it. Last, with no traffic at all, timed-out
    active probes alone eject it again."""
    up, bad, good = _setup(ctx)
    fgw, _ = _fault_gateways(ctx)
    label = case.name
    read_ms = FAULT_READ_TIMEOUT_MS
    faults: dict[str, Any] = ({"hang": True} if label == "hang"
                              else {"latency_ms": _slow_ms(up, read_ms)})
    tid, host = ctx.fresh_tenant("enterprise", "fs")
    fup = _gateway_ready(ctx, fgw, label)
    try:
        ctx.set_faults(bad, **faults)
        # Round-robin over the targets: `timeouts` of these land on the faulty one.
        timeouts = fup.healthchecks.passive.unhealthy.timeouts
        n = len(fup.targets) * timeouts
        limit_ms = read_ms + SLACK_S * 1000
        t0 = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(lambda _i: _fault_get(
                ctx, fgw.proxy_url, tid, host, limit_ms / 1000 + 5), range(n)))
        bad_answers = [(st, ms) for st, ms in answers if st != 200 or ms > limit_ms]
        if bad_answers:
            _fail(f"{n} concurrent requests while one instance is {label} (retried on the "
                  "other)", f"all 200 within {limit_ms:.0f} ms", str(answers))
        waited = sum(ms >= read_ms * 0.9 for _, ms in answers)
        if waited < timeouts:
            _fail(f"requests that sat out the {read_ms} ms read timeout", f">= {timeouts}",
                  f"{waited} of {answers}")
        ctx.record(f"breaker.{label}.first_answer_max_ms", max(ms for _, ms in answers))
        _await_health(ctx, fup, bad, "UNHEALTHY", SLACK_S,
                      f"{label}: {timeouts} passive timeouts", status_url=fgw.status_url)
        ctx.record(f"breaker.{label}.time_to_eject_s", time.monotonic() - t0)
        _assert_no_traffic(ctx, tid, host, bad, label, base=fgw.proxy_url)
    finally:
        ctx.clear_faults(bad)
    _recover(ctx, fup, tid, host, bad, label, status_url=fgw.status_url,
             base=fgw.proxy_url)
    # Re-admitted on this gateway by the next case's _gateway_ready; the stack's
    # replicas, probing at kong.yml's pace, saw at most one timed-out probe in this
    # short window.
    _active_eject(ctx, fup, bad, faults, label, fgw.status_url)
    _stack_readmits(ctx, up, [bad], label)


def _every_try_times_out(ctx: ScenarioContext, case: Case) -> None:
    """Both instances slower than the read timeout, on a fault gateway whose users service
    has `retries: 0` (kong.yml: 2, with which the other instance answers 200): the one
    try times out and the client gets Kong's 504 after one read timeout, with Kong's
    error body and headers; exactly one request reached the stubs."""
    up, _bad, _good = _setup(ctx)
    _, fgw = _fault_gateways(ctx)
    insts = [t.target.split(":")[0] for t in up.targets]
    read_ms = TIMEOUT_504_READ_MS
    tid, host = ctx.fresh_tenant("enterprise", "ft")
    # It probed the earlier cases' faulty instance at kong.yml's pace: both back first.
    _gateway_ready(ctx, fgw, case.name)
    before = sum(_counter(ctx, i) for i in insts)
    try:
        for inst in insts:
            ctx.set_faults(inst, latency_ms=_slow_ms(up, read_ms))
        cap = _get(ctx, tid, host, fgw.proxy_url, (("Accept", "application/json"),))
    finally:
        for inst in insts:
            ctx.clear_faults(inst)
    tries = sum(_counter(ctx, i) for i in insts) - before
    # §1.7: the error page of a request that had passed access (Kong's ctx.KONG_PROXIED,
    # set before the balancer runs) carries the proxied header set, not the Kong-generated
    # X-Kong-Response-Latency (the reference gateway follows this since 74b2361).
    exp = Expected(cap.request, kong_error(
        504, TIMEOUT_MESSAGE, headers={"Content-Type": MIME_JSON},
        json_present=("request_id",),
        present_headers=("Server", "X-Kong-Request-Id", "Via", *PROXIED_LATENCIES),
        absent_headers=("X-Kong-Response-Latency",),
        max_elapsed_ms=read_ms + SLACK_S * 1000))
    m = compare(exp, cap)
    if m is not None:
        raise ContractMismatch(m.message)
    if cap.elapsed_ms < read_ms * 0.9:
        _fail("time to the 504", f">= the {read_ms} ms read timeout",
              f"{cap.elapsed_ms:.0f} ms", cap)
    if tries != 1:
        _fail("tries reaching the slow instances (retries: 0)", "1", str(tries), cap)
    rid = cap.header("X-Kong-Request-Id")
    if cap.json().get("request_id") != rid:
        _fail("body request_id", f"to equal X-Kong-Request-Id {rid!r}",
              repr(cap.json().get("request_id")), cap)
    for name in PROXIED_LATENCIES:
        if not (cap.header(name) or "").isdigit():
            _fail(f"header {name}", "milliseconds (digits)", repr(cap.header(name)), cap)
    server = cap.header("Server") or ""
    if not server.startswith("kong/"):
        _fail("header Server", "'kong/<version>' (a Kong-generated response)", repr(server),
              cap)
    ctx.record("breaker.timeout_504.elapsed_ms", cap.elapsed_ms)
    _stack_readmits(ctx, up, insts, case.name)


def _slow_scenario(ctx: ScenarioContext, case: Case) -> None:
    if case.name == "timeout_504":
        _every_try_times_out(ctx, case)
    else:
        _slow_backend(ctx, case)


def _error_backend(ctx: ScenarioContext, case: Case) -> None:
    """50 % errors: HTTP 5xx are not retried, so clients see some; the breaker must open
    (passive http_failures in a row, or active probes) and cut that share."""
    up, bad, good = _setup(ctx)
    tid, host = ctx.fresh_tenant("enterprise", "fe")
    try:
        ctx.set_faults(bad, error_ratio=0.5)
        # Passive ejection needs http_failures failures in a row on the bad instance: with
        # one request per poll (every other one reaching it) that took 2-21 s; a burst of
        # twice the threshold per poll makes a run of failures likely within a few polls.
        failures = up.healthchecks.passive.unhealthy.http_failures
        took = _await_health(ctx, up, bad, "UNHEALTHY", 30.0, "errors", drive=(tid, host),
                             burst=max(1, 2 * failures))
        ctx.record("breaker.errors_50.time_to_eject_s", took)
        caps = [_get(ctx, tid, host) for _ in range(20)]
        bad_share = sum(c.status >= 500 for c in caps) / len(caps)
        ctx.record("breaker.errors_50.client_5xx_pct_after_open", round(bad_share * 100, 1))
        if any(c.status not in (200, 500, 503) for c in caps):
            _fail("statuses with a 50 % failing instance", "200, 500 or 503",
                  str(sorted({c.status for c in caps})))
    finally:
        ctx.clear_faults(bad)
    _recover(ctx, up, tid, host, bad, "errors_50")


def _flapping_backend(ctx: ScenarioContext, case: Case) -> None:
    """An instance going down and up three times: clients keep getting 200 (connection
    refused is retried on the other target); each flap ejects and re-admits it."""
    up, bad, good = _setup(ctx)
    # The slow scenario runs next (name order): its fault gateways start now, while the
    # flaps wait on health checks (their probes see the flaps too; that scenario waits
    # until they see both instances healthy). Closed at the scenario change if unused.
    spec = _fault_gateway_spec(ctx)
    if spec is not None and Capability.STUB_FAULTS in ctx.capabilities:
        root, resolve, variants, state = spec
        SHARED.prepare(SLOW_SCENARIO, root, resolve, variants, state=state)
    tid, host = ctx.fresh_tenant("enterprise", "ff")
    ejects, recovers = [], []
    try:
        for _ in range(3):
            ctx.set_faults(bad, down=True)
            caps = [_get(ctx, tid, host) for _ in range(4)]
            if any(c.status != 200 for c in caps):
                _fail(f"statuses while {bad} is down (retried)", "all 200",
                      str([c.status for c in caps]))
            ejects.append(_await_health(ctx, up, bad, "UNHEALTHY",
                                        _eject_bound(up, 2), "flap down"))
            ctx.clear_faults(bad)
            recovers.append(_await_health(ctx, up, bad, "HEALTHY", _recover_bound(up),
                                          "flap up"))
    finally:
        ctx.clear_faults(bad)
    ctx.record("breaker.flapping.max_time_to_eject_s", max(ejects))
    ctx.record("breaker.flapping.max_recovery_s", max(recovers))


for short, desc, feats, cases, body in (
    ("fault-backend-slow", "One instance hangs, or answers slower than the read timeout "
     "(a fault gateway with a 0.5 s read timeout): requests are retried on the other within "
     "one read timeout, the timed-out tries eject it by passive checks, no traffic reaches "
     "it, and active checks re-admit it; with retries 0 and both instances slow, the "
     "client gets Kong's 504 'The upstream server is timing out' after one read timeout",
     {Feature.FAULTS, Feature.BREAKER},
     [Case(name="hang"), Case(name="slow"), Case(name="timeout_504")], _slow_scenario),
    ("fault-backend-errors", "One instance fails 50 % of requests: the breaker opens "
     "within bounded time and recovers once it is healthy",
     {Feature.FAULTS, Feature.BREAKER}, [Case(name="errors_50")], _error_backend),
    ("fault-backend-flapping", "One instance goes down and up three times: clients keep "
     "getting 200, each flap ejects and re-admits it",
     {Feature.FAULTS, Feature.BREAKER}, [Case(name="flapping")], _flapping_backend),
):
    register(Scenario(short_name=short, description=desc, features=frozenset(feats),
                      cases=cases, run=body, slow=False))
