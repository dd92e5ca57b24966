"""Read a Kong plugin's schema.lua by evaluating it in LuaJIT (lupa).

schema.lua is the one definition of a custom plugin's configuration (as in
Kong). This module evaluates it with a tiny `kong.db.schema.typedefs` shim
and returns the `config` record as typed values, so Python can check that
harness.model mirrors it and can read its defaults without copying them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["PluginSchema", "SchemaField", "load_plugin_schema"]

# The typedefs our schemas use, reduced to their shape; each carries its
# name in `typedef` so callers know which Kong validator applies.
_TYPEDEFS_SHIM = """
local function define(name, base)
  base.typedef = name
  return setmetatable(base, { __call = function(self, overrides)
    local t = {}
    for k, v in pairs(self) do t[k] = v end
    for k, v in pairs(overrides or {}) do t[k] = v end
    return t
  end })
end
return {
  url = define("url", { type = "string" }),
  header_name = define("header_name", { type = "string" }),
  no_consumer = define("no_consumer", { type = "foreign", reference = "consumers" }),
  protocols_http = define("protocols_http", {
    type = "set", required = true, default = { "grpc", "grpcs", "http", "https" },
    elements = { type = "string", one_of = { "grpc", "grpcs", "http", "https" } },
  }),
}
"""

_SCALARS = ("type", "required", "gt", "len_min", "typedef", "description")


@dataclass(frozen=True)
class SchemaField:
    """One field of a schema record, in Kong's terms."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    description: str | None = None
    gt: float | None = None
    between: tuple[float, float] | None = None
    len_min: int | None = None
    typedef: str | None = None
    elements: SchemaField | None = None


@dataclass
class _LuaHandle:
    runtime: Any
    table: Any


@dataclass(frozen=True)
class PluginSchema:
    name: str
    path: Path
    config: tuple[SchemaField, ...]
    lua: _LuaHandle | None = field(default=None, repr=False, compare=False)

    def field(self, name: str) -> SchemaField:
        for f in self.config:
            if f.name == name:
                return f
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Config fields that have a default, with it."""
        return {f.name: f.default for f in self.config if f.default is not None}

    def entity_check_errors(self, config: Mapping[str, Any]) -> list[str]:
        """Messages of the schema's custom_entity_checks for `config` (already
        complete, defaults filled)."""
        if self.lua is None:
            return []
        lua = self.lua.runtime
        entity = lua.table_from({"config": lua.table_from(dict(config))})
        errors: list[str] = []
        checks = self.lua.table["entity_checks"] or lua.table()
        for _, check in checks.items():
            custom = check["custom_entity_check"]
            if custom is None:
                continue
            result = custom["fn"](entity)
            ok, err = result if isinstance(result, tuple) else (result, None)
            if not ok:
                errors.append(str(err))
        return errors


def _to_python(value: Any) -> Any:
    """Lua value to Python: sequences (and `{}`) become lists, others dicts."""
    if hasattr(value, "items"):
        items = list(value.items())
        if all(isinstance(k, int) for k, _ in items):
            return [_to_python(v) for _, v in sorted(items)]
        return {str(k): _to_python(v) for k, v in items}
    return value


def _field(name: str, spec: Any, file: str) -> SchemaField:
    raw = {k: spec[k] for k in _SCALARS}
    if not isinstance(raw["type"], str):
        raise ConfigError(file, f"config.{name}.type", "a Kong type name", raw["type"])
    between = spec["between"]
    elements = spec["elements"]
    return SchemaField(
        name=name,
        type=raw["type"],
        required=bool(raw["required"]),
        default=_to_python(spec["default"]),
        description=raw["description"],
        gt=raw["gt"],
        between=(between[1], between[2]) if between is not None else None,
        len_min=raw["len_min"],
        typedef=raw["typedef"],
        elements=_field(f"{name}[]", elements, file) if elements is not None else None,
    )


def load_plugin_schema(plugin_dir: Path) -> PluginSchema:
    """Evaluate `<plugin_dir>/schema.lua` and return its config record."""
    from lupa.luajit21 import LuaError, LuaRuntime  # type: ignore[import-untyped]

    path = plugin_dir / "schema.lua"
    file = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, "", "a readable schema.lua", exc.strerror or str(exc),
                          raw_got=True) from None
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().package.loaded["kong.db.schema.typedefs"] = lua.execute(_TYPEDEFS_SHIM)
    try:
        loaded = lua.eval("load")(source, "@" + file)
        if isinstance(loaded, tuple):  # (nil, message): a syntax error
            raise LuaError(str(loaded[1]))
        schema = loaded()
    except LuaError as exc:
        raise ConfigError(file, "", "a schema.lua that evaluates", str(exc), raw_got=True) from None
    config = None
    for _, entry in (schema["fields"] or lua.table()).items():
        if entry["config"] is not None:
            config = entry["config"]
    if config is None or config["type"] != "record":
        raise ConfigError(file, "fields.config", "a record field named config", config)
    fields = []
    for _, entry in config["fields"].items():
        ((name, spec),) = entry.items()
        fields.append(_field(str(name), spec, file))
    return PluginSchema(name=str(schema["name"]), path=path, config=tuple(fields),
                        lua=_LuaHandle(lua, schema))
