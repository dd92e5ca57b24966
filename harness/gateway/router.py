"""Kong's `traditional_compatible` router (kong-behaviour.md §1.3, §1.4).

Each route is split per path group (all regex paths together; plain paths
grouped by length) and each piece gets Kong's ATC priority; pieces are tried
highest priority first, ties broken by the higher route UUID.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.model import RouteView

__all__ = ["Match", "Router", "route_uuid"]

# Namespace for the ids of routes that kong.yml gives no `id` (only used to
# break priority ties deterministically, as Kong's UUID order does).
_NS = uuid.UUID("fd02801f-0957-4a15-a2d2-b1f4e8cf1b69")
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def route_uuid(view: RouteView) -> str:
    return view.route.id or str(uuid.uuid5(_NS, f"route:{view.route.name}"))


@dataclass(frozen=True)
class Match:
    view: RouteView
    prefix: str                  # the text the route's path matched ("" for no paths)
    captures: dict[str, str] = field(default_factory=dict)


@dataclass
class _Host:
    exact: str | None = None
    suffix: str | None = None    # "*.x.com" -> ".x.com"
    prefix: str | None = None    # "x.*" -> "x."
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.exact is not None:
            return host == self.exact
        if self.suffix is not None:
            return host.endswith(self.suffix) and len(host) > len(self.suffix)
        assert self.prefix is not None
        return host.startswith(self.prefix) and len(host) > len(self.prefix)


def _parse_host(spec: str) -> _Host:
    spec = spec.lower()
    port: int | None = None
    if spec.count(":") == 1:
        spec, p = spec.split(":")
        port = int(p)
    if spec.startswith("*."):
        return _Host(suffix=spec[1:], port=port)
    if spec.endswith(".*"):
        return _Host(prefix=spec[:-1], port=port)
    return _Host(exact=spec, port=port)


@dataclass
class _Entry:
    view: RouteView
    priority: tuple[int, ...]
    uid: str
    methods: frozenset[str]
    hosts: list[_Host]
    exact_hosts: frozenset[str]          # fast path when every host is exact
    plain: tuple[str, ...] = ()
    regexes: tuple[re.Pattern[str], ...] = ()

    def match(self, method: str, host: str, port: int, path: str) -> Match | None:
        if self.methods and method not in self.methods:
            return None
        if self.hosts and host not in self.exact_hosts:
            if not any(h.matches(host, port) for h in self.hosts):
                return None
        if self.regexes:
            for rx in self.regexes:
                m = rx.match(path)
                if m is not None:
                    caps = {k: v for k, v in m.groupdict().items() if v is not None}
                    return Match(self.view, m.group(0), caps)
            return None
        if self.plain:
            for p in self.plain:
                if path.startswith(p):
                    return Match(self.view, p)
            return None
        return Match(self.view, "")


def _entries(view: RouteView) -> list[_Entry]:
    r = view.route
    hosts = [_parse_host(h) for h in r.hosts]
    exact = frozenset(h.exact for h in hosts if h.exact is not None and h.port is None)
    plain_hosts_only = 1 if hosts and all(h.exact is not None for h in hosts) else 0
    weight = sum(1 for f in (r.methods, r.hosts, r.paths) if f)
    uid = route_uuid(view)
    common = dict(view=view, uid=uid, methods=frozenset(r.methods), hosts=hosts,
                  exact_hosts=exact)
    regex_paths = [p[1:] for p in r.paths if p.startswith("~")]
    plain_paths = [p for p in r.paths if not p.startswith("~")]
    out: list[_Entry] = []
    if regex_paths:
        compiled = tuple(re.compile(_NAMED_GROUP.sub("(?P<", p)) for p in regex_paths)
        out.append(_Entry(priority=(weight, plain_hosts_only, 0, 1, r.regex_priority, 0),
                          regexes=compiled, **common))  # type: ignore[arg-type]
    by_len: dict[int, list[str]] = {}
    for p in plain_paths:
        by_len.setdefault(len(p), []).append(p)
    for length, group in by_len.items():
        out.append(_Entry(priority=(weight, plain_hosts_only, 0, 0, 0, length),
                          plain=tuple(group), **common))  # type: ignore[arg-type]
    if not r.paths:
        out.append(_Entry(priority=(weight, plain_hosts_only, 0, 0, 0, 0),
                          **common))  # type: ignore[arg-type]
    return out


class Router:
    """Matches (method, host, port, normalized path) to a route, as Kong does."""

    def __init__(self, views: Sequence[RouteView]) -> None:
        entries = [e for v in views for e in _entries(v)]
        entries.sort(key=lambda e: (e.priority, e.uid), reverse=True)
        self._entries = entries
        self._cache: dict[tuple[str, str, int, str], Match | None] = {}

    def match(self, method: str, host: str, port: int, path: str) -> Match | None:
        key = (method, host, port, path)
        hit = self._cache.get(key, self)
        if hit is not self:
            return hit  # type: ignore[return-value]
        found: Match | None = None
        for e in self._entries:
            found = e.match(method, host, port, path)
            if found is not None:
                break
        if len(self._cache) > 4096:
            # Bounded LRU-ish cache: hostile clients can send unbounded path variety.
            self._cache.clear()
        self._cache[key] = found
        return found

    def describe(self) -> list[tuple[str, tuple[int, ...]]]:
        """(route name, priority) in match order, for tests and debugging."""
        return [(e.view.name, e.priority) for e in self._entries]
