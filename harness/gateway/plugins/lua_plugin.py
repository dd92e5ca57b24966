"""Generic Lua plugin: kong/custom-plugins/<name>/handler.lua run unchanged.

`lua_plugin(name)` makes a `Plugin` subclass for the REGISTRY. Each instance
loads handler.lua once (per process VM) and gets its config as a Lua table
built from the typed model. Every phase runs in a Lua coroutine; a yielded
I/O request (resty.http, kong.cache wait) is awaited here and the coroutine
resumed with the result. A Lua error is logged with its traceback and raised
as PluginCrash (Kong: 500 `An unexpected error occurred`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from mypy_extensions import mypyc_attr

from harness.errors import ConfigError
from harness.gateway.lua.http_client import HttpError, request_uri
from harness.gateway.lua.vm import LuaVM, joined_headers, lua_log
from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request, Response
from harness.gateway.plugins._kong import PluginCrash, consumer_id, entity_id, kong_exit
from harness.model.plugins import PLUGIN_PRIORITIES

__all__ = ["LuaPlugin", "lua_plugin"]

_PHASES = ("access", "header_filter", "log")
_UNSUPPORTED = ("init_worker", "configure", "certificate", "rewrite", "response",
                "body_filter", "preread")


@mypyc_attr(allow_interpreted_subclasses=True)   # lua_plugin() subclasses it per plugin
class LuaPlugin(Plugin):
    name: ClassVar[str]
    priority: ClassVar[int]

    def __init__(self, config: Any, runtime: Any) -> None:
        super().__init__(config, runtime)
        self.directory = Path(runtime.gateway.kong_file).resolve().parents[1] / \
            "custom-plugins" / self.name
        handler_path = self.directory / "handler.lua"
        where = str(handler_path)
        try:
            source = handler_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(where, "", f"the Lua handler of plugin {self.name}",
                              exc.strerror or str(exc)) from None
        self.vm = LuaVM.instance(runtime, consumer_id)
        try:
            self.handler = self.vm.api["load_handler"](source, "@" + where)
        except Exception as exc:  # LuaError: syntax or load-time error
            raise ConfigError(where, "", "a loadable Lua plugin", str(exc)) from None
        declared = self.handler["PRIORITY"]
        if declared != self.priority:
            raise ConfigError(where, "PRIORITY", f"{self.priority} (harness.model.plugins."
                              "PLUGIN_PRIORITIES)", declared)
        for phase in _UNSUPPORTED:
            if self.handler[phase] is not None:
                raise ConfigError(where, phase, "only the phases access, header_filter, log "
                                  "(the reference gateway runs no other)", "a handler")
        self.phases = {p for p in _PHASES if self.handler[p] is not None}
        data = config.model_dump(by_alias=True) if hasattr(config, "model_dump") else config
        self.conf = self.vm.to_lua(data)

    # -- phases --------------------------------------------------------------
    async def access(self, req: Request, ctx: Ctx) -> None:
        if "access" in self.phases:
            await self._run("access", req, ctx)

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        if "header_filter" in self.phases:
            self._run_sync("header_filter", req, ctx)

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        if "log" in self.phases:
            self._run_sync("log", req, ctx)

    def _start(self, phase: str, req: Request, ctx: Ctx) -> tuple[int, tuple[Any, ...]]:
        vm = self.vm
        handle = vm.register(req, ctx)
        rname = rid = sname = sid = None
        view = ctx.route
        if view is not None:
            ids = _IDS.get(id(view))
            if ids is None or ids[0] is not view:
                r, s = view.route, view.service
                ids = _IDS[id(view)] = (view, entity_id("routes", r.name, r.id),
                                        entity_id("services", s.name, s.id))
            rname, rid, sname, sid = view.route.name, ids[1], view.service.name, ids[2]
        cred = ctx.credential
        shared = [x for k, v in ctx.shared.items() if isinstance(v, (str, int, float, bool))
                  for x in (k, v)]
        mine = ctx.plugin.get(self.name)
        plugin_tbl = mine.get("__lua__") if mine is not None else None  # None: Lua makes it
        result = vm.start(self.handler, phase, self.conf, handle, self.name, time.time(),
                          req.method, req.scheme, req.host, req.port, req.path, req.query,
                          req.client_ip, rname, rid, sname, sid,
                          ctx.consumer.username if ctx.consumer else None, cred,
                          _credential_id(cred) if cred else None,
                          *_joined_headers(req), plugin_tbl, *shared)
        return handle, result

    async def _run(self, phase: str, req: Request, ctx: Ctx) -> None:
        vm = self.vm
        handle, result = self._start(phase, req, ctx)
        finished = False
        try:
            for _ in range(1000):  # bounded: a handler does a few I/O steps at most
                if result[0] != "yield":
                    break
                reply = await self._serve(result[2])
                result = vm.resume(result[1], reply)
            else:
                raise PluginCrash(f"{self.name}: too many I/O steps in {phase}")
            finished = True
            self._finish(phase, result, req, ctx)
        finally:
            vm.release(handle, finished)

    def _run_sync(self, phase: str, req: Request, ctx: Ctx) -> None:
        handle, result = self._start(phase, req, ctx)
        finished = result[0] != "yield"
        try:
            if not finished:
                raise PluginCrash(f"{self.name}: {result[2]['op']} (I/O) is not allowed in "
                                  f"{phase}, as in Kong (no cosockets in header_filter/log)")
            self._finish(phase, result, req, ctx)
        finally:
            self.vm.release(handle, finished)

    async def _serve(self, value: Any) -> Any:
        vm = self.vm
        op = value["op"]
        if op == "http":
            headers = value["headers"]
            hdrs = {str(k): str(v) for k, v in headers.items()} if headers is not None else {}
            body = value["body"]
            try:
                status, rh, rbody = await request_uri(
                    str(value["uri"]), method=str(value["method"]), headers=hdrs,
                    body=body.encode() if isinstance(body, str) else body,
                    timeout_ms=float(value["timeout"]), resolve=self.runtime.resolve)
            except HttpError as exc:
                return vm.lua.table_from({"err": str(exc)})
            return vm.lua.table_from({"status": status, "body": rbody,
                                      "headers": vm.lua.table_from(rh, recursive=True)})
        if op == "cache_wait":
            return await vm.cache_wait(str(value["key"]))
        raise PluginCrash(f"{self.name}: unknown Lua bridge request {op!r}")

    def _finish(self, phase: str, result: tuple[Any, ...], req: Request, ctx: Ctx) -> None:
        (kind, ops, authenticated, username, cred_key, serialize, shared, status, body,
         headers, err, new_plugin) = result
        vm = self.vm
        if new_plugin is not None:
            ctx.plugin.setdefault(self.name, {})["__lua__"] = new_plugin
        vm.apply_ops(req, ops)
        if shared is not None:
            now = {str(k): v for k, v in shared.items()}
            for k in [k for k, v in ctx.shared.items()
                      if isinstance(v, (str, int, float, bool)) and k not in now]:
                del ctx.shared[k]   # set to nil in Lua
            for k, v in now.items():
                if isinstance(v, (str, int, float, bool)):
                    ctx.shared[k] = v
        if authenticated:
            ctx.consumer = ctx.gateway.consumers.get(str(username)) if username else None
            ctx.credential = str(cred_key) if cred_key else None
        if isinstance(serialize, str):   # the usual case: JSON text made in Lua
            ctx.serialize.update(orjson.loads(serialize))
        elif serialize is not None:
            for k, v in serialize.items():
                ctx.serialize[str(k)] = vm.to_py(v)
        if kind == "error":
            lua_log.error("[%s] %s phase failed: %s", self.name, phase, err)
            raise PluginCrash(f"{self.name}: Lua error in {phase}")
        if kind == "exit":
            hdrs = [(str(k), str(v)) for k, v in headers.items()] if headers is not None else []
            if body is None:
                raise Exit(int(status), b"", hdrs)
            if isinstance(body, (str, bytes)):
                raise Exit(int(status), body.encode() if isinstance(body, str) else body, hdrs)
            raise kong_exit(int(status), vm.to_py(body), hdrs)


def _joined_headers(req: Request) -> tuple[int, str | None, str | None]:
    """The request headers for pdk.lua's get_headers: count, then lower-case names and
    values each joined by NUL (None, None when a value holds a NUL: pdk.lua then asks
    Python, which answers pairwise)."""
    h = req.headers
    return (len(h._items), *joined_headers(h._items, h._low))


_IDS: dict[int, tuple[Any, str, str]] = {}
_CRED_IDS: dict[str, str] = {}


def _credential_id(key: str) -> str:
    got = _CRED_IDS.get(key)
    if got is None:
        if len(_CRED_IDS) > 10000:
            _CRED_IDS.clear()
        got = _CRED_IDS[key] = entity_id("jwt_secrets", key, None)
    return got


def lua_plugin(name: str, priority: int | None = None) -> type[LuaPlugin]:
    """A Plugin subclass running kong/custom-plugins/<name>/handler.lua."""
    prio = priority if priority is not None else PLUGIN_PRIORITIES[name]
    cls_name = "LuaPlugin_" + "".join(c if c.isalnum() else "_" for c in name)
    return type(cls_name, (LuaPlugin,), {"name": name, "priority": prio})
