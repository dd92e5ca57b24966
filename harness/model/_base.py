"""The strict base model and the translation of pydantic errors to ConfigError."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from harness.errors import ConfigError

__all__ = ["Strict", "config_error", "fail", "to_config_error"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Strict(BaseModel):
    """Frozen, strict, and unknown keys are errors that list the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            for key in data:
                if key not in known:
                    shown = ", ".join(sorted(k for k in known if not k.startswith("_") or k == key))
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key",
                        {"key": key, "expected": f"one of the known keys ({shown})"},
                    )
        return data


def fail(expected: str, got: Any, field: str | None = None) -> PydanticCustomError:
    """An error for cross-field rules, carrying expected vs got; `field` names
    the offending field of the model (appended to the dotted path)."""
    return PydanticCustomError("config", "{expected}",
                               {"expected": expected, "got": got, "field": field})


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "a boolean (true/false)",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "missing": "a value (the field is required)",
    "none_required": "null",
}


def _render_path(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any]:
    """Dotted path with list items named by their name/username/id where they have one."""
    parts: list[str] = []
    node = raw
    for elem in loc:
        if isinstance(elem, int):
            label = str(elem)
            item = node[elem] if isinstance(node, list) and elem < len(node) else None
            if isinstance(item, dict):
                # An `id` that is not a UUID is the entity's own key (tenants);
                # Kong's ids are UUIDs, so Kong entities are named by name.
                own_id = item.get("id")
                keys = ("id",) if isinstance(own_id, str) and not _UUID.match(own_id) else ()
                for key in (*keys, "name", "username", "id", "key", "target"):
                    if isinstance(item.get(key), str):
                        label = item[key]
                        break
            parts.append(f"[{label}]")
            node = item
        else:
            if isinstance(node, dict) and elem in node:
                node = node[elem]
            elif isinstance(node, dict):
                # A tag of a discriminated union or a function validator: not a key.
                if elem in ("function-after", "function-before", "function-wrap") or (
                    isinstance(elem, str) and "[" in elem
                ):
                    continue
                if parts and parts[-1] != "" and "name" in node and node.get("name") == elem:
                    continue
                node = None
            else:
                node = None
            parts.append(("." if parts else "") + str(elem))
    return "".join(parts), node


def to_config_error(err: ValidationError, file: str, raw: Any) -> ConfigError:
    """Translate the first pydantic error into a ConfigError that names the field."""
    first = err.errors(include_url=False)[0]
    path, node = _render_path(tuple(first["loc"]), raw)
    kind = first["type"]
    ctx = first.get("ctx") or {}
    got: Any = first.get("input")
    if kind == "unknown_key":
        key = ctx["key"]
        return ConfigError(file, f"{path}.{key}" if path else key, ctx["expected"], key)
    if kind == "config":
        if ctx.get("field"):
            path = f"{path}.{ctx['field']}" if path else ctx["field"]
        return ConfigError(file, path, ctx["expected"], ctx["got"])
    if kind == "missing":
        return ConfigError(file, path, _EXPECTED["missing"], "nothing", raw_got=True)
    if kind == "literal_error":
        expected = f"one of {ctx.get('expected')}"
    elif kind == "union_tag_invalid":
        expected = f"one of the implemented values ({ctx.get('expected_tags')})"
        got = ctx.get("tag", got)
        path = f"{path}.{ctx.get('discriminator', 'name').strip(chr(39))}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        expected = f"a number {op} {bound}"
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    else:
        expected = first["msg"]
    if kind.endswith("_type") and got is not None:
        return ConfigError(file, path, expected, f"{got!r} ({type(got).__name__})", raw_got=True)
    return ConfigError(file, path, expected, got)


def config_error(file: str, path: str, expected: str, got: Any) -> ConfigError:
    return ConfigError(file, path, expected, got)
