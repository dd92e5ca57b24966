"""Kong's response-transformer plugin (priority 800): kong-behaviour.md §6.

Header operations in header_filter, order remove -> rename -> replace -> add ->
append. JSON body operations are refused at construction (ConfigError naming
the field).
"""

from __future__ import annotations

from typing import Any

from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.gateway.plugins._transform import refuse_non_empty, split_pairs
from harness.model.plugins import PLUGIN_PRIORITIES, ResponseTransformerConfig

__all__ = ["ResponseTransformerPlugin"]

_F = "plugins.response-transformer.config"


class ResponseTransformerPlugin(Plugin):
    name = "response-transformer"
    priority = PLUGIN_PRIORITIES["response-transformer"]
    config: ResponseTransformerConfig

    def __init__(self, config: ResponseTransformerConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        c = config
        refuse_non_empty(self.name, {
            "remove.json": c.remove.json_, "rename.json": c.rename.json_,
            "replace.json": c.replace.json_, "add.json": c.add.json_,
            "append.json": c.append.json_, "replace.json_types": c.replace.json_types,
            "add.json_types": c.add.json_types, "append.json_types": c.append.json_types})
        self.remove = list(c.remove.headers)
        # Values are literal: response-transformer renders no templates for headers.
        self.rename = split_pairs(c.rename.headers, f"{_F}.rename.headers")
        self.replace = split_pairs(c.replace.headers, f"{_F}.replace.headers")
        self.add = split_pairs(c.add.headers, f"{_F}.add.headers")
        self.append = split_pairs(c.append.headers, f"{_F}.append.headers")

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        h = resp.headers
        for name in self.remove:
            h.remove(name)
        for old, new in self.rename:
            values = h.get_all(old)
            if values:
                h.remove(old)
                for v in values:
                    h.add(new, v)
        for name, value in self.replace:
            if name in h:
                h.set(name, value)
        for name, value in self.add:
            if name not in h:
                h.set(name, value)
        for name, value in self.append:
            h.add(name, value)

