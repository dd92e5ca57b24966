"""One typed Settings object for the launcher and the CLI.

Precedence, lowest first: defaults < settings file (`harness.toml` at the repo
root, or --settings PATH; keys under [harness] or at the top level) <
environment `HARNESS_<FIELD>` < explicitly given CLI flags (`--<field>`, with
'_' as '-'). Every knob has the same stem everywhere; the README's "Settings"
table lists them. Time limits live in `Timeouts` (STYLE §7): file section
[harness.timeouts] or [timeouts], environment HARNESS_TIMEOUT_<FIELD>.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["Settings", "Timeouts", "add_settings_arguments", "load_settings"]

_REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Timeouts:
    """Every time limit of the harness, in seconds."""

    stack_ready: float = 30.0       # `harness up`: all services ready (target <= 10 s)
    service_ready: float = 20.0     # one service's readiness after its start
    stop_grace: float = 2.0         # SIGTERM -> SIGKILL for one process group
    http: float = 5.0               # one request of the harness to a service
    convergence: float = 10.0       # await_convergence default maximum
    convergence_interval: float = 0.1


@dataclass(frozen=True)
class Settings:
    root: Path = _REPO                       # repository (kong/, stack/secrets/)
    run_dir: Path = _REPO / ".harness" / "run"  # state.json, logs, data of the native stack
    replicas: int = 1                        # gateway processes sharing Redis
    prometheus: bool = False                 # also start Prometheus scraping everything
    gateway: bool = True                     # start the reference gateway when it exists
    gateway_http_port: int = 0               # 0 = a free port
    gateway_https_port: int = 0
    gateway_status_port: int = 0
    redis_port: int = 0
    postgres_port: int = 0
    tenant_service_port: int = 0
    auth_service_port: int = 0
    prometheus_port: int = 0
    timeouts: Timeouts = field(default_factory=Timeouts)

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_SOURCE_FILE = "harness.toml"


def _coerce(source: str, name: str, typ: Any, value: Any) -> Any:
    """Turn file/env/CLI values into the field type, or a ConfigError naming them."""
    type_name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if type_name == "int":
            if isinstance(value, bool):
                raise ValueError
            out = int(value)
            if out < 0:
                raise ValueError
            return out
        if type_name == "float":
            if isinstance(value, bool):
                raise ValueError
            outf = float(value)
            if outf <= 0:
                raise ValueError
            return outf
        if type_name == "Path":
            return Path(str(value)).expanduser()
    except (TypeError, ValueError):
        pass
    else:
        raise ConfigError(source, name, f"a known type ({type_name})", value)
    expected = {"bool": "true or false", "int": "an integer >= 0",
                "float": "a number of seconds > 0"}[type_name]
    raise ConfigError(source, name, expected, value)


def _apply(base: Any, values: Mapping[str, Any], source: str, prefix: str = "") -> Any:
    known = {f.name: f for f in fields(base)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        f = known.get(key)
        name = prefix + (key.upper() if prefix.startswith("HARNESS_") else key.replace(
            "_", "-") if prefix == "--" else key)
        if f is None or f.name == "timeouts":
            raise ConfigError(source, name, f"one of {sorted(set(known) - {'timeouts'})}", key)
        changes[key] = _coerce(source, name, f.type, value)
    return dataclasses.replace(base, **changes)


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(str(path), "", "a readable settings file", exc.strerror,
                          raw_got=True) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", "valid TOML", str(exc), raw_got=True) from None
    body = data.get("harness", data)
    if not isinstance(body, dict):
        raise ConfigError(str(path), "harness", "a table", body)
    body = dict(body)
    timeouts = body.pop("timeouts", {})
    if not isinstance(timeouts, dict):
        raise ConfigError(str(path), "timeouts", "a table", timeouts)
    return body, timeouts


def load_settings(args: argparse.Namespace | None = None,
                  environ: Mapping[str, str] | None = None,
                  settings_file: Path | None = None) -> Settings:
    """Build Settings from defaults, file, environment and CLI flags (in that order)."""
    env = os.environ if environ is None else environ
    explicit = getattr(args, "settings", None) if args is not None else None
    path = settings_file or explicit or (Path(env["HARNESS_SETTINGS"])
                                         if env.get("HARNESS_SETTINGS") else None)
    settings: Settings = Settings()
    timeouts: Timeouts = Timeouts()
    if path is None and (_REPO / _SOURCE_FILE).is_file():
        path = _REPO / _SOURCE_FILE
    if path is not None:
        body, tbody = _read_file(Path(path))
        settings = _apply(settings, body, str(path))
        timeouts = _apply(timeouts, tbody, str(path), "timeouts.")
    env_values = {f.name: env[f"HARNESS_{f.name.upper()}"] for f in fields(Settings)
                  if f.name != "timeouts" and f"HARNESS_{f.name.upper()}" in env}
    settings = _apply(settings, env_values, "environment", "HARNESS_")
    t_env = {f.name: env[f"HARNESS_TIMEOUT_{f.name.upper()}"] for f in fields(Timeouts)
             if f"HARNESS_TIMEOUT_{f.name.upper()}" in env}
    timeouts = _apply(timeouts, t_env, "environment", "HARNESS_TIMEOUT_")
    if args is not None:
        # argparse defaults are None, so only flags the user typed count.
        flags = {f.name: getattr(args, f.name) for f in fields(Settings)
                 if getattr(args, f.name, None) is not None}
        flags.pop("timeouts", None)
        settings = _apply(settings, flags, "command line", "--")
    settings = dataclasses.replace(settings, timeouts=timeouts)
    if settings.replicas < 1:
        raise ConfigError("settings", "replicas", "an integer >= 1", settings.replicas)
    if not settings.run_dir.is_absolute():
        settings = dataclasses.replace(settings, run_dir=(settings.root / settings.run_dir))
    return settings


def add_settings_arguments(p: argparse.ArgumentParser, names: tuple[str, ...] | None = None
                           ) -> None:
    """CLI flags for Settings fields (all by default); each defaults to None (= not given)."""
    p.add_argument("--settings", type=Path, default=None,
                   help="settings file (default: harness.toml at the repo root, if present)")
    for f in fields(Settings):
        if f.name == "timeouts" or (names is not None and f.name not in names):
            continue
        flag = "--" + f.name.replace("_", "-")
        typ = f.type if isinstance(f.type, str) else f.type.__name__
        if typ == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            conv = {"int": int, "Path": Path}.get(typ, str)
            p.add_argument(flag, dest=f.name, type=conv, default=None, metavar=f.name.upper())
