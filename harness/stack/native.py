"""The native stack: every service as a local process on 127.0.0.1 (no Docker).

Redis, a fresh PostgreSQL cluster (initdb in the run directory), one echo stub
per kong.yml upstream target, the Tenant and Auth services, optionally
Prometheus, and — once `harness.gateway.__main__` exists — N reference
gateway replicas. Each process runs in its own process group and is recorded
in <run_dir>/state.json as soon as it starts, so `down` (or the next `up`)
cleans up even after the launcher was SIGKILLed.

Start-up and process faults live here; the state.json record is
harness.stack.run_state, listener ports harness.stack.ports (free_port is
re-exported here for its importers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]

from harness.errors import StackAlreadyRunning, StackError
from harness.model import Gateway, load_gateway
from harness.settings import Settings
from harness.stack import tools
from harness.stack.base import Endpoint, ServiceHealth
from harness.stack.certs import generate, load_tls_env
from harness.stack.gateway_build import gateway_launch, gateway_version
from harness.stack.ports import free_port
from harness.stack.process import ProcessRecord, alive, signals_deferred, spawn, stop_all
from harness.stack.readiness import (
    AllOf,
    HttpReady,
    LogReady,
    PgReady,
    PortReady,
    Waiting,
    WaitStrategy,
    tail,
    wait_all,
)
from harness.stack.run_state import (
    STATE_FILE,
    RunState,
    Svc,
    read_state,
    transient_workdirs,
    write_state,
)
from harness.target import Target

__all__ = ["NativeStack", "free_port", "stub_instances", "target_from_state"]

_OWN_SERVICES = {"tenant-service", "auth-service"}


def stub_instances(gateway: Gateway) -> list[tuple[str, str, int]]:
    """(service, instance, kong port) for every upstream target that is a stub."""
    out: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for up in gateway.kong.upstreams:
        for t in up.targets:
            if t.host in _OWN_SERVICES or t.host in seen:
                continue
            seen.add(t.host)
            base, _, num = t.host.rpartition("-")
            out.append((base if base and num.isdigit() else t.host, t.host, t.port))
    return out


class NativeStack:
    """`Stack` implementation for local processes. `NativeStack.attach(run_dir)` binds
    to a stack started by another process (e.g. `harness up`)."""

    name = "native"

    def __init__(self, settings: Settings | None = None, gateway: Gateway | None = None,
                 *, reap_with_launcher: bool | None = None):
        self.settings = settings or Settings()
        self._gateway = gateway
        self.run_dir = self.settings.run_dir
        self._state = RunState()
        # A stack owned by this process (pytest session, bench) dies with it, even on
        # SIGKILL: a watcher (harness.reliability.reaper) stops the groups left behind.
        self.reap_with_launcher = (os.environ.get("HARNESS_REAP_WITH_LAUNCHER") == "1"
                                   if reap_with_launcher is None else reap_with_launcher)
        self._reaper: subprocess.Popen[bytes] | None = None

    # -- construction ----------------------------------------------------
    @classmethod
    def attach(cls, run_dir: Path | None = None, settings: Settings | None = None
               ) -> NativeStack:
        settings = settings or Settings()
        if run_dir is not None:
            settings = settings.with_overrides(run_dir=Path(run_dir))
        stack = cls(settings)
        stack._state = stack._read_state() or RunState()
        return stack

    @property
    def gateway_model(self) -> Gateway:
        if self._gateway is None:
            self._gateway = load_gateway(self.settings.root)
        return self._gateway

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    # -- state file ------------------------------------------------------
    def _read_state(self) -> RunState | None:
        return read_state(self.state_path)

    def _write_state(self) -> None:
        write_state(self.state_path, self._state, root=self.settings.root, run_dir=self.run_dir)

    def _endpoints(self) -> dict[str, Endpoint]:
        return self._state.endpoints()

    # -- Stack protocol --------------------------------------------------
    def services(self) -> list[str]:
        return list(self._state.services)

    def endpoint(self, service: str) -> Endpoint:
        eps = self._endpoints()
        if service not in eps:
            raise StackError(f"no endpoint {service!r} in the native stack at {self.run_dir} "
                             f"(known: {', '.join(sorted(eps)) or 'none: is it running?'})")
        return eps[service]

    def logs(self, service: str, lines: int = 50) -> str:
        svc = self._state.services.get(service)
        if svc is None:
            raise StackError(f"no service {service!r} (known: {', '.join(self.services())})")
        return tail(Path(svc.record.log), lines)

    def status(self, service: str) -> ServiceHealth:
        svc = self._state.services.get(service)
        if svc is None:
            return ServiceHealth(service, "stopped", "not started")
        if not alive(svc.record):
            return ServiceHealth(service, "stopped", "process exited", svc.record.pid)
        if svc.health.check():
            return ServiceHealth(service, "healthy", svc.health.describe(), svc.record.pid)
        return ServiceHealth(service, "unhealthy", "failing: " + svc.health.describe(),
                             svc.record.pid)

    def running(self) -> list[str]:
        return [n for n, s in self._state.services.items() if alive(s.record)]

    def start(self) -> None:
        self._refuse_or_clean()
        try:
            if self.reap_with_launcher:
                self._start_reaper()
            self._start()
        except BaseException:
            # Ctrl-C or a failed readiness: leave nothing behind.
            self.stop()
            raise

    def _start_reaper(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        me = psutil.Process(os.getpid())
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "harness.reliability.reaper", "--pid", str(me.pid),
             "--create-time", repr(me.create_time()), "--state", str(self.state_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=self.settings.root)

    def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.terminate()
            try:
                self._reaper.wait(5)
            except subprocess.TimeoutExpired:
                self._reaper.kill()        # never drop a Popen that was not waited
                self._reaper.wait(5)
            self._reaper = None
        # Another NativeStack attached to the same run dir (e.g. a scenario's
        # target.stack) may have restarted services since: state.json holds their
        # new processes, our memory the old ones. Stop the union of both.
        records: dict[int, ProcessRecord] = {}
        for state in (self._state, self._read_state() or RunState()):
            for rec in [s.record for s in state.services.values()] + [
                    ProcessRecord.from_json(r) for r in state.extra.get("transient", [])]:
                records[rec.pid] = rec
        stop_all(list(records.values()), self.settings.timeouts.stop_grace)
        self._remove_transient_workdirs(self._state, self._read_state() or RunState())
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()
        shutil.rmtree(self.run_dir / "postgres", ignore_errors=True)
        shutil.rmtree(self.run_dir / "prometheus-data", ignore_errors=True)
        self._state = RunState()

    # -- start-up ---------------------------------------------------------
    def _refuse_or_clean(self) -> None:
        old = self._read_state()
        if old is None:
            return
        running = [n for n, s in old.services.items() if alive(s.record)]
        if running:
            raise StackAlreadyRunning(
                f"a native stack already runs from {self.run_dir} ({len(running)} of "
                f"{len(old.services)} services alive, e.g. {', '.join(running[:3])}).\n"
                "Hint: `harness status` shows it; `harness down` stops it.")
        # Left over from a launcher that died: stop stragglers of its groups.
        stop_all([s.record for s in old.services.values()] + [
            ProcessRecord.from_json(r) for r in old.extra.get("transient", [])],
            self.settings.timeouts.stop_grace)
        self._remove_transient_workdirs(old)
        self.state_path.unlink()

    def _remove_transient_workdirs(self, *states: RunState) -> None:
        # A fault gateway's config copy and logs: its owner removes them, unless it was
        # killed first (the reaper covers a killed launcher; this, `harness down`).
        transients = [r for st in states for r in st.extra.get("transient", [])]
        for work in transient_workdirs(self.state_path, {"extra": {"transient": transients}}):
            shutil.rmtree(work, ignore_errors=True)

    def _port(self, configured: int) -> int:
        return configured or free_port()

    def _launch(self, name: str, argv: list[str], endpoints: dict[str, Endpoint],
                health: WaitStrategy, *, env: dict[str, str] | None = None,
                user: str | None = None) -> Svc:
        # Ctrl-C between the spawn and the state update would orphan the process:
        # hold SIGINT/SIGTERM until it is recorded.
        with signals_deferred():
            proc, rec = spawn(name, argv, self.run_dir / "logs" / f"{name}.log", env=env,
                              user=user, cwd=self.settings.root)
            svc = Svc(rec, endpoints, health, proc, argv, user, env is not None)
            self._state.services[name] = svc
            self._write_state()
        return svc

    def _waiting(self, name: str, ready: WaitStrategy, hint: str) -> Waiting:
        svc = self._state.services[name]
        proc = svc.proc
        return Waiting(name, ready, Path(svc.record.log),
                       (lambda: proc.poll()) if proc is not None else (lambda: None), hint)

    def _start(self) -> None:
        s, t = self.settings, self.settings.timeouts
        gw = self.gateway_model
        started = time.monotonic()
        deadline = started + t.stack_ready
        redis_bin = tools.require("redis-server", "redis-server", "Redis for rate limiting")
        initdb = tools.require_pg("initdb")
        postgres = tools.require_pg("postgres")
        prom_bin = (tools.require("prometheus", "prometheus", "--prometheus")
                    if s.prometheus else None)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        py = sys.executable
        pg_user = tools.postgres_user()

        # PostgreSQL's initdb is the slowest step: start it first, the rest meanwhile.
        pg_dir = self.run_dir / "postgres"
        shutil.rmtree(pg_dir, ignore_errors=True)
        (pg_dir / "sock").mkdir(parents=True)
        if pg_user is not None:
            self.run_dir.chmod(0o755)
            for p in (pg_dir, pg_dir / "sock"):
                shutil.chown(p, pg_user, pg_user)
        init_log = self.run_dir / "logs" / "initdb.log"
        with signals_deferred():
            init_proc, init_rec = spawn(
                "initdb", [initdb, "-D", str(pg_dir / "data"), "-U", "postgres", "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                init_log, user=pg_user)
            self._state.extra["transient"] = [init_rec.to_json()]
            self._write_state()
        waits: list[Waiting] = []
        redis_port = self._port(s.redis_port)
        self._launch("redis", [redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                     {"redis": Endpoint("127.0.0.1", redis_port, "redis")},
                     PortReady(redis_port))
        waits.append(self._waiting("redis", AllOf(
            LogReady(self.run_dir / "logs" / "redis.log", "[Rr]eady to accept connections"),
            PortReady(redis_port)), "redis-server refused to start; see its log"))
        self._state.resolve["redis:6379"] = f"127.0.0.1:{redis_port}"

        for service, inst, kong_port in stub_instances(gw):
            port, admin = free_port(), free_port()
            self._launch(inst, [py, "-m", "harness.services.stub", "--service", service,
                                "--instance", inst, "--host", "127.0.0.1", "--port", str(port),
                                "--admin-port", str(admin)],
                         {inst: Endpoint("127.0.0.1", port),
                          f"{inst}-admin": Endpoint("127.0.0.1", admin)},
                         HttpReady(port, "/health"))  # status follows the fault controls
            # Readiness on the admin port: the main port's /health follows faults.
            waits.append(self._waiting(inst, HttpReady(admin, "/health"),
                                       "the stub failed to start; is the port free?"))
            self._state.resolve[f"{inst}:{kong_port}"] = f"127.0.0.1:{port}"

        auth_port = self._port(s.auth_service_port)
        secrets = s.root / "stack" / "secrets"
        self._launch("auth-service", [py, "-m", "harness.services.auth", "--host", "127.0.0.1",
                                      "--port", str(auth_port),
                                      "--key", f"auth-dev-1={secrets / 'auth-dev-1.key.pem'}",
                                      "--key", f"auth-dev-2={secrets / 'auth-dev-2.key.pem'}"],
                     {"auth-service": Endpoint("127.0.0.1", auth_port)},
                     HttpReady(auth_port, "/health"))
        waits.append(self._waiting("auth-service", HttpReady(auth_port, "/health"),
                                   "check the dev keys in stack/secrets/"))
        self._state.resolve["auth-service:8082"] = f"127.0.0.1:{auth_port}"

        tls = generate(gw, self.run_dir / "tls")
        self._state.ca_file = str(tls.ca_file)

        try:
            code = init_proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            init_proc.kill()
            init_proc.wait()
            code = -9
        self._state.extra.pop("transient", None)
        if code != 0:
            raise StackError(f"initdb failed with status {code}\n{tail(init_log)}\n"
                             f"Hint: the run directory {self.run_dir} and its parents must be "
                             "readable by the postgres user")
        pg_port = self._port(s.postgres_port)
        self._launch("postgres", [postgres, "-D", str(pg_dir / "data"), "-h", "127.0.0.1",
                                  "-p", str(pg_port), "-k", str(pg_dir / "sock"),
                                  "-c", "fsync=off", "-c", "synchronous_commit=off",
                                  "-c", "full_page_writes=off", "-c", "max_connections=50",
                                  "-c", "shared_buffers=32MB"],
                     {"postgres": Endpoint("127.0.0.1", pg_port, "postgresql")},
                     PgReady(pg_port), user=pg_user)
        self._state.resolve["postgres:5432"] = f"127.0.0.1:{pg_port}"
        wait_all([self._waiting("postgres", AllOf(
            LogReady(self.run_dir / "logs" / "postgres.log", "ready to accept connections"),
            PgReady(pg_port)), "PostgreSQL did not start; see its log")],
            max(1.0, deadline - time.monotonic()))

        tenant_port = self._port(s.tenant_service_port)
        dsn = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
        self._launch("tenant-service", [py, "-m", "harness.services.tenant", "--host",
                                        "127.0.0.1", "--port", str(tenant_port), "--dsn", dsn,
                                        "--seed", str(gw.tenants_file),
                                        "--root", str(s.root)],
                     {"tenant-service": Endpoint("127.0.0.1", tenant_port)},
                     HttpReady(tenant_port, "/health"))
        waits.append(self._waiting("tenant-service", HttpReady(tenant_port, "/health"),
                                   "the Tenant Service could not migrate or seed PostgreSQL"))
        self._state.resolve["tenant-service:8081"] = f"127.0.0.1:{tenant_port}"
        self._state.extra["postgres_dsn"] = dsn
        self._write_state()
        wait_all(waits, max(1.0, deadline - time.monotonic()))

        waits = []
        if s.gateway and importlib.util.find_spec("harness.gateway.__main__") is not None:
            waits += self._start_gateways(tls.env)
        if prom_bin is not None:
            waits.append(self._start_prometheus(prom_bin))
        self._write_state()
        wait_all(waits, max(1.0, deadline - time.monotonic()))
        self._state.extra["ready_seconds"] = round(time.monotonic() - started, 3)
        self._write_state()

    def _start_gateways(self, tls_env: dict[str, str]) -> list[Waiting]:
        s = self.settings
        waits = []
        env = {**os.environ, **tls_env}
        resolve_args: list[str] = []
        for k, v in sorted(self._state.resolve.items()):
            resolve_args += ["--resolve", f"{k}={v}"]
        launch = gateway_launch()
        self._state.extra["gateway_build"] = launch.build
        for n in range(1, s.replicas + 1):
            name = f"gateway-{n}"
            first = n == 1
            http = (s.gateway_http_port if first else 0) or free_port()
            https = (s.gateway_https_port if first else 0) or free_port()
            status = (s.gateway_status_port if first else 0) or free_port()
            ready = HttpReady(status, "/status")
            self._launch(name, [*launch.argv, "--root", str(s.root),
                                "--http-port", str(http), "--https-port", str(https),
                                "--status-port", str(status),
                                "--log-dir", str(self.run_dir / "logs"),
                                "--replica-id", str(n), *resolve_args],
                         {name: Endpoint("127.0.0.1", http),
                          f"{name}-tls": Endpoint("127.0.0.1", https, "https"),
                          f"{name}-status": Endpoint("127.0.0.1", status)},
                         ready, env=env)
            waits.append(self._waiting(name, ready, "the reference gateway failed to start; "
                                       "`harness gateway` runs it in the foreground"))
        return waits

    def _start_prometheus(self, prom_bin: str) -> Waiting:
        port = self._port(self.settings.prometheus_port)
        cfg = self.run_dir / "prometheus.yml"
        jobs: dict[str, list[str]] = {"gateway": [], "stubs": [], "services": []}
        for name, svc in self._state.services.items():
            if name.startswith("gateway-"):
                jobs["gateway"].append(f"127.0.0.1:{svc.endpoints[f'{name}-status'].port}")
            elif name in ("tenant-service", "auth-service"):
                jobs["services"].append(f"127.0.0.1:{svc.endpoints[name].port}")
            elif f"{name}-admin" in svc.endpoints:
                jobs["stubs"].append(f"127.0.0.1:{svc.endpoints[name].port}")
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
                 "scrape_configs:"]
        for job, targets in jobs.items():
            if targets:
                lines += [f"  - job_name: {job}", "    static_configs:",
                          f"      - targets: {json.dumps(targets)}"]
        cfg.write_text("\n".join(lines) + "\n")
        ready = HttpReady(port, "/-/ready")
        self._launch("prometheus", [prom_bin, f"--config.file={cfg}",
                                    f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
                                    f"--web.listen-address=127.0.0.1:{port}",
                                    "--storage.tsdb.retention.time=1d"],
                     {"prometheus": Endpoint("127.0.0.1", port)}, ready)
        return self._waiting("prometheus", ready, "check prometheus.yml in the run directory")

    # -- process faults (for fault scenarios) -------------------------------
    def _own(self, service: str) -> Svc:
        svc = self._state.services.get(service)
        if svc is None:
            raise StackError(f"no service {service!r} (known: {', '.join(self.services())})")
        return svc

    def kill(self, service: str) -> None:
        """Stop one service's process group now (SIGKILL), e.g. Redis going away."""
        stop_all([self._own(service).record], grace=0.0, hard=True)

    def pause(self, service: str) -> None:
        """SIGSTOP the service: it keeps its port but answers nothing (a hung Redis)."""
        svc = self._own(service)
        if alive(svc.record):
            os.killpg(svc.record.pgid, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        svc = self._own(service)
        if alive(svc.record):
            os.killpg(svc.record.pgid, signal.SIGCONT)

    def restart(self, service: str) -> None:
        """Start a killed (or running) service again on the same ports; waits until ready."""
        svc = self._own(service)
        if not svc.argv:
            raise StackError(f"{service}: no command line recorded; restart the stack")
        self.resume(service)
        stop_all([svc.record], self.settings.timeouts.stop_grace)
        env = None
        if svc.tls_env:
            env = {**os.environ, **load_tls_env(self.gateway_model, self.run_dir / "tls")}
        self._launch(service, svc.argv, svc.endpoints, svc.health, env=env, user=svc.user)
        wait_all([self._waiting(service, svc.health, f"{service} did not come back")],
                 self.settings.timeouts.service_ready)

    # -- for others -------------------------------------------------------
    @property
    def gateway_build(self) -> str | None:
        """Which build the gateways run ("mypyc" or "interpreted"); None without gateways."""
        build = self._state.extra.get("gateway_build")
        return str(build) if build is not None else None

    @property
    def resolve_map(self) -> dict[str, str]:
        return dict(self._state.resolve)

    @property
    def ca_file(self) -> Path | None:
        return Path(self._state.ca_file) if self._state.ca_file else None


def target_from_state(run_dir: Path | None = None) -> Target:
    """A Target for the native stack running from run_dir (default: settings.run_dir)."""
    from harness.tokens import dev_minter

    stack = NativeStack.attach(run_dir)
    if not stack.services():
        raise StackError(f"no native stack runs from {stack.run_dir} (no {STATE_FILE}).\n"
                         "Hint: start one with `harness up`.")
    eps = stack._endpoints()
    if "gateway" not in eps:
        raise StackError(f"the native stack at {stack.run_dir} has no gateway "
                         "(harness.gateway.__main__ missing, or started with --no-gateway)")
    prom = eps.get("prometheus")
    return Target(kind="native", proxy_url=eps["gateway"].url, minter=dev_minter(),
                  proxy_tls_url=eps["gateway-tls"].url if "gateway-tls" in eps else None,
                  ca_file=stack.ca_file,
                  status_url=eps["gateway-status"].url if "gateway-status" in eps else None,
                  prometheus_url=prom.url if prom else None,
                  gateway_impl="harness-reference-gateway",
                  gateway_version=gateway_version(stack.gateway_build),
                  stack=stack)
