"""Kong's correlation-id plugin (priority 100001): kong-behaviour.md §6."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.model.plugins import PLUGIN_PRIORITIES, CorrelationIdConfig

__all__ = ["CorrelationIdPlugin"]

# Per worker (here: per process) like Kong's init_worker.
_WORKER_UUID = str(uuid.uuid4())
_COUNTER = itertools.count(1)


class CorrelationIdPlugin(Plugin):
    name = "correlation-id"
    priority = PLUGIN_PRIORITIES["correlation-id"]
    config: CorrelationIdConfig

    def _generate(self, req: Request, ctx: Ctx) -> str:
        gen = self.config.generator
        if gen == "uuid":
            return str(uuid.uuid4())
        if gen == "uuid#counter":
            return f"{_WORKER_UUID}#{next(_COUNTER)}"
        # tracker: server_addr-server_port-pid-connection-connection_requests-now
        conn = ctx.shared.get("connection_id", 0)
        nreq = ctx.shared.get("connection_requests", 1)
        return f"127.0.0.1-{req.port}-{os.getpid()}-{conn}-{nreq}-{time.time():.3f}"

    async def access(self, req: Request, ctx: Ctx) -> None:
        name = self.config.header_name
        value = req.headers.get(name)
        if not value:
            value = self._generate(req, ctx)
            req.headers.set(name, value)
        if self.config.echo_downstream:
            ctx.plugin.setdefault(self.name, {})["correlation_id"] = value

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        if not self.config.echo_downstream:
            return
        value = ctx.plugin.get(self.name, {}).get("correlation_id")
        if value:
            resp.headers.set(self.config.header_name, value)
