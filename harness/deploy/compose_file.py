"""The compose files of stack/, read as typed records (services, ports, jobs).

Used by the compose launcher (which services exist, which container port is
which endpoint) and by `harness validate` (structure rules on top of
`docker-compose config`). Plain YAML reading: anchors and `<<` merges are
resolved by the YAML loader; `${VAR}` interpolation is left as text since only
names and container ports matter here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

__all__ = ["COMPOSE_FILE", "DBLESS_FILE", "ComposeService", "load_compose", "one_shot_jobs"]

COMPOSE_FILE = Path("stack/docker-compose.yml")
DBLESS_FILE = Path("stack/docker-compose.dbless.yml")


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str
    built: bool
    container_ports: tuple[int, ...]
    has_healthcheck: bool
    restart: str
    depends_on: dict[str, str]            # service -> condition
    environment: dict[str, str]
    volume_targets: tuple[str, ...]
    command: tuple[str, ...] = field(default=())


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _container_port(spec: Any, where: str, file: str) -> int:
    if isinstance(spec, int):
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("target"), int):
        return int(spec["target"])
    if isinstance(spec, str):
        last = spec.rsplit(":", 1)[-1].split("/", 1)[0]
        if last.isdigit():
            return int(last)
    raise ConfigError(file, where, "a port mapping like 127.0.0.1:8000:8000", spec)


def _environment(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {k: v for k, _, v in pairs}
    return {}


def _volume_target(raw: Any) -> str:
    if isinstance(raw, dict):
        return str(raw.get("target", ""))
    parts = str(raw).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def load_compose(root: Path, files: Sequence[Path] = (COMPOSE_FILE,)
                 ) -> dict[str, ComposeService]:
    """Services of the given compose files (later files override earlier ones)."""
    merged: dict[str, Any] = {}
    names = ", ".join(str(f) for f in files)
    for rel in files:
        path = root / rel
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(str(rel), "", "a readable YAML compose file", str(exc),
                              raw_got=True) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
            raise ConfigError(str(rel), "services", "a mapping of services", doc)
        merged = _merge(merged, doc["services"])
    services = {}
    for name, raw in merged.items():
        if not isinstance(raw, dict):
            raise ConfigError(names, f"services.{name}", "a mapping", raw)
        deps = raw.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: "service_started" for d in deps}
        ports = tuple(_container_port(p, f"services.{name}.ports[{i}]", names)
                      for i, p in enumerate(raw.get("ports") or []))
        hc = raw.get("healthcheck")
        services[name] = ComposeService(
            name=name,
            image=str(raw.get("image", "")),
            built="build" in raw,
            container_ports=ports,
            has_healthcheck=isinstance(hc, dict) and not hc.get("disable", False),
            restart=str(raw.get("restart", "no")),
            depends_on={d: str((c or {}).get("condition", "service_started"))
                        for d, c in deps.items()},
            environment=_environment(raw.get("environment")),
            volume_targets=tuple(_volume_target(v) for v in raw.get("volumes") or []),
            command=tuple(str(c) for c in raw.get("command") or ()),
        )
    return services


def one_shot_jobs(services: dict[str, ComposeService]) -> set[str]:
    """Services others wait on with service_completed_successfully (init jobs)."""
    return {dep for s in services.values() for dep, cond in s.depends_on.items()
            if cond == "service_completed_successfully"}
