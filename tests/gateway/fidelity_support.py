"""The production kong.yml served end to end for the fidelity tests (kong-behaviour.md rows).

One in-process gateway with every production plugin (jwt, tenant-context in LuaJIT,
rate-limiting on a real redis-server, cors, correlation-id, ...), every upstream target
mapped to one echo server and the Tenant Service to a real HTTP Tenant Directory.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.gateway.plugins import REGISTRY
from harness.gateway.plugins import rate_limiting as rl
from harness.model import Gateway, load_gateway
from harness.tokens import dev_minter
from tests.gateway.dataplane_support import Upstream, gateway, run
from tests.gateway.plugins.plugin_helpers import RedisServer, TenantDirectoryServer

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = load_gateway(ROOT)
MINTER = dev_minter()
TARGETS = [("user-1", 8080), ("user-2", 8080), ("billing-1", 8080), ("notification-1", 8080),
           ("file-1", 8080), ("crm-1", 8080), ("hrm-1", 8080), ("auth-service", 8082)]


@dataclass
class Prod:
    """What a fidelity test body gets: ports, the echo upstream, Redis, the directory."""

    port: int
    status_port: int
    up: Upstream
    redis: RedisServer
    directory: TenantDirectoryServer
    srv: Any

    def token(self, tenant: str = "acme", **kw: Any) -> str:
        return MINTER.mint(tenant, **kw)

    def auth(self, tenant: str = "acme", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, **kw)}"}


def production(tmp_path: Path, body: Callable[[Prod], Awaitable[Any]],
               timeout: float = 20) -> Any:
    """Run `body` against the production configuration (real sockets, Redis, LuaJIT)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    redis = RedisServer(tmp_path)
    redis.start()

    async def main() -> Any:
        up = await Upstream(name="echo").start()
        directory = TenantDirectoryServer(PRODUCTION)
        await directory.start()
        resolve = {t: ("127.0.0.1", up.port) for t in TARGETS}
        resolve[("tenant-service", 8081)] = ("127.0.0.1", directory.port)
        resolve[("redis", 6379)] = ("127.0.0.1", redis.port)
        try:
            async with gateway(PRODUCTION, resolve, REGISTRY, log_dir=tmp_path / "logs") as srv:
                return await body(Prod(srv.ports["http"], srv.ports["status"], up, redis,
                                       directory, srv))
        finally:
            for client in rl._REDIS_CLIENTS.values():   # per process; this Redis goes away
                client.close()
            rl._REDIS_CLIENTS.clear()
            await asyncio.sleep(0)
            await directory.stop()
            await up.stop()

    try:
        return run(main(), timeout)
    finally:
        redis.stop()
