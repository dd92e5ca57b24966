"""Kong's file-log plugin (priority 9, log phase): one JSON line per request in the
shape of Kong's basic log serializer (kong/pdk/log.lua `serialize`).

Deviation (documented in docs/reference-gateway.md): the configured absolute
path is placed under runtime.log_dir, keeping its file name
(`/var/log/kong/access.json.log` -> `<log_dir>/access.json.log`).

Cost: the log phase only snapshots the request (references plus the clock);
the lines are encoded with orjson and written once per event-loop turn, still
after the response went out, as Kong's log phase. The batch of whole lines
goes to the file in one write(2) on an O_APPEND descriptor, so gateway
replicas appending to one file never interleave parts of lines. With
`reopen` the file is reopened when it was moved or deleted (log rotation),
which is what Kong's reopen-per-write achieves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.gateway.plugins._kong import consumer_id, entity_id
from harness.model.plugins import PLUGIN_PRIORITIES, FileLogConfig

__all__ = ["FileLogPlugin", "serialize", "serialize_line"]

log = logging.getLogger("harness.gateway.plugins.file_log")
_REDACTED = ("authorization", "proxy-authorization")
_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE

_Entities = tuple[Any, dict[str, Any], dict[str, Any], orjson.Fragment, orjson.Fragment]
# id(route view) -> (view, route entity, service entity, the two pre-encoded)
_ENTITIES: dict[int, _Entities] = {}


def _entities(ctx: Ctx) -> _Entities | None:
    """Route and service entities as Kong serializes them (built and encoded once per route)."""
    view = ctx.route
    if view is None:
        return None
    got = _ENTITIES.get(id(view))
    if got is not None and got[0] is view:
        return got
    r, s = view.route, view.service
    sid = entity_id("services", s.name, s.id)
    route = r.model_dump(exclude={"plugins", "service"})
    route.update(id=entity_id("routes", r.name, r.id), service={"id": sid}, ws_id="default")
    service = s.model_dump(exclude={"plugins", "routes"})
    service.update(id=sid, ws_id="default")
    got = _ENTITIES[id(view)] = (
        view, route, service,
        orjson.Fragment(json.dumps(route, separators=(",", ":"), default=str)),
        orjson.Fragment(json.dumps(service, separators=(",", ":"), default=str)))
    return got


def serialize(req: Request, resp: Response, ctx: Ctx) -> dict[str, Any]:
    """Kong's basic serializer fields, plus kong.log.set_serialize_value entries."""
    out = _serialize(req, resp, ctx, time.time())
    got = _entities(ctx)
    if got is not None:
        out["route"], out["service"] = got[1], got[2]
    return out


def serialize_line(req: Request, resp: Response, ctx: Ctx) -> bytes:
    """serialize() as one JSON line (UTF-8, ending in a newline)."""
    return _encode(req, resp, ctx, time.time())


# Keys of the line that are the same for every request of one (route, consumer,
# credential): encoded once, appended to the per-request part as JSON text.
_STATIC_KEYS = frozenset({"consumer", "authenticated_entity", "workspace", "workspace_name",
                          "route", "service"})
_TAILS: dict[tuple[int, str | None, str | None], tuple[Any, bytes]] = {}


def _tail(ctx: Ctx) -> bytes | None:
    """`,"consumer":…,"route":…,"service":…}\n` for this request, or None (no route)."""
    view = ctx.route
    if view is None:
        return None
    c = ctx.consumer
    key = (id(view), c.username if c is not None else None, ctx.credential)
    got = _TAILS.get(key)
    if got is not None and got[0] is view:
        return got[1]
    static: dict[str, Any] = {"workspace": "default", "workspace_name": "default"}
    _consumer_fields(static, ctx)
    ents = _entities(ctx)
    assert ents is not None
    static["route"], static["service"] = ents[3], ents[4]
    tail = b"," + orjson.dumps(static)[1:] + b"\n"
    if len(_TAILS) >= 4096:   # bounded: credentials come from kong.yml, but be safe
        _TAILS.clear()
    _TAILS[key] = (view, tail)
    return tail


