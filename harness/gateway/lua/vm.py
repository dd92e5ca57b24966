"""The process's LuaJIT VM (lupa) with the Kong PDK subset, and its Python side.

`LuaVM.instance(runtime, consumer_id)` is built once per process: it loads pdk.lua with the
Python callables below (header access, consumers, kong.cache store, logging,
base64, JSON) and drives plugin phases as Lua coroutines (see
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lupa.luajit21 as lupa

from harness.gateway.plugin_api import Ctx, Request
from harness.model import Consumer

__all__ = ["LuaVM", "lua_log"]

lua_log = logging.getLogger("harness.gateway.lua")
_PDK = Path(__file__).with_name("pdk.lua")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


@dataclass
class _Entry:
    value: Any
    expires: float  # monotonic; inf = never


@dataclass
class LuaCache:
    """kong.cache for Lua plugins: TTL / negative TTL, concurrent misses coalesced."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    pending: dict[str, asyncio.Future[tuple[Any, Any]]] = field(default_factory=dict)
    max_entries: int = 10000

    def lookup(self, key: str) -> tuple[int, Any]:
        """(1, value) hit; (2, None) another loader runs; (0, None) miss, caller loads."""
        e = self.entries.get(key)
        if e is not None:
            if e.expires > time.monotonic():
                return 1, e.value
            del self.entries[key]
        if key in self.pending:
            return 2, None
        self.pending[key] = asyncio.get_running_loop().create_future()
        return 0, None

    def finish(self, key: str, value: Any, err: Any, ttl: Any, neg_ttl: Any) -> None:
        if err is None:
            chosen = ttl if value is not None else neg_ttl
            seconds = float(chosen) if isinstance(chosen, (int, float)) else 30.0
            if len(self.entries) >= self.max_entries:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = _Entry(value, time.monotonic() + seconds if seconds > 0
                                       else float("inf"))
        fut = self.pending.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result((value, err))

    def abandon(self, key: str) -> None:
        fut = self.pending.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result((None, "cache loader aborted"))


class LuaVM:
    """One LuaJIT state per process, shared by every Lua plugin."""

    _instance: LuaVM | None = None

    @classmethod
    def instance(cls, runtime: Any, consumer_id: Callable[[Consumer], str]) -> LuaVM:
        if cls._instance is None or cls._instance.runtime is not runtime:
            cls._instance = cls(runtime, consumer_id)
        return cls._instance

    def __init__(self, runtime: Any, consumer_id: Callable[[Consumer], str]) -> None:
        self.runtime = runtime
        self.lua = lupa.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        self.cache = LuaCache()
        self.requests: dict[int, tuple[Request, Ctx]] = {}
        self.cache_owner: dict[str, int] = {}
        self._handles = itertools.count(1)
        self._consumers: dict[str, Any] = {}
        self._consumers_by_name: dict[str, Any] = {}
        for c in runtime.gateway.kong.consumers:
            table = self.lua.table_from({"id": consumer_id(c), "username": c.username,
                                         **({"custom_id": c.custom_id} if c.custom_id else {})})
            self._consumers[consumer_id(c)] = table
            self._consumers_by_name[c.username] = table
        py = self.lua.table_from({
            "get_headers": self._get_headers,
            "get_header": self._get_header,
            "load_consumer": self._load_consumer,
            "cache_get": self._cache_get,
            "cache_finish": self._cache_finish,
            "log": self._log,
            "decode_base64": _decode_base64,
            "encode_base64": _encode_base64,
            "now": time.time,
            "time": lambda: int(time.time()),
            "json_decode": self._json_decode,
            "json_encode": self._json_encode,
            "version": getattr(runtime, "version", "3.9.1"),
        })
        loader = self.lua.execute(f"return loadstring(...)", _PDK.read_text(), "@" + str(_PDK))
        self.api = loader(py)
        self.null = self.api["null"]
        self.run_phase = self.api["run_phase"]
        self.new_state = self.api["new_state"]
        self.credential_table = self.api["credential_table"]
        self._lua_type = lupa.lua_type

    # -- request registry ------------------------------------------------
    def register(self, req: Request, ctx: Ctx) -> int:
        handle = next(self._handles)
        self.requests[handle] = (req, ctx)
        return handle

    def release(self, handle: int) -> None:
        self.requests.pop(handle, None)
        for key in [k for k, h in self.cache_owner.items() if h == handle]:
            del self.cache_owner[key]
            self.cache.abandon(key)

    # -- header ops --------------------------------------------------------
    def apply_ops(self, req: Request, ops: str) -> None:
        """Apply queued set/add/clear ops ("op\\0name\\0value" triples) to the request."""
        if not ops:
            return
        f = ops.split("\0")
        headers = req.headers
        clears: set[str] = set()
        for i in range(0, len(f) - 2, 3):
            op, name, value = f[i], f[i + 1], f[i + 2]
            if op == "c":
                clears.add(name.lower())
                continue
            if clears:  # batch consecutive clears into one pass over the headers
                headers._items = [(k, v) for k, v in headers._items if k.lower() not in clears]
                clears = set()
            if op == "s":
                headers.set(name, value)
            else:
                headers.add(name, value)
        if clears:
            headers._items = [(k, v) for k, v in headers._items if k.lower() not in clears]

    def _get_headers(self, handle: int, ops: str, max_headers: int) -> Any:
        req, _ = self.requests[handle]
        self.apply_ops(req, ops)
        out: dict[str, Any] = {}
        for k, v in req.headers.items()[: int(max_headers)]:
            low = k.lower()
            prev = out.get(low)
            out[low] = v if prev is None else ([*prev, v] if isinstance(prev, list) else [prev, v])
        return self.lua.table_from(out, recursive=True)

    def _get_header(self, handle: int, ops: str, name: str) -> str | None:
        req, _ = self.requests[handle]
        self.apply_ops(req, ops)
        return req.headers.get(str(name))

    def _load_consumer(self, ident: Any, by_username: bool) -> Any:
        key = str(ident)
        found = self._consumers.get(key)
        if found is None and by_username:
            found = self._consumers_by_name.get(key)
        return found

    # -- kong.cache --------------------------------------------------------
    def _cache_get(self, key: str) -> tuple[int, Any]:
        code, value = self.cache.lookup(key)
        if code == 0:
            self.cache_owner[key] = self._current_handle
        return code, value

    def _cache_finish(self, key: str, value: Any, err: Any, ttl: Any, neg_ttl: Any) -> None:
        self.cache_owner.pop(key, None)
        self.cache.finish(key, value, err, ttl, neg_ttl)

    _current_handle = 0

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
