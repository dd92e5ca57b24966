"""Plugin implementations of the reference gateway, by Kong plugin name.

`REGISTRY[name]` is a `Plugin` subclass; the data plane builds each plugin
entity once with `(typed config from harness.model.plugins, runtime)` where
runtime satisfies `PluginRuntime`. Custom Lua plugins (kong/custom-plugins/<name>)
are registered through the generic Lua plugin factory.

Contract with the data plane (see docs/reference-gateway.md, "Plugins"):
- `Exit` from `access` -> Kong-generated response; header_filter and log still run.
- Any other exception from `access` (e.g. `PluginCrash`) is a Lua `error()` in
  Kong: 500 `An unexpected error occurred` via kong.response.error (Kong 3.x
  flush_delayed_response: Accept-negotiated, JSON default, with request_id).
- `ctx.shared["max_body_bytes"]` (set by request-size-limiting) asks the data
  plane to stop reading a body without Content-Length (chunked) past that many
  bytes and answer 413 `Request size limit exceeded`.
"""

from __future__ import annotations

from harness.gateway.plugin_api import Plugin
from harness.gateway.plugins._kong import PluginCrash
from harness.gateway.plugins._runtime import PluginRuntime, StandaloneRuntime
from harness.gateway.plugins.correlation_id import CorrelationIdPlugin
from harness.gateway.plugins.cors import CorsPlugin
from harness.gateway.plugins.file_log import FileLogPlugin
from harness.gateway.plugins.jwt import JwtPlugin
from harness.gateway.plugins.lua_plugin import LuaPlugin, lua_plugin
from harness.gateway.plugins.prometheus import PrometheusPlugin
from harness.gateway.plugins.rate_limiting import RateLimitingPlugin
from harness.gateway.plugins.request_size_limiting import RequestSizeLimitingPlugin
from harness.gateway.plugins.request_transformer import RequestTransformerPlugin
from harness.gateway.plugins.response_transformer import ResponseTransformerPlugin

__all__ = ["REGISTRY", "LuaPlugin", "PluginCrash", "PluginRuntime", "StandaloneRuntime",
           "lua_plugin"]

REGISTRY: dict[str, type[Plugin]] = {
    cls.name: cls
    for cls in (
        CorrelationIdPlugin,
        CorsPlugin,
        JwtPlugin,
        lua_plugin("tenant-context"),
        RequestSizeLimitingPlugin,
        RateLimitingPlugin,
        RequestTransformerPlugin,
        ResponseTransformerPlugin,
        PrometheusPlugin,
        FileLogPlugin,
    )
}
