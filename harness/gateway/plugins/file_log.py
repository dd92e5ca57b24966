"""Kong's file-log plugin (priority 9, log phase): one JSON line per request in the
shape of Kong's basic log serializer (kong/pdk/log.lua `serialize`).

Deviation (documented in docs/reference-gateway.md): the configured absolute
path is placed under runtime.log_dir, keeping its file name
(`/var/log/kong/access.json.log` -> `<log_dir>/access.json.log`). Lines are
buffered and flushed once per event-loop iteration; with `reopen` the file is
reopened when it was moved or deleted (log rotation), which is what Kong's
reopen-per-write achieves.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.gateway.plugins._kong import consumer_id, entity_id
from harness.model.plugins import PLUGIN_PRIORITIES, FileLogConfig

__all__ = ["FileLogPlugin", "serialize", "serialize_line"]

_REDACTED = ("authorization", "proxy-authorization")


_ENTITIES: dict[int, tuple[Any, dict[str, Any], dict[str, Any], str]] = {}


def _route_entity(ctx: Ctx) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Route and service entities as Kong serializes them (built once per route)."""
    view = ctx.route
    if view is None:
        return None, None
    got = _ENTITIES.get(id(view))
    if got is not None and got[0] is view:
        return got[1], got[2]
    _route_entity_json(ctx)
    got = _ENTITIES[id(view)]
    return got[1], got[2]


def _route_entity_json(ctx: Ctx) -> str:
    """',"route":{...},"service":{...}' pre-encoded once per route (hot path)."""
    view = ctx.route
    if view is None:
        return ""
    got = _ENTITIES.get(id(view))
    if got is not None and got[0] is view:
        return got[3]
    r, s = view.route, view.service
    sid = entity_id("services", s.name, s.id)
    route = r.model_dump(exclude={"plugins", "service"})
    route.update(id=entity_id("routes", r.name, r.id), service={"id": sid}, ws_id="default")
    service = s.model_dump(exclude={"plugins", "routes"})
    service.update(id=sid, ws_id="default")
    frag = (',"route":' + json.dumps(route, separators=(",", ":"), default=str)
            + ',"service":' + json.dumps(service, separators=(",", ":"), default=str))
    _ENTITIES[id(view)] = (view, route, service, frag)
    return frag


def serialize(req: Request, resp: Response, ctx: Ctx) -> dict[str, Any]:
    """Kong's basic serializer fields, plus kong.log.set_serialize_value entries."""
    out = _serialize(req, resp, ctx)
    route, service = _route_entity(ctx)
    if route is not None:
        out["route"], out["service"] = route, service
    return out


def serialize_line(req: Request, resp: Response, ctx: Ctx) -> str:
    """serialize() as one JSON line; route/service come pre-encoded."""
    text = json.dumps(_serialize(req, resp, ctx), separators=(",", ":"), default=str)
    return text[:-1] + _route_entity_json(ctx) + "}\n"


def _serialize(req: Request, resp: Response, ctx: Ctx) -> dict[str, Any]:
    headers = req.headers.to_dict()
    for name in _REDACTED:
        if name in headers:
            headers[name] = "REDACTED"
    port = req.port
    default_port = 443 if req.scheme == "https" else 80
    uri = req.raw_path + (f"?{req.query}" if req.query else "")
    host_port = req.host if port == default_port else f"{req.host}:{port}"
    now = time.time()
    request_ms = int((now - ctx.started_at) * 1000)
    upstream = ctx.upstream_latency_ms
    out: dict[str, Any] = {
        "request": {
            "method": req.method,
            "uri": uri,
            "url": f"{req.scheme}://{host_port}{uri}",
            "querystring": req.query_args(),
            "headers": headers,
            "size": ctx.bytes_in,
        },
        "upstream_uri": (req.upstream_path or req.path) + (f"?{req.query}" if req.query else ""),
        "response": {"status": resp.status, "headers": resp.headers.to_dict(),
                     "size": ctx.bytes_out},
        "latencies": {
            "kong": ctx.proxy_latency_ms if ctx.proxy_latency_ms is not None else request_ms,
            "proxy": upstream if upstream is not None else -1,
            "request": request_ms,
        },
        "tries": [{"ip": ctx.upstream_target.rsplit(":", 1)[0],
                   "port": int(ctx.upstream_target.rsplit(":", 1)[1])}]
        if ctx.upstream_target and ":" in ctx.upstream_target else [],
        "client_ip": req.client_ip,
        "started_at": int(ctx.started_at * 1000),
        "source": "upstream" if resp.source == "service" else "kong",
        "workspace": "default",
        "workspace_name": "default",
    }
    if ctx.consumer is not None:
        c = ctx.consumer
        out["consumer"] = {"id": consumer_id(c), "username": c.username,
                           "custom_id": c.custom_id, "tags": list(c.tags)}
        if ctx.credential is not None:
            out["authenticated_entity"] = {"id": entity_id("jwt_secrets", ctx.credential, None),
                                           "consumer_id": consumer_id(c)}
    out.update(ctx.serialize)
    return out


class _Sink:
    """One append-mode file per path per process; buffered, flushed per loop turn."""

    def __init__(self, path: Path, reopen: bool) -> None:
        self.path, self.reopen = path, reopen
        self.file: IO[str] | None = None
        self.inode: int | None = None
        self.scheduled = False
        self.lines: list[str] = []

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        self.inode = os.fstat(f.fileno()).st_ino
        return f

    def write(self, line: str) -> None:
        self.lines.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        if not self.lines:
            return
        if self.file is not None and self.reopen:
            try:
                moved = os.stat(self.path).st_ino != self.inode
            except FileNotFoundError:
                moved = True
            if moved:
                self.file.close()
                self.file = None
        if self.file is None:
            self.file = self._open()
        self.file.write("".join(self.lines))
        self.file.flush()
        self.lines.clear()

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
            self.file = None


_SINKS: dict[Path, _Sink] = {}


class FileLogPlugin(Plugin):
    name = "file-log"
    priority = PLUGIN_PRIORITIES["file-log"]
    config: FileLogConfig

    def __init__(self, config: FileLogConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        map_path = getattr(runtime, "map_path", None)
        self.path = Path(map_path(config.path)) if callable(map_path) else \
            Path(runtime.log_dir) / Path(config.path).name
        sink = _SINKS.get(self.path)
        if sink is None:
            sink = _SINKS[self.path] = _Sink(self.path, config.reopen)
        self.sink = sink

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        self.sink.write(serialize_line(req, resp, ctx))