def _encode(req: Request, resp: Response, ctx: Ctx, now: float) -> bytes:
    tail = _tail(ctx)
    if tail is not None and not (ctx.serialize and _STATIC_KEYS.intersection(ctx.serialize)):
        try:
            head = orjson.dumps(_serialize(req, resp, ctx, now, static=False), default=str)
            return head[:-1] + tail
        except (TypeError, orjson.JSONEncodeError):
            pass   # the full path below falls back to the standard encoder
    out = _serialize(req, resp, ctx, now)
    got = _entities(ctx)
    if got is not None:
        out["route"], out["service"] = got[3], got[4]
    try:
        return orjson.dumps(out, default=str, option=_OPTS)
    except (TypeError, orjson.JSONEncodeError):
        # What orjson refuses (ints beyond 64 bits, lone surrogates): the stdlib encoder.
        if got is not None:
            out["route"], out["service"] = got[1], got[2]
        return (json.dumps(out, separators=(",", ":"), default=str) + "\n").encode()


def _consumer_fields(out: dict[str, Any], ctx: Ctx) -> None:
    c = ctx.consumer
    if c is not None:
        cid = consumer_id(c)
        out["consumer"] = {"id": cid, "username": c.username,
                           "custom_id": c.custom_id, "tags": list(c.tags)}
        if ctx.credential is not None:
            out["authenticated_entity"] = {"id": entity_id("jwt_secrets", ctx.credential, None),
                                           "consumer_id": cid}


def _serialize(req: Request, resp: Response, ctx: Ctx, now: float,
               static: bool = True) -> dict[str, Any]:
    """The line's fields; `static=False` leaves out workspace, consumer and
    authenticated_entity (see _tail)."""
    headers = req.headers.to_dict()
    for name in _REDACTED:
        if name in headers:
            headers[name] = "REDACTED"
    port = req.port
    query = req.query
    uri = req.raw_path + "?" + query if query else req.raw_path
    host_port = req.host if port == (443 if req.scheme == "https" else 80) \
        else f"{req.host}:{port}"
    started = ctx.started_at
    request_ms = int((now - started) * 1000)
    upstream = ctx.upstream_latency_ms
    proxy = ctx.proxy_latency_ms
    target = ctx.upstream_target
    tries: list[dict[str, Any]] = []
    if target and ":" in target:
        ip, _, tport = target.rpartition(":")
        tries.append({"ip": ip, "port": int(tport)})
    up_path = req.upstream_path or req.path
    out: dict[str, Any] = {
        "request": {
            "method": req.method,
            "uri": uri,
            "url": f"{req.scheme}://{host_port}{uri}",
            "querystring": req.query_args() if query else {},
            "headers": headers,
            "size": ctx.bytes_in,
        },
        "upstream_uri": up_path + "?" + query if query else up_path,
        "response": {"status": resp.status, "headers": resp.headers.to_dict(),
                     "size": ctx.bytes_out},
        "latencies": {
            "kong": proxy if proxy is not None else request_ms,
            "proxy": upstream if upstream is not None else -1,
            "request": request_ms,
        },
        "tries": tries,
        "client_ip": req.client_ip,
        "started_at": int(started * 1000),
        "source": "upstream" if resp.source == "service" else "kong",
    }
    if static:
        out["workspace"] = out["workspace_name"] = "default"
        _consumer_fields(out, ctx)
    if ctx.serialize:
        out.update(ctx.serialize)
    return out


class _Sink:
    """One O_APPEND descriptor per path per process; lines encoded and written per loop turn."""

    def __init__(self, path: Path, reopen: bool) -> None:
        self.path, self.reopen = path, reopen
        self.fd: int | None = None
        self.inode: int | None = None
        self.scheduled = False
        self.pending: list[tuple[Request, Response, Ctx, float]] = []

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.inode = os.fstat(fd).st_ino
        return fd

    def write(self, req: Request, resp: Response, ctx: Ctx) -> None:
        # A snapshot by reference: after the log phase nothing changes these objects.
        self.pending.append((req, resp, ctx, time.time()))
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
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        lines = []
        for p in pending:
            try:
                lines.append(_encode(*p))
            except Exception:  # one bad entry costs its line only (Kong logs the error)
                log.exception("file-log: cannot serialize a request")
        data = b"".join(lines)
        if self.fd is not None and self.reopen:
            try:
                moved = os.stat(self.path).st_ino != self.inode
            except FileNotFoundError:
                moved = True
            if moved:
                os.close(self.fd)
                self.fd = None
        if self.fd is None:
            self.fd = self._open()
        view = memoryview(data)
        for _ in range(64):  # a regular file takes it all at once; bounded all the same
            n = os.write(self.fd, view)
            if n >= len(view):
                break
            view = view[n:]

    def close(self) -> None:
        self.flush()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


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
        self.sink.write(req, resp, ctx)
