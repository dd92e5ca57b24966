"""Shared services of one gateway process, handed to every plugin instance.

A plugin gets `runtime` as its second constructor argument and may use:
    gateway            the typed model (harness.model.Gateway)
    version            "3.9.1" (the Kong version we emulate)
    server_header      "kong/3.9.1"
    node_id            a uuid per process (prometheus node_id label)
    replica_id         --replica-id
    log_dir            --log-dir (Path)
    loop               the running event loop (set when serving starts)
    balancers          upstream name -> Balancer; `.health()` lists (target, "ip:port", state)
    resolve(host, port) -> (ip, port)   the --resolve map (identity when absent)
    map_path(path)     where a Kong file path (e.g. /var/log/kong/x.log) lands under log_dir
    register_status_route(path, handler)   GET `path` on the status listener;
                       handler() -> (status, headers, body), or handler(Request) -> Response
                       (either may return an awaitable)
    stats              connection/request counters (kong_nginx_* metrics)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gateway import KONG_VERSION
from harness.gateway.balancer import Balancer
from harness.model import Gateway

__all__ = ["KONG_VERSION", "Runtime", "ServerStats", "StatusHandler"]


StatusHandler = Callable[..., Any]


@dataclass
class ServerStats:
    """What nginx's stub_status reports (Kong's /status `server` block)."""

    connections_accepted: int = 0
    connections_handled: int = 0
    connections_active: int = 0
    connections_reading: int = 0
    connections_writing: int = 0
    total_requests: int = 0

    @property
    def connections_waiting(self) -> int:
        return max(0, self.connections_active - self.connections_reading
                   - self.connections_writing)


@dataclass
class Runtime:
    gateway: Gateway
    log_dir: Path
    replica_id: int = 0
    resolve_map: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    version: str = KONG_VERSION
    node_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    balancers: dict[str, Balancer] = field(default_factory=dict)
    status_routes: dict[str, StatusHandler] = field(default_factory=dict)
    stats: ServerStats = field(default_factory=ServerStats)
    loop: asyncio.AbstractEventLoop | None = None
    _plain: dict[tuple[str, int], Balancer] = field(default_factory=dict)

    @property
    def requests_total(self) -> int:
        """kong_nginx_requests_total (read by the prometheus plugin)."""
        return self.stats.total_requests

    @property
    def server_header(self) -> str:
        return f"kong/{self.version}"

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        return self.resolve_map.get((host, port), (host, port))

    def resolve_url(self, url: str) -> str:
        """Apply the resolve map to an http(s) URL's host:port (e.g. the Tenant Service)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        if not parts.hostname:
            return url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host, real = self.resolve(parts.hostname, port)
        return urlunsplit((parts.scheme, f"{host}:{real}", parts.path, parts.query,
                           parts.fragment))

    def map_path(self, path: str) -> Path:
        """Kong writes logs under /var/log/kong; this process writes them under log_dir."""
        return self.log_dir / Path(path).name

    def register_status_route(self, path: str, handler: StatusHandler) -> None:
        self.status_routes[path] = handler

    def balancer_for(self, host: str, port: int) -> Balancer:
        """The upstream named `host`, else a one-target balancer for a plain host."""
        bal = self.balancers.get(host)
        if bal is None:
            bal = self._plain.get((host, port))
            if bal is None:
                bal = self._plain[(host, port)] = Balancer.for_host(host, port, self.resolve)
        return bal
