"""The process's LuaJIT VM (lupa) with the Kong PDK subset, and its Python side.

`LuaVM.instance(runtime, consumer_id)` is built once per process: it loads runner.lua (request
state, the coroutines that run phases) and pdk.lua (the kong.* tables, ngx, cjson, resty.http)
into one Lua state, giving pdk.lua the Python callables below (header access, kong.cache
waiters, logging, base64, JSON), and drives plugin phases as Lua coroutines (see
harness.gateway.plugins.lua_plugin). Conversions between Lua tables and Python values
happen only where a value crosses: JSON bodies, exit bodies, serialize values.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lupa.luajit21 as lupa  # type: ignore[import-untyped]

from harness.gateway.plugin_api import Ctx, Request
from harness.model import Consumer

__all__ = ["LuaVM", "joined_headers", "lua_log"]

lua_log = logging.getLogger("harness.gateway.lua")
_RUNNER = Path(__file__).with_name("runner.lua")
_PDK = Path(__file__).with_name("pdk.lua")
_VMS: list[LuaVM] = []
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


class LuaVM:
    """One LuaJIT state per process, shared by every Lua plugin."""

    @classmethod
    def instance(cls, runtime: Any, consumer_id: Callable[[Consumer], str]) -> LuaVM:
        for vm in _VMS:
            if vm.runtime is runtime:
                return vm
        vm = cls(runtime, consumer_id)
        # Never freed: dropping a LuaRuntime while Lua objects may still be referenced
        # from Python can crash lupa; a process has one runtime (tests: a few).
        _VMS.append(vm)
        return vm

    def __init__(self, runtime: Any, consumer_id: Callable[[Consumer], str]) -> None:
        self.runtime = runtime
        self.lua = lupa.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        self.requests: dict[int, tuple[Request, Ctx]] = {}
        # kong.cache waiters: key -> future resolved with the loader's error (or None)
        self.waiters: dict[str, asyncio.Future[Any]] = {}
        self._handles = itertools.count(1)
        py = self.lua.table_from({
            "get_headers": self._get_headers,
            "get_header": self._get_header,
            "cache_done": self._cache_done,
            "log": self._log,
            "decode_base64": _decode_base64,
            "encode_base64": _encode_base64,
            "now": time.time,
            "time": lambda: int(time.time()),
            "json_decode": self._json_decode,
            "json_encode": self._json_encode,
            "version": getattr(runtime, "version", "3.9.1"),
        })
        # One Lua state: the runner's request state and sentinels are handed to pdk.lua as
        # chunk arguments (its hot functions keep them as local upvalues).
        self.api, shared = self._chunk(_RUNNER)()
        pdk = self._chunk(_PDK)(py, shared)
        self.api["load_handler"] = pdk["load_handler"]
        self.null = self.api["null"]
        self.start = self.api["start"]
        self.resume = self.api["resume"]
        self.new_table = self.api["new_table"]
        self._lua_type = lupa.lua_type
        for c in runtime.gateway.kong.consumers:
            self.api["add_consumer"](consumer_id(c), c.username, c.custom_id)

    def _chunk(self, path: Path) -> Any:
        return self.lua.execute("return loadstring(...)", path.read_text(), "@" + str(path))

    # -- request registry ------------------------------------------------
    def register(self, req: Request, ctx: Ctx) -> int:
        handle = next(self._handles)
        self.requests[handle] = (req, ctx)
        return handle

    def release(self, handle: int, finished: bool) -> None:
        self.requests.pop(handle, None)
        if not finished:  # abandoned mid-I/O: free the cache keys it was loading
            keys = self.api["abandon"](handle)
            for key in keys.split("\0") if keys else ():
                self._cache_done(key, "cache loader aborted")

    def cache_wait(self, key: str) -> asyncio.Future[Any]:
        fut = self.waiters.get(key)
        if fut is None:
            fut = self.waiters[key] = asyncio.get_running_loop().create_future()
        return fut

    def _cache_done(self, key: str, err: Any) -> None:
        fut = self.waiters.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(err)

    # -- header ops --------------------------------------------------------
    def apply_ops(self, req: Request, ops: str) -> None:
        """Apply queued ops ("op\\0name\\0value" triples: set/add/clear) to the request."""
        if not ops:
            return
        f = ops.split("\0")
        headers = req.headers
        for i in range(0, len(f) - 2, 3):
            op, name = f[i], f[i + 1]
            if op == "c":   # runner.lua already dropped clears of names known to be absent
                headers.remove(name)
            elif op == "s":
                headers.set(name, f[i + 2])
            else:
                headers.add(name, f[i + 2])

    def _get_headers(self, handle: int, ops: str, max_headers: int) -> tuple[Any, ...]:
        """Whether every header is in the answer (not cut at the limit), then the
        lower-case names and the values, each joined by NUL (pdk.lua builds the table)."""
        req, _ = self.requests[handle]
        if ops:
            self.apply_ops(req, ops)
        h = req.headers
        items, lows = h._items, h._low
        limit = int(max_headers)
        complete = len(items) <= limit
        if not complete:
            items, lows = items[:limit], lows[:limit]
        names, values = joined_headers(items, lows)
        if names is not None:
            return complete, names, values
        # A value with a NUL in it (only a plugin could have set one): pairs instead.
        return ("flat", complete, *[x for low, (_, v) in zip(lows, items) for x in (low, v)])

    def _get_header(self, handle: int, ops: str, name: str) -> str | None:
        req, _ = self.requests[handle]
        self.apply_ops(req, ops)
        return req.headers.get(str(name))

    # -- misc --------------------------------------------------------------
    def _log(self, level: str, plugin: str, message: str) -> None:
        lua_log.log(_LEVELS.get(level, logging.INFO), "[%s] %s", plugin, message)

    def _json_decode(self, text: str) -> tuple[Any, Any]:
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            return None, f"Expected value but found invalid token: {exc}"
        return self.to_lua(value), None

    def _json_encode(self, value: Any) -> tuple[Any, Any]:
        try:
            return json.dumps(self.to_py(value), separators=(",", ":"),
                              ensure_ascii=False).replace("/", "\\/"), None
        except (TypeError, ValueError) as exc:
            return None, f"Cannot serialise: {exc}"

    def to_lua(self, value: Any) -> Any:
        if value is None:
            return self.null
        if isinstance(value, dict):
            return self.lua.table_from({k: self.to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return self.lua.table_from([self.to_lua(v) for v in value])
        return value

    def to_py(self, value: Any, depth: int = 0) -> Any:
        """A Lua value as JSON-able Python: arrays (keys 1..n) become lists."""
        if depth > 100:
            raise ValueError("nested too deeply")
        if self._lua_type(value) == "table":
            items = list(value.items())
            n = len(items)
            if n and all(isinstance(k, int) for k, _ in items) and \
                    sorted(k for k, _ in items) == list(range(1, n + 1)):
                return [self.to_py(v, depth + 1) for _, v in sorted(items)]
            if n == 0:
                return {}
            return {str(k): self.to_py(v, depth + 1) for k, v in items}
        if self._lua_type(value) == "userdata" and value == self.null:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def joined_headers(items: list[tuple[str, str]], lows: list[str]
                   ) -> tuple[str, str] | tuple[None, None]:
    """Lower-case names and values, each joined by NUL, the form pdk.lua's get_headers
    splits; (None, None) when a value holds a NUL itself."""
    values = "\0".join([v for _, v in items])
    if items and values.count("\0") != len(items) - 1:
        return None, None
    return "\0".join(lows), values


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _decode_base64(s: Any) -> bytes | None:
    if not isinstance(s, (str, bytes)):
        return None
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def _encode_base64(s: Any, no_padding: bool) -> str:
    raw = s if isinstance(s, bytes) else str(s).encode()
    out = base64.b64encode(raw).decode()
    return out.rstrip("=") if no_padding else out
