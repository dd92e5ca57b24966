"""The compose launcher: the real stack (Kong + our services) under Docker.

Built on testcontainers' `DockerCompose` (which drives the Docker Compose v2
CLI, `docker compose`). Implements the `Stack` protocol with the same service
and endpoint names as the native launcher, so the contract suite runs
unchanged against real Kong:

    services: gateway-1 (compose service `kong`), redis, postgres, tenant-service,
              auth-service, prometheus, redis-exporter, one per stub (user-1, ...)
    endpoints: gateway / gateway-1 (proxy :8000), gateway-1-tls (:8443),
              gateway-1-status (:8100), gateway-admin (:8001), <stub> (:8080),
              <stub>-admin (:9080), redis, postgres, tenant-service, auth-service,
              prometheus

Ports are ephemeral on 127.0.0.1 (several stacks can run side by side): the
launcher writes an env file setting every HARNESS_COMPOSE_*_PORT to "".
Everything that needs no Docker engine (service list, endpoint mapping, the
docker compose command lines) works offline and is tested.

It is a `ControllableStack`: kill(service) is `docker compose kill -s SIGKILL`
(the restart policy does not bring a killed container back: Docker marks it
manually stopped); restart(service) is `docker compose up --detach --no-deps
--force-recreate --wait` (the compose healthchecks, as at start). Docker
allocates an ephemeral host port anew each time a container starts, so before
restarting, the env file pins the service's HARNESS_COMPOSE_*_PORT variables
to the ports it had: the gateway, Redis, PostgreSQL, Tenant/Auth Service and
Prometheus come back where the Target and callers already point. Stub ports
have no variable (always ephemeral): after a stub restart, ask `endpoint()`
again (it reads the live port).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.deploy.compose_file import COMPOSE_FILE, DBLESS_FILE, load_compose, one_shot_jobs
from harness.errors import StackError
from harness.stack.base import Endpoint, ServiceHealth

if TYPE_CHECKING:
    from testcontainers.compose import DockerCompose

    from harness.target import Target

__all__ = ["ComposeSettings", "ComposeStack", "docker_engine_available", "start_for_tests"]

GATEWAY = "kong"  # compose service of the gateway
# harness endpoint suffix -> (container port, scheme) on the gateway service
_GATEWAY_PORTS = {"": (8000, "http"), "-tls": (8443, "https"), "-status": (8100, "http"),
                  "-admin": (8001, "http")}
_GATEWAY_NAMES = ("gateway-1", "gateway")  # harness names of the compose service `kong`
_SCHEMES = {"redis": "redis", "postgres": "postgresql"}
# (compose service, container port) -> X of the HARNESS_COMPOSE_<X>_PORT variable that
# publishes it (stack/docker-compose.yml; a test checks this table against the file).
PORT_VARS: dict[tuple[str, int], str] = {
    (GATEWAY, 8000): "PROXY", (GATEWAY, 8443): "PROXY_TLS", (GATEWAY, 8001): "ADMIN",
    (GATEWAY, 8100): "STATUS", ("postgres", 5432): "POSTGRES", ("redis", 6379): "REDIS",
    ("tenant-service", 8081): "TENANT", ("auth-service", 8082): "AUTH",
    ("prometheus", 9090): "PROMETHEUS"}


def docker_engine_available(timeout: float = 10.0) -> tuple[bool, str]:
    """(True, "") when `docker info` reaches an engine, else (False, why)."""
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return False, "the docker CLI is not installed"
    except subprocess.TimeoutExpired:
        return False, f"`docker info` did not answer within {timeout:.0f} s"
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        return False, f"no Docker engine answers `docker info` ({reason[-1] if reason else ''})"
    return True, ""


@dataclass(frozen=True)
class ComposeSettings:
    """What to launch: files, mode, project; a value, not shell strings."""

    root: Path
    dbless: bool = False
    project_name: str = "harness"
    build: bool = True
    ephemeral_ports: bool = True
    services: tuple[str, ...] = ()          # compose services to start (empty = all)
    run_dir: Path | None = None             # default <root>/.harness/compose
    extra_env: dict[str, str] = field(default_factory=dict)
    restart_timeout: float = 180.0          # s for `up --wait` of one service (Kong: 5 s probes)
    command_timeout: float = 60.0           # s for kill, ps

    @property
    def files(self) -> tuple[Path, ...]:
        return (COMPOSE_FILE, DBLESS_FILE) if self.dbless else (COMPOSE_FILE,)

    @property
    def state_dir(self) -> Path:
        return self.run_dir or self.root / ".harness" / "compose"

    @property
    def certs_dir(self) -> Path:
        return self.state_dir / "certs"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "compose.env"

    def env(self, pins: Mapping[str, int] | None = None) -> dict[str, str]:
        """The env file's variables; `pins` (variable -> host port) keep restarted
        services on the ports they had."""
        env = {"COMPOSE_PROJECT_NAME": self.project_name,
               "HARNESS_COMPOSE_CERTS_DIR": str(self.certs_dir)}
        if self.ephemeral_ports:
            env |= {port_var(v): "" for v in PORT_VARS.values()}
        return env | self.extra_env | {k: str(v) for k, v in (pins or {}).items()}


def port_var(x: str) -> str:
    return f"HARNESS_COMPOSE_{x}_PORT"


def _compose_name(service: str) -> str:
    """The one harness -> compose service name mapping (the endpoints' prefixes too)."""
    return GATEWAY if service in _GATEWAY_NAMES else service


def _running_rows(ps_json: str) -> list[dict[str, Any]]:
    # `docker compose ps --format json`: one object per line (compose >= 2.21) or one array
    rows: list[Any] = []
    for line in ps_json.splitlines():
        if line.strip():
            data = json.loads(line)
            rows += data if isinstance(data, list) else [data]
    return [r for r in rows if isinstance(r, dict) and r.get("State") == "running"]


def running_services(ps_json: str) -> set[str]:
    """Compose services with a running container, from `docker compose ps --format json`."""
    return {str(r.get("Service")) for r in _running_rows(ps_json)}


def published_ports(ps_json: str) -> dict[tuple[str, int], int]:
    """`docker compose ps --format json` output -> {(service, container port): host port}
    of running containers (IPv4 publishers)."""
    out: dict[tuple[str, int], int] = {}
    for row in _running_rows(ps_json):
        for pub in row.get("Publishers") or []:
            url, target, published = pub.get("URL") or "", pub.get("TargetPort"), \
                pub.get("PublishedPort")
            if target and published and ":" not in url:
                out[(str(row.get("Service")), int(target))] = int(published)
    return out


class ComposeStack:
    """`ControllableStack` over `docker compose` with stack/docker-compose*.yml."""

    name = "compose"

    def __init__(self, settings: ComposeSettings) -> None:
        self.settings = settings
        self._compose: DockerCompose | None = None
        self._services = load_compose(settings.root, settings.files)
        # host ports seen last per (compose service, container port), and the env file's
        # pins of restarted services (HARNESS_COMPOSE_<X>_PORT -> that port)
        self._published: dict[tuple[str, int], int] = {}
        self._pins: dict[str, int] = {}

    # -- offline: names and mapping -------------------------------------
    def services(self) -> list[str]:
        jobs = one_shot_jobs(self._services)
        return sorted(_GATEWAY_NAMES[0] if n == GATEWAY else n for n in self._services
                      if n not in jobs)

    def compose_service(self, service: str) -> str:
        """Harness service name -> compose service name (jobs included: their logs)."""
        name = _compose_name(service)
        if name not in self._services:
            raise StackError(f"compose stack: unknown service {service!r}; known: "
                             f"{', '.join(self.services())}")
        return name

    def controlled_service(self, service: str) -> str:
        """Harness service name -> the compose service kill/restart act on (no jobs)."""
        name = _compose_name(service)
        if name not in self._services or name in one_shot_jobs(self._services):
            raise StackError(f"compose stack: cannot kill or restart {service!r}: not a "
                             f"service of the stack; known: {', '.join(self.services())}")
        return name

    def endpoint_spec(self, endpoint: str) -> tuple[str, int, str]:
        """Endpoint name -> (compose service, container port, scheme), no Docker needed."""
        for prefix in _GATEWAY_NAMES:
            if endpoint.startswith(prefix) and endpoint[len(prefix):] in _GATEWAY_PORTS:
                port, scheme = _GATEWAY_PORTS[endpoint[len(prefix):]]
                return GATEWAY, port, scheme
        base, admin = (endpoint[:-6], True) if endpoint.endswith("-admin") else (endpoint, False)
        svc = self._services.get(base)
        if svc is None or not svc.container_ports:
            known = ", ".join(n for n, s in self._services.items() if s.container_ports)
            raise StackError(f"compose stack: no endpoint {endpoint!r}; services with ports: "
                             f"{known}")
        if admin:
            if 9080 not in svc.container_ports:
                raise StackError(f"compose stack: {base} has no admin port (9080)")
            return base, 9080, "http"
        return base, svc.container_ports[0], _SCHEMES.get(base, "http")

    def command(self) -> list[str]:
        """The docker compose command line this stack uses (before the sub-command)."""
        argv = ["docker", "compose"]
        for f in self.settings.files:
            argv += ["-f", str(self.settings.root / f)]
        return argv + ["--env-file", str(self.settings.env_file)]

    def kill_command(self, service: str) -> list[str]:
        return [*self.command(), "kill", "--signal", "SIGKILL", self.controlled_service(service)]

    def restart_command(self, service: str) -> list[str]:
        # --no-deps: only this service; --force-recreate: a running one restarts too, and
        # the pinned ports (a config change) apply; --wait: its healthcheck, as at start.
        return [*self.command(), "up", "--detach", "--no-deps", "--force-recreate", "--wait",
                self.controlled_service(service)]

    def ps_command(self) -> list[str]:
        return [*self.command(), "ps", "--format", "json"]

    def port_pins(self, service: str, published: Mapping[tuple[str, int], int]
                  ) -> dict[str, int]:
        """HARNESS_COMPOSE_<X>_PORT values keeping `service` on the `published` host ports
        (only ports the compose file publishes through a variable: not the stubs')."""
        svc = self.controlled_service(service)
        return {port_var(x): published[key] for key, x in PORT_VARS.items()
                if key[0] == svc and key in published}

    # -- needs Docker ---------------------------------------------------
    def _dc(self) -> DockerCompose:
        if self._compose is None:
            try:
                from testcontainers.compose import DockerCompose
            except ModuleNotFoundError as exc:
                raise StackError("the compose launcher needs the deploy extra: "
                                 "pip install 'harness[deploy]'") from exc
            s = self.settings
            self._compose = DockerCompose(
                context=str(s.root / "stack"),
                compose_file_name=[str(s.root / f) for f in s.files],
                build=s.build, wait=True, env_file=str(s.env_file),
                services=list(s.services) or None)
        return self._compose

    def start(self) -> None:
        ok, why = docker_engine_available()
        if not ok:
            raise StackError(f"compose stack: {why}\nHint: start Docker, or use the native "
                             "stack (`harness up`).")
        self.settings.certs_dir.mkdir(parents=True, exist_ok=True)
        self._pins, self._published = {}, {}
        self._write_env()
        try:
            self._dc().start()
        except subprocess.CalledProcessError as exc:
            out = (exc.stderr or b"").decode(errors="replace")[-2000:]
            raise StackError(f"compose stack: `{' '.join(map(str, exc.cmd))}` failed "
                             f"(exit {exc.returncode}):\n{out}\nHint: `harness` logs of the "
                             "failing service: docker compose -f stack/docker-compose.yml "
                             "logs kong-config kong") from None
        try:
            self._published = published_ports(self._run(self.ps_command()))
        except StackError:
            pass        # kill and restart read the ports again before acting

    def stop(self) -> None:
        if self._compose is not None:
            self._compose.stop(down=True)  # also removes the volumes (fresh next time)

    def kill(self, service: str) -> None:
        """SIGKILL one service's container now: its published ports go away, and it
        stays down (Docker's restart policy skips containers killed through the API)."""
        argv = self.kill_command(service)
        self._remember(argv[-1])
        try:
            self._run(argv)
        except StackError:
            if argv[-1] in running_services(self._run(self.ps_command())):
                raise
            # not running: killing a dead service is a no-op, as in the native stack

    def restart(self, service: str) -> None:
        """Start a killed (or running) service again, on the ports it had where the
        compose file lets them be set (see the module doc); wait for its healthcheck."""
        argv = self.restart_command(service)
        svc = argv[-1]
        self._remember(svc)
        pins = self.port_pins(service, self._published)
        self._pins |= pins
        self._write_env()
        try:
            self._run(argv, self.settings.restart_timeout)
        except StackError as exc:
            pinned = ", ".join(f"{k}={v}" for k, v in sorted(pins.items()))
            why = (f"{svc} was pinned to its previous host ports ({pinned}) in "
                   f"{self.settings.env_file}; one may have been taken meanwhile. "
                   if pins else "")
            raise StackError(f"{exc}\nHint: {why}Logs: {' '.join(self.command())} "
                             f"logs {svc}") from None
        now = published_ports(self._run(self.ps_command()))
        moved = []
        for key, x in PORT_VARS.items():
            want = pins.get(port_var(x)) if key[0] == svc else None
            if want is not None and now.get(key) != want:
                moved.append(f"{port_var(x)}: {want} -> {now.get(key)}")
        self._published |= {key: port for key, port in now.items() if key[0] == svc}
        if moved:
            raise StackError(f"compose stack: {svc} came back on other host ports than "
                             f"pinned ({'; '.join(moved)}): endpoints already handed out "
                             "are stale")

    def endpoint(self, service: str) -> Endpoint:
        svc, port, scheme = self.endpoint_spec(service)
        try:
            host, published = self._dc().get_service_host_and_port(svc, port)
        except Exception as exc:  # testcontainers raises bare exceptions when absent
            raise StackError(f"compose stack: {svc} port {port} has no published port "
                             f"(is {svc} running?): {exc}") from None
        if published is None:
            raise StackError(f"compose stack: {svc} port {port} is not published")
        return Endpoint("127.0.0.1" if host in (None, "0.0.0.0", "") else str(host),
                        int(published), scheme)

    # -- helpers ----------------------------------------------------------
    def _write_env(self) -> None:
        env = self.settings.env(self._pins)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings.env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))

    def _remember(self, svc: str) -> None:
        """Record the host ports `svc` publishes now (if it runs) for a later restart."""
        now = published_ports(self._run(self.ps_command()))
        self._published |= {key: port for key, port in now.items() if key[0] == svc}

    def _run(self, argv: list[str], timeout: float | None = None) -> str:
        """Run one docker compose command (same cwd as testcontainers); its stdout."""
        limit = timeout or self.settings.command_timeout
        shown = " ".join(argv)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit,
                                  cwd=self.settings.root / "stack")
        except FileNotFoundError:
            raise StackError(f"compose stack: `{argv[0]}` is not installed") from None
        except subprocess.TimeoutExpired:
            raise StackError(f"compose stack: `{shown}` did not finish within "
                             f"{limit:.0f} s") from None
        if proc.returncode != 0:
            out = (proc.stderr or proc.stdout).strip()[-2000:]
            raise StackError(f"compose stack: `{shown}` failed (exit {proc.returncode}):"
                             f"\n{out}")
        return proc.stdout

    def logs(self, service: str, lines: int = 50) -> str:
        out, err = self._dc().get_logs(self.compose_service(service))
        return "\n".join((out + err).splitlines()[-lines:])

    def status(self, service: str) -> ServiceHealth:
        name = self.compose_service(service)
        try:
            c: Any = self._dc().get_container(name, include_all=True)
        except Exception as exc:  # testcontainers raises bare exceptions when absent
            return ServiceHealth(service, "stopped", str(exc))
        state, health = str(c.State or ""), str(c.Health or "")
        if state != "running":
            return ServiceHealth(service, "stopped", f"container {state or 'absent'}")
        mapping = {"healthy": "healthy", "starting": "starting", "unhealthy": "unhealthy",
                   "": "healthy"}
        return ServiceHealth(service, mapping.get(health, "starting"),  # type: ignore[arg-type]
                             f"container running, health {health or 'n/a'}")

    def target(self) -> Target:
        """The `Target` of this running stack (scenarios, load profiles)."""
        from harness.target import Target
        from harness.tokens import dev_minter

        return Target(
            kind="compose",
            proxy_url=self.endpoint("gateway").url,
            proxy_tls_url=self.endpoint("gateway-1-tls").url,
            ca_file=self.settings.certs_dir / "ca.pem",
            status_url=self.endpoint("gateway-1-status").url,
            prometheus_url=self.endpoint("prometheus").url if "prometheus" in self._services
            else None,
            minter=dev_minter(),
            gateway_impl="kong",
            gateway_version="3.9.1",
            stack=self,
        )


def start_for_tests(root: Path, dbless: bool = False) -> tuple[ComposeStack, Target]:
    """Start a compose stack for one test session (own project name, ephemeral
    ports) and return it with its Target; the caller stops the stack."""
    import os

    stack = ComposeStack(ComposeSettings(root=root, dbless=dbless,
                                         project_name=f"harness-{os.getpid()}"))
    stack.start()
    try:
        return stack, stack.target()
    except BaseException:
        stack.stop()
        raise
