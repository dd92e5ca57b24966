"""Kong's request-transformer plugin (priority 801): kong-behaviour.md §6.

Header and querystring operations in Kong's order remove -> rename -> replace ->
add -> append; http_method and replace.uri. Body operations are refused at
construction (ConfigError naming the field).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from harness.gateway.plugin_api import Ctx, Plugin, Request
from harness.gateway.plugins._transform import Template, parse_items, refuse_non_empty
from harness.model.plugins import PLUGIN_PRIORITIES, RequestTransformerConfig

__all__ = ["RequestTransformerPlugin"]

_F = "plugins.request-transformer.config"


class RequestTransformerPlugin(Plugin):
    name = "request-transformer"
    priority = PLUGIN_PRIORITIES["request-transformer"]
    config: RequestTransformerConfig

    def __init__(self, config: RequestTransformerConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        c = config
        refuse_non_empty(self.name, {f"{op}.body": getattr(c, op).body
                                     for op in ("remove", "rename", "replace", "add", "append")})
        self.h_remove = [n for n, _ in parse_items(c.remove.headers, f"{_F}.remove.headers",
                                                   pairs=False)]
        self.h_rename = parse_items(c.rename.headers, f"{_F}.rename.headers")
        self.h_replace = parse_items(c.replace.headers, f"{_F}.replace.headers")
        self.h_add = parse_items(c.add.headers, f"{_F}.add.headers")
        self.h_append = parse_items(c.append.headers, f"{_F}.append.headers")
        self.q_remove = list(c.remove.querystring)
        self.q_rename = parse_items(c.rename.querystring, f"{_F}.rename.querystring")
        self.q_replace = parse_items(c.replace.querystring, f"{_F}.replace.querystring")
        self.q_add = parse_items(c.add.querystring, f"{_F}.add.querystring")
        self.q_append = parse_items(c.append.querystring, f"{_F}.append.querystring")
        self.uri = Template(c.replace.uri, f"{_F}.replace.uri") if c.replace.uri else None
        self.touches_query = any((self.q_remove, self.q_rename, self.q_replace, self.q_add,
                                  self.q_append))

    async def access(self, req: Request, ctx: Ctx) -> None:
        args = req.query_args() if any(t.refs for _, t in self._all()) else {}
        snapshot = {k.lower(): v for k, v in req.headers.items()}

        def lookup(source: str, name: str) -> str | None:
            if source == "headers":
                return snapshot.get(name.lower().replace("_", "-")) or snapshot.get(name.lower())
            v = args.get(name)
            return v[0] if isinstance(v, list) else v

        self._headers(req, lookup)
        if self.touches_query:
            self._query(req, lookup)
        if self.config.http_method:
            req.method = self.config.http_method.upper()
        if self.uri is not None:
            req.upstream_path = self.uri.render(lookup)

    def _all(self) -> list[tuple[str, Template]]:
        return [*self.h_rename, *self.h_replace, *self.h_add, *self.h_append,
                *self.q_rename, *self.q_replace, *self.q_add, *self.q_append]

    def _headers(self, req: Request, lookup: Any) -> None:
        h = req.headers
        for name in self.h_remove:
            h.remove(name)
        for old, new in self.h_rename:
            values = h.get_all(old)
            if values:
                h.remove(old)
                for v in values:
                    h.add(new.text, v)
        for name, tmpl in self.h_replace:
            if name.lower() == "host" or name in h:
                h.set(name, tmpl.render(lookup))
        for name, tmpl in self.h_add:
            if name not in h and name.lower() != "host":
                h.set(name, tmpl.render(lookup))
        for name, tmpl in self.h_append:
            if name.lower() != "host":
                h.add(name, tmpl.render(lookup))

    def _query(self, req: Request, lookup: Any) -> None:
        q: list[tuple[str, str]] = parse_qsl(req.query, keep_blank_values=True)
        q = [(k, v) for k, v in q if k not in self.q_remove]
        for old, new in self.q_rename:
            q = [(new.text if k == old else k, v) for k, v in q]
        for name, tmpl in self.q_replace:
            if any(k == name for k, _ in q):
                q = [(k, v) for k, v in q if k != name] + [(name, tmpl.render(lookup))]
        for name, tmpl in self.q_add:
            if not any(k == name for k, _ in q):
                q.append((name, tmpl.render(lookup)))
        for name, tmpl in self.q_append:
            q.append((name, tmpl.render(lookup)))
        req.query = urlencode(q)
