"""What the plugins need from the data plane's runtime, as a Protocol.

The data plane (harness.gateway.runtime, D1) passes its runtime object to each
plugin constructor; anything with these attributes works, so unit tests and
bench/plugin_costs.py use `StandaloneRuntime`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.gateway import KONG_VERSION

if TYPE_CHECKING:
    from harness.model import Gateway

__all__ = ["KONG_VERSION", "PluginRuntime", "StandaloneRuntime", "StatusHandler", "log"]


log = logging.getLogger("harness.gateway.plugins")

# A status-listener route: () -> (status, headers, body). Called on the event loop.
StatusHandler = Callable[[], tuple[int, list[tuple[str, str]], bytes]]


@runtime_checkable
class PluginRuntime(Protocol):
    """The shared services a plugin may use (built once per gateway process)."""

    gateway: Gateway
    log_dir: Path
    replica_id: int
    version: str
    # upstream name -> balancer with .health() -> list of (target, address, state)
    balancers: Mapping[str, Any]

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        """The --resolve map: compose name:port -> 127.0.0.1:real port (identity if unmapped)."""
        ...

    def register_status_route(self, path: str, handler: StatusHandler) -> None:
        """Serve GET `path` on the status listener with `handler`."""
        ...


@dataclass
class StandaloneRuntime:
    """A runtime without a data plane: for unit tests and the plugin cost bench."""

    gateway: Gateway
    log_dir: Path
    replica_id: int = 0
    version: str = KONG_VERSION
    resolve_map: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    balancers: dict[str, Any] = field(default_factory=dict)
    status_routes: dict[str, StatusHandler] = field(default_factory=dict)
    node_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pid: int = field(default_factory=os.getpid)

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        return self.resolve_map.get((host, port), (host, port))

    def register_status_route(self, path: str, handler: StatusHandler) -> None:
        self.status_routes[path] = handler
