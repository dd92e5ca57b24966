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
docker compose command line) works offline and is tested.
"""

from __future__ import annotations

import subprocess
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
_SCHEMES = {"redis": "redis", "postgres": "postgresql"}
_PORT_VARS = ("PROXY", "PROXY_TLS", "ADMIN", "STATUS", "POSTGRES", "REDIS", "TENANT", "AUTH",
              "PROMETHEUS")


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

    def env(self) -> dict[str, str]:
        env = {"COMPOSE_PROJECT_NAME": self.project_name,
               "HARNESS_COMPOSE_CERTS_DIR": str(self.certs_dir)}
        if self.ephemeral_ports:
            env |= {f"HARNESS_COMPOSE_{v}_PORT": "" for v in _PORT_VARS}
        return env | self.extra_env


class ComposeStack:
    """`Stack` over `docker compose` with stack/docker-compose*.yml."""

    name = "compose"

    def __init__(self, settings: ComposeSettings) -> None:
        self.settings = settings
        self._compose: DockerCompose | None = None
        self._services = load_compose(settings.root, settings.files)

    # -- offline: names and mapping -------------------------------------
    def services(self) -> list[str]:
        jobs = one_shot_jobs(self._services)
        return sorted("gateway-1" if n == GATEWAY else n for n in self._services
                      if n not in jobs)

    def compose_service(self, service: str) -> str:
        """Harness service name -> compose service name."""
        name = GATEWAY if service in ("gateway", "gateway-1") else service
        if name not in self._services:
            raise StackError(f"compose stack: unknown service {service!r}; known: "
                             f"{', '.join(self.services())}")
        return name

    def endpoint_spec(self, endpoint: str) -> tuple[str, int, str]:
        """Endpoint name -> (compose service, container port, scheme), no Docker needed."""
        for prefix in ("gateway-1", "gateway"):
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
        s = self.settings
        s.certs_dir.mkdir(parents=True, exist_ok=True)
        s.env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(s.env().items())))
        try:
            self._dc().start()
        except subprocess.CalledProcessError as exc:
            out = (exc.stderr or b"").decode(errors="replace")[-2000:]
            raise StackError(f"compose stack: `{' '.join(map(str, exc.cmd))}` failed "
                             f"(exit {exc.returncode}):\n{out}\nHint: `harness` logs of the "
                             "failing service: docker compose -f stack/docker-compose.yml "
                             "logs kong-config kong") from None

    def stop(self) -> None:
        if self._compose is not None:
            self._compose.stop(down=True)  # also removes the volumes (fresh next time)

    def endpoint(self, service: str) -> Endpoint:
        svc, port, scheme = self.endpoint_spec(service)
        host, published = self._dc().get_service_host_and_port(svc, port)
        if published is None:
            raise StackError(f"compose stack: {svc} port {port} is not published")
        return Endpoint("127.0.0.1" if host in (None, "0.0.0.0", "") else str(host),
                        int(published), scheme)

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
