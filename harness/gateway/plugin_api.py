"""What a plugin of the reference gateway sees and may do.

The data plane (server, router, balancer, proxy) builds one `Request` and one
`Ctx` per request, runs the plugins' phases in Kong's priority order, and
turns an `Exit` into a Kong-generated response. Plugins (bundled ones in
Python, custom ones in Lua through the PDK bridge) only use this module.

Phases, as in Kong (../shared/reference/kong-behaviour.md §8):
    access(req, ctx)                  before proxying; may raise Exit; async
    header_filter(req, resp, ctx)     response headers, before they go out
    log(req, resp, ctx)               after the response was sent
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

# Imported at run time, not only for type checking: a dataclass compiled by mypyc
# (harness build-gateway) resolves its field types when the module loads.
from harness.model import Consumer, Gateway, RouteView

__all__ = ["Ctx", "Exit", "Headers", "Plugin", "Request", "Response"]


class Headers:
    """Case-insensitive, order-keeping, multi-valued HTTP headers (names kept as sent)."""

    # `_low` mirrors `_items` with lower-cased names so lookups run at C speed
    # (list.index / `in`) on the hot path. `dirty`: a value may hold CR or LF (set by
    # a plugin); values from the HTTP parsers never do, so serialising headers that
    # are not dirty needs no scan for them (see wire.header_block).
    __slots__ = ("_items", "_low", "dirty")

    def __init__(self, items: Iterable[tuple[str, str]] = (),
                 _parsed_lows: list[str] | None = None) -> None:
        if _parsed_lows is not None:   # from_parsed: adopt both lists as they are
            self._items: list[tuple[str, str]] = items  # type: ignore[assignment]
            self._low: list[str] = _parsed_lows
            self.dirty = False
            return
        self._items = list(items)
        self._low = [k.lower() for k, _ in self._items]
        self.dirty = True

    @classmethod
    def from_parsed(cls, items: list[tuple[str, str]], lows: list[str]) -> Headers:
        """Adopt already lower-cased names (the data plane's parsers compute them once)."""
        return cls(items, lows)

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        if low in self._low:
            return self._items[self._low.index(low)][1]
        return default

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        if low not in self._low:
            return []
        return [kv[1] for kv, k in zip(self._items, self._low) if k == low]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._low

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` (ngx.req.set_header semantics)."""
        low = name.lower()
        lows = self._low
        if low in lows:   # usually not: plugins mostly set names the client did not send
            self._drop(low)
        self._items.append((name, value))
        lows.append(low)
        if "\r" in value or "\n" in value:
            self.dirty = True

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._low.append(name.lower())
        if "\r" in value or "\n" in value:
            self.dirty = True

    def set_many(self, pairs: list[tuple[str, str]], lows: list[str]) -> None:
        """set() for each pair; `lows` are the pairs' lower-case names, all distinct.
        When none is present yet (the usual case) they are appended in one step."""
        mine = self._low
        for low in lows:
            if low in mine:
                for name, value in pairs:
                    self.set(name, value)
                return
        self._items += pairs
        mine += lows
        for _, value in pairs:
            if "\r" in value or "\n" in value:
                self.dirty = True

    def remove(self, name: str) -> None:
        low = name.lower()
        if low in self._low:
            self._drop(low)

    def _drop(self, low: str) -> None:
        """Delete every entry named `low` (at least one is present)."""
        lows, items = self._low, self._items
        i = lows.index(low)
        while True:
            del lows[i]
            del items[i]
            if low not in lows:
                return
            i = lows.index(low, i)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def names(self) -> list[str]:
        return [k for k, _ in self._items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def to_dict(self) -> dict[str, str | list[str]]:
        """Lower-case names; repeated headers as lists (Kong PDK get_headers shape)."""
        lows = self._low
        fast: dict[str, str | list[str]] = dict(zip(lows, [v for _, v in self._items]))
        if len(fast) == len(lows):   # no repeated name: the usual case
            return fast
        out: dict[str, str | list[str]] = {}
        for (_, v), low in zip(self._items, lows):
            if low in out:
                prev = out[low]
                out[low] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                out[low] = v
        return out

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class Request:
    """The client request as plugins see it. Header changes go to the upstream
    request, and later plugins see them (nginx's request headers are one table)."""

    method: str
    scheme: str              # "http" | "https"
    host: str                # Host header, lower-case, port stripped
    port: int                # the gateway port the client connected to
    path: str                # normalized path, no query string
    raw_path: str            # path as sent by the client (no query)
    query: str               # raw query string without '?', "" when absent
    headers: Headers
    client_ip: str
    http_version: str = "1.1"
    body: bytes | None = None          # set only when a plugin asked for the body
    content_length: int | None = None
    upstream_path: str | None = None   # set by the router (strip_path etc.)
    # The data plane's buffered client body (see read_body); not for plugins.
    body_source: Any = field(default=None, repr=False, compare=False)

    async def read_body(self) -> bytes:
        """ngx.req.read_body() + get_body_data(): the whole client body.

        Waits until the client sent it all (Kong buffers request bodies);
        sends `100 Continue` first when the client asked for it.
        """
        if self.body is None and self.body_source is not None:
            self.body = await self.body_source.read()
        return self.body or b""

    async def body_size(self) -> int:
        """Size of the whole client body without loading it into memory."""
        if self.body is not None:
            return len(self.body)
        if self.body_source is None:
            return 0
        return int(await self.body_source.size())

    def query_args(self) -> dict[str, str | list[str]]:
        from urllib.parse import parse_qsl

        out: dict[str, str | list[str]] = {}
        for k, v in parse_qsl(self.query, keep_blank_values=True):
            prev = out.get(k)
            out[k] = v if prev is None else ([*prev, v] if isinstance(prev, list) else [prev, v])
        return out


@dataclass
class Response:
    status: int
    headers: Headers
    body: bytes | None = None   # None while streaming from the upstream
    source: str = "service"     # "service" (from upstream) or "kong" (gateway-generated)


class Exit(Exception):
    """kong.response.exit / kong.response.error: stop and answer from the gateway.

    `body` is already encoded; use `Exit.json(...)` for Kong's compact JSON
    (kong.response.exit) and `Exit.error(...)` for kong.response.error's
    Accept-negotiated template with request_id.
    """

    def __init__(self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
                 *, error_message: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = Headers(headers)
        self.error_message = error_message  # set => data plane renders Kong's error template

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Exit:
        import json

        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        hdrs = [("Content-Type", "application/json; charset=utf-8"), *headers]
        return cls(status, body, hdrs)

    @classmethod
    def error(cls, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Exit:
        return cls(status, b"", headers, error_message=message)


@dataclass
class Ctx:
    """Per-request state shared by the data plane and the plugins (kong.ctx + ngx.ctx)."""

    gateway: Gateway
    request_id: str
    route: RouteView | None = None
    consumer: Consumer | None = None
    credential: str | None = None          # credential key/identifier
    authenticated_jwt_token: str | None = None
    shared: dict[str, Any] = field(default_factory=dict)     # kong.ctx.shared
    plugin: dict[str, dict[str, Any]] = field(default_factory=dict)  # kong.ctx.plugin per plugin
    serialize: dict[str, Any] = field(default_factory=dict)  # kong.log.set_serialize_value
    started_at: float = field(default_factory=time.time)
    upstream_status: int | None = None
    upstream_latency_ms: int | None = None
    proxy_latency_ms: int | None = None
    upstream_target: str | None = None       # "host:port" of the target that answered
    bytes_in: int = 0
    bytes_out: int = 0
    uri_captures: dict[str, str] = field(default_factory=dict)  # router named groups
    response_source: str | None = None       # "service" | "kong" (prometheus `source`)


@mypyc_attr(allow_interpreted_subclasses=True)   # lua_plugin() makes subclasses at run time
class Plugin:
    """Base class of a plugin instance, built once per (plugin entity, config)."""

    name: ClassVar[str]
    priority: ClassVar[int]

    def __init__(self, config: Any, runtime: Any) -> None:
        # `runtime` gives access to shared services (Redis pool, metrics
        # registry, resolver, Lua VM); see harness.gateway.runtime.
        self.config = config
        self.runtime = runtime
        # The kong.yml plugin entity (and its route/service/consumer) this instance
        # serves; set by the chain that builds it.
        self.scope: Any = None

    async def access(self, req: Request, ctx: Ctx) -> None:
        return None

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        return None

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        return None
