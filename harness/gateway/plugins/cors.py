"""Kong's cors plugin (priority 2000): kong-behaviour.md §6 (cors row)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from harness.gateway.plugin_api import Ctx, Exit, Headers, Plugin, Request, Response
from harness.model.plugins import PLUGIN_PRIORITIES, CorsConfig

__all__ = ["CorsPlugin"]

_MAYBE_REGEX = re.compile(r"[^A-Za-z0-9.:/-]")


def normalize_origin(origin: str) -> str:
    """scheme://host:port with the scheme's default port made explicit."""
    got = _NORMALIZED.get(origin)
    if got is None:
        if len(_NORMALIZED) >= 4096:  # client-chosen strings: keep the memo bounded
            _NORMALIZED.clear()
        got = _NORMALIZED[origin] = _normalize(origin)
    return got


# A browser sends the same few origins on every request; urlsplit costs ~4 µs.
_NORMALIZED: dict[str, str] = {}


def _normalize(origin: str) -> str:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return origin
    host = parts.hostname or ""
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme)
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{host}" + (f":{port}" if port is not None else "")


def _add_vary_origin(headers: Headers) -> None:
    for value in headers.get_all("Vary"):
        if any(t.strip().lower() == "origin" for t in value.split(",")):
            return
    headers.add("Vary", "Origin")


class CorsPlugin(Plugin):
    name = "cors"
    priority = PLUGIN_PRIORITIES["cors"]
    config: CorsConfig

    def __init__(self, config: CorsConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        origins = config.origins or []
        self._allow_all = not origins or (len(origins) == 1 and origins[0] == "*")
        self._matchers: list[tuple[bool, Any]] = []
        for entry in origins:
            if _MAYBE_REGEX.search(entry):
                self._matchers.append((True, re.compile(entry + "$")))
            else:
                self._matchers.append((False, normalize_origin(entry)))
        self._methods = ",".join(config.methods)

    def _origin(self, req: Request, out: Headers) -> bool:
        """configure_origin: True when every origin is allowed ('*')."""
        if self._allow_all:
            out.set("Access-Control-Allow-Origin", "*")
            return True
        _add_vary_origin(out)
        origin = req.headers.get("Origin")
        if origin:
            norm = normalize_origin(origin)
            for is_regex, m in self._matchers:
                if (m.match(origin) if is_regex else norm == m):
                    out.set("Access-Control-Allow-Origin", origin)
                    return False
        out.remove("Access-Control-Allow-Origin")
        return False

    def _credentials(self, req: Request, out: Headers, allow_all: bool) -> None:
        if not self.config.credentials:
            return
        if not allow_all:
            out.set("Access-Control-Allow-Credentials", "true")
            return
        origin = req.headers.get("Origin")
        if origin:  # '*' cannot go with credentials: echo the origin
            _add_vary_origin(out)
            out.set("Access-Control-Allow-Origin", origin)
            out.set("Access-Control-Allow-Credentials", "true")

    async def access(self, req: Request, ctx: Ctx) -> None:
        if (req.method != "OPTIONS" or not req.headers.get("Origin")
                or not req.headers.get("Access-Control-Request-Method")):
            return
        ctx.plugin.setdefault(self.name, {})["skip_response_headers"] = True
        cfg = self.config
        if cfg.preflight_continue:
            return
        out = Headers()
        self._credentials(req, out, self._origin(req, out))
        if cfg.headers:
            out.set("Access-Control-Allow-Headers", ",".join(cfg.headers))
        else:
            acrh = req.headers.get("Access-Control-Request-Headers")
            if acrh:
                out.set("Access-Control-Allow-Headers", acrh)
        out.set("Access-Control-Allow-Methods", self._methods)
        if cfg.max_age is not None:
            out.set("Access-Control-Max-Age", str(cfg.max_age))
        if cfg.private_network and \
                req.headers.get("Access-Control-Request-Private-Network") == "true":
            out.set("Access-Control-Allow-Private-Network", "true")
        raise Exit(200, b"", out.items())

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        if ctx.plugin.get(self.name, {}).get("skip_response_headers"):
            return
        if not self.config.allow_origin_absent and not req.headers.get("Origin"):
            return
        self._credentials(req, resp.headers, self._origin(req, resp.headers))
        if self.config.exposed_headers:
            resp.headers.set("Access-Control-Expose-Headers",
                             ",".join(self.config.exposed_headers))
