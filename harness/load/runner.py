"""Running a profile with Locust as a library: Environment + local runner, or a master
with N local worker processes; SLO gate, CPU watch, fault events, the report.

Import this module only in a process that may be gevent-monkey-patched
(Locust patches on import): the `harness load` command, the bench, workers.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # harness/__init__ already imported ssl (via jwt); Locust's patching still covers what
    # the load run uses, so its "patch earlier" warning is noise here.
    warnings.simplefilter("ignore")
    import locust  # noqa: F401  (gevent monkey-patching before anything else opens sockets)

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner

import harness
from harness.client import GatewayClient
from harness.errors import HarnessError
from harness.load.context import LoadContext, install
from harness.load.cpu import CpuSampler
from harness.load.hooks import attach
from harness.load.profiles import DEFAULT_PROFILES, FaultEvent, load_profiles
from harness.load.recorder import Recorder
from harness.load.shape import StagesShape
from harness.load.slo import DEFAULT_SLO, Observed, load_slo, should_abort
from harness.load.users import build_user_classes
from harness.model import load_gateway
from harness.reports.load import LoadReport, report_paths, target_identity, timestamp, \
    write_report
from harness.stack.ports import free_port
from harness.target import Target

__all__ = ["Progress", "RunOptions", "RunResult", "run_load"]

EXIT_SLO = 3          # a broken SLO (locust-plugins' convention); 0 = pass
EXIT_INCOMPLETE = 130


@dataclass(frozen=True)
class Progress:
    elapsed: float
    duration: float
    users: int
    requests: int
    rps_last: float
    ok: int
    limited: int
    failed: int
    p95_ms: float | None
    cpu_pct: float
    stage: int


@dataclass
class RunOptions:
    root: Path
    profile: str
    target: Target
    target_name: str = "native"
    profiles_file: Path | None = None
    slo_file: Path | None = None         # None: scenarios/load/slo.yaml if present
    workers: int = 0
    reports_root: Path | None = None      # default <root>/reports
    progress: Callable[[Progress], None] | None = None
    keep_raw: bool = False
    json_only: bool = False
    # Delete the rate-limit counters (Redis ratelimit:* keys) first on a controllable target,
    # so an earlier run's flood does not eat this run's hourly quotas.
    reset_limits: bool = True


@dataclass
class RunResult:
    report: LoadReport
    paths: dict[str, Path]
    exit_code: int
    recorder: Recorder
    messages: list[str] = field(default_factory=list)


def _apply_fault(target: Target, ev: FaultEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"at": ev.at, "instance": ev.instance, "faults": ev.faults}
    if target.stack is None:
        record["result"] = "skipped: target has no controllable stack"
        return record
    try:
        ep = target.stack.endpoint(f"{ev.instance}-admin")
        method = "DELETE" if ev.faults is None else "PUT"
        data = None if ev.faults is None else json.dumps(ev.faults).encode()
        req = urllib.request.Request(f"{ep.url}/faults", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3) as resp:
            record["result"] = f"HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001  (a failed fault injection is reported, not fatal)
        record["result"] = f"failed: {type(exc).__name__}: {exc}"
    return record


def _worker_config(opts: RunOptions, profiles_file: Path) -> bytes:
    keys = [{"kid": k.kid, "pem": base64.b64encode(k.private_pem).decode()}
            for k in opts.target.minter.keys]
    return json.dumps({
        "root": str(opts.root), "profile": opts.profile, "profiles_file": str(profiles_file),
        "proxy_url": opts.target.proxy_url, "tls_url": opts.target.proxy_tls_url,
        "keys": keys, "issuer": opts.target.minter.issuer,
        "audience": opts.target.minter.audience}).encode()


def _start_workers(opts: RunOptions, profiles_file: Path, port: int) -> list[subprocess.Popen[bytes]]:
    procs: list[subprocess.Popen[bytes]] = []
    cfg = _worker_config(opts, profiles_file)
    try:
        for i in range(opts.workers):
            p = subprocess.Popen(
                [sys.executable, "-m", "harness.load.worker", "--master-port", str(port),
                 "--index", str(i)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, cwd=opts.root)
            procs.append(p)
            assert p.stdin is not None
            p.stdin.write(cfg)      # BrokenPipeError if the worker died at once
            p.stdin.close()
    except BaseException:
        _stop_workers(procs, grace=0.0)   # the ones already started are waited, not dropped
        raise
    return procs


def _stop_workers(procs: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
        for f in (p.stdin, p.stderr):
            if f is not None:
                with contextlib.suppress(OSError):    # stdin of a worker that died early
                    f.close()


def run_load(opts: RunOptions) -> RunResult:
    root = opts.root
    gateway = load_gateway(root)
    profiles_file = opts.profiles_file or root / DEFAULT_PROFILES
    catalogue = load_profiles(profiles_file)
    profile = catalogue.profile(opts.profile, str(profiles_file))
    slo_path = opts.slo_file or (root / DEFAULT_SLO if (root / DEFAULT_SLO).exists() else None)
    slo = load_slo(slo_path, opts.profile) if slo_path else None

    ends, acc = [], 0.0
    for st in profile.stages:
        acc += st.duration
        ends.append(acc)
    recorder = Recorder({t: gateway.tier_limits(t) for t in gateway.tiers.tiers}, ends,
                        keep_raw=opts.keep_raw)
    client = GatewayClient(gateway, opts.target.minter, opts.target.proxy_url,
                           opts.target.proxy_tls_url)
    ctx = install(LoadContext(root, gateway, catalogue, opts.profile, client, recorder,
                              opts.target.stack))
    ctx.classes = build_user_classes(gateway, catalogue)
    if opts.reset_limits:
        from harness.load.reset import reset_rate_limits

        preparation = [reset_rate_limits(opts.target, gateway)]
    else:
        preparation = ["rate-limit counters kept (reset disabled): counters of earlier runs "
                       "may carry over"]
    env = Environment(user_classes=list(ctx.classes.values()), shape_class=StagesShape(),  # type: ignore[no-untyped-call]
                      host=opts.target.proxy_url)
    attach(env.events, recorder, master=opts.workers > 0)

    ident = target_identity(opts.target_name, opts.target.kind, opts.target.proxy_url,
                            opts.target.gateway_impl, opts.target.gateway_version,
                            gateway.config_hash, root)
    started_at = timestamp()
    paths = report_paths(opts.reports_root or root / "reports", harness.__version__,
                         opts.target_name, opts.profile, started_at)
    from harness.load.report_build import build_report

    def make(complete: bool, reason: str | None, **kw: Any) -> LoadReport:
        return build_report(ctx=ctx, profile=profile, ident=ident, started_at=started_at,
                            complete=complete, reason=reason, workers=opts.workers,
                            slo=slo, slo_path=slo_path, preparation=preparation, **kw)

    # Written first, so a run that is killed still leaves a report marked incomplete.
    write_report(make(False, "run in progress (or killed before it finished)", duration=0.0,
                      cpu=None, events=[], prom_url=None, aborted=None),
                 paths, json_only=True)

    workers: list[subprocess.Popen[bytes]] = []
    if opts.workers > 0:
        port = free_port()
        runner: Any = env.create_master_runner("127.0.0.1", port)
        workers = _start_workers(opts, profiles_file, port)
        deadline = time.monotonic() + 30
        try:
            while runner.worker_count < opts.workers:
                if time.monotonic() > deadline or any(p.poll() is not None for p in workers):
                    err = b"".join(p.stderr.read() if p.stderr and p.poll() is not None
                                   else b"" for p in workers)
                    raise HarnessError(f"only {runner.worker_count} of {opts.workers} load "
                                       f"workers connected within 30 s: {err.decode()[-800:]}")
                gevent.sleep(0.1)
        except BaseException:      # also Ctrl-C while waiting: no worker left unwaited
            runner.quit()
            _stop_workers(workers, grace=0.0)
            raise
    else:
        runner = env.create_local_runner()

    cpu = CpuSampler([os.getpid()] + [p.pid for p in workers])
    cpu.start()
    events_done: list[dict[str, Any]] = []
    start_wall = time.time()
    recorder.start(start_wall)
    runner.start_shape()
    if isinstance(runner, MasterRunner):
        runner.send_message("harness_start", {"t": start_wall})
    for ev in profile.events:
        gevent.spawn_later(ev.at, lambda ev=ev: events_done.append(
            _apply_fault(opts.target, ev)))

    stop_reason: str | None = None
    aborted: str | None = None
    terminated: list[int] = []
    previous_term = signal.signal(signal.SIGTERM, lambda signum, _f: terminated.append(signum))
    last_n, last_t = 0, time.monotonic()
    hard_deadline = time.monotonic() + profile.duration + 30
    try:
        tick = 0
        # Poll the end of the shape every 0.25 s (so the measured duration is tight); sample
        # CPU, check the abort rule and refresh the display every second.
        while runner.shape_greenlet is not None and runner.state != STATE_STOPPED:
            if terminated:
                raise KeyboardInterrupt
            gevent.sleep(0.25)
            tick += 1
            if tick % 4:
                continue
            pct = cpu.sample()
            elapsed = time.time() - start_wall
            counts, p95, p99 = recorder.live()
            n = sum(counts.values())
            if slo is not None and (reason := should_abort(
                    slo[0].abort, elapsed,
                    Observed(n, counts["failed"], counts["limited"], None, p95, p99))):
                aborted = reason
                break
            if opts.progress:
                now = time.monotonic()
                opts.progress(Progress(elapsed, profile.duration, runner.user_count, n,
                                       (n - last_n) / (now - last_t), counts["ok"],
                                       counts["limited"], counts["failed"], p95, pct,
                                       recorder.stage_of(elapsed)))
                last_n, last_t = n, now
            if time.monotonic() > hard_deadline:
                stop_reason = "the run overran its profile by 30 s"
                break
    except KeyboardInterrupt:
        stop_reason = "interrupted (SIGINT/SIGTERM)"
    finally:
        end_wall = time.time()
        try:
            runner.stop()
            if workers:
                gevent.sleep(1.5)      # the workers' last reports after stopping
            runner.quit()
        finally:
            _stop_workers(workers)
            signal.signal(signal.SIGTERM, previous_term)

    duration = max(end_wall - start_wall, 1e-3)
    report = make(stop_reason is None, stop_reason, duration=duration, cpu=cpu.summary(),
                  events=events_done, prom_url=opts.target.prometheus_url, aborted=aborted,
                  start_wall=start_wall, end_wall=end_wall)
    write_report(report, paths, json_only=opts.json_only)
    messages = [v.line() for v in (report.slo.verdicts if report.slo else []) if not v.passed]
    if aborted:
        messages.insert(0, f"aborted early: {aborted}")
    if stop_reason is not None:
        code = EXIT_INCOMPLETE
    elif report.slo is not None and not report.slo.passed:
        code = EXIT_SLO
    else:
        code = 0
    return RunResult(report, paths, code, recorder, messages)
