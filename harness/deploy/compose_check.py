"""`harness validate` rules for stack/docker-compose*.yml.

`docker-compose config` (Debian's docker-compose 1.29) validates each file set
against the Compose schema; on top, the stack's own rules: every long-running
service has a healthcheck, waits use conditions, Kong is a pinned 3.x image
with our custom plugins mounted and enabled, and there is one stub per
kong.yml upstream target, named as the target host.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.deploy.compose_file import (
    COMPOSE_FILE,
    DBLESS_FILE,
    ComposeService,
    load_compose,
    one_shot_jobs,
)
from harness.errors import ConfigError
from harness.model import load_gateway
from harness.validate import require_tool, run_tool

__all__ = ["COMPOSE_SETS", "check_compose"]

# Each set is validated as one `docker-compose -f A -f B config`.
COMPOSE_SETS: tuple[tuple[Path, ...], ...] = ((COMPOSE_FILE,), (COMPOSE_FILE, DBLESS_FILE))
PLUGIN_DIR = "/usr/local/share/lua/5.1/kong/plugins"
_KONG_TAG = re.compile(r"^kong(?:/kong)?:3\.\d+(?:\.\d+)?$")


def _docker_compose_config(root: Path, files: tuple[Path, ...]) -> list[str]:
    exe = require_tool("docker-compose", "docker-compose", "checking compose files")
    argv = [exe, "--project-directory", str(root / "stack")]
    for f in files:
        argv += ["-f", str(root / f)]
    rc, out = run_tool([*argv, "config", "-q"], root, timeout=60)
    if rc == 0:
        return []
    return [f"{' + '.join(map(str, files))}: docker-compose config failed:\n{out}"]


def _structure(root: Path, files: tuple[Path, ...],
               services: dict[str, ComposeService]) -> list[str]:
    label = " + ".join(map(str, files))
    problems: list[str] = []
    jobs = one_shot_jobs(services)
    custom = sorted(p.name for p in (root / "kong/custom-plugins").iterdir() if p.is_dir()) \
        if (root / "kong/custom-plugins").is_dir() else []
    for s in services.values():
        where = f"{label}: services.{s.name}"
        if s.name in jobs:
            if s.restart != "no":
                problems.append(f'{where}.restart: expected "no" for a one-shot job, '
                                f"got {s.restart!r}")
        elif not s.has_healthcheck:
            problems.append(f"{where}.healthcheck: expected a healthcheck, got none")
        for dep, cond in s.depends_on.items():
            if dep not in services:
                problems.append(f"{where}.depends_on.{dep}: expected a service of the "
                                f"file, got an unknown name")
            elif cond == "service_started":
                problems.append(f"{where}.depends_on.{dep}: expected condition "
                                f"service_healthy or service_completed_successfully, got "
                                f"service_started")
        if s.image.startswith("kong") and not _KONG_TAG.match(s.image):
            problems.append(f"{where}.image: expected the official Kong image pinned to a "
                            f"3.x tag (e.g. kong:3.9.1), got {s.image!r}")
        if s.image.startswith("kong"):
            enabled = s.environment.get("KONG_PLUGINS", "bundled").split(",")
            for plugin in custom:
                if plugin not in [e.strip() for e in enabled]:
                    problems.append(f"{where}.environment.KONG_PLUGINS: expected "
                                    f"bundled,{plugin}, got {','.join(enabled)!r}")
                if f"{PLUGIN_DIR}/{plugin}" not in s.volume_targets:
                    problems.append(f"{where}.volumes: expected kong/custom-plugins/{plugin} "
                                    f"mounted at {PLUGIN_DIR}/{plugin}, got no such mount")
    if "kong" not in services:
        problems.append(f"{label}: services.kong: expected the Kong gateway service, got none")
    return problems


def _stubs_match_targets(root: Path, services: dict[str, ComposeService]) -> list[str]:
    try:
        gateway = load_gateway(root)
    except ConfigError:
        return []  # the `model` check reports it
    problems = []
    for up in gateway.kong.upstreams:
        for t in up.targets:
            host, _, port = t.target.partition(":")
            svc = services.get(host)
            where = f"{COMPOSE_FILE}: services.{host}"
            if svc is None:
                problems.append(f"{where}: expected a service for kong.yml upstream "
                                f"{up.name} target {t.target}, got none")
            elif port and port.isdigit() and int(port) not in svc.container_ports:
                problems.append(f"{where}.ports: expected container port {port} (kong.yml "
                                f"target {t.target}), got {list(svc.container_ports)}")
    return problems


PROMETHEUS_CONFIG = Path("stack/prometheus/prometheus.yml")


def _scrape_targets(root: Path, services: dict[str, ComposeService]) -> list[str]:
    """The compose Prometheus scrapes compose services only, and every service
    that serves /metrics on its main port (stubs, Tenant and Auth services)."""
    import yaml

    try:
        cfg = yaml.safe_load((root / PROMETHEUS_CONFIG).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []  # the `prometheus` check reports an unreadable config
    targets = {str(t) for job in cfg.get("scrape_configs") or []
               for sc in job.get("static_configs") or [] for t in sc.get("targets") or []}
    problems = [f"{PROMETHEUS_CONFIG}: scrape_configs[].static_configs[].targets: expected "
                f"compose services, got {t!r}" for t in sorted(targets)
                if t.split(":")[0] not in services]
    for s in services.values():
        if s.built and s.container_ports and s.has_healthcheck:
            want = f"{s.name}:{s.container_ports[0]}"
            if want not in targets:
                problems.append(f"{PROMETHEUS_CONFIG}: scrape_configs: expected a target "
                                f"{want} (compose service {s.name}), got none")
    return problems


def check_compose(root: Path, *, docker_compose: bool = True) -> list[str]:
    """All problems of the compose files; `docker_compose=False` skips the external
    `docker-compose config` run (the stack rules alone, for fast tests)."""
    problems: list[str] = []
    for files in COMPOSE_SETS:
        missing = [f for f in files if not (root / f).is_file()]
        if missing:
            problems.append(f"{missing[0]}: expected a compose file, got no such file")
            continue
        if docker_compose:
            problems += _docker_compose_config(root, files)
        try:
            services = load_compose(root, files)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        problems += _structure(root, files, services)
        if files == (COMPOSE_FILE,):
            problems += _stubs_match_targets(root, services)
            problems += _scrape_targets(root, services)
    return problems
