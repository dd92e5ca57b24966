"""Shared parts of request-/response-transformer: "name:value" items, templates, and
the refusal of body/json operations (not implemented, never silently ignored)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from harness.errors import ConfigError

__all__ = ["Template", "parse_items", "refuse_non_empty", "split_pairs"]

_TEMPLATE = re.compile(r"\$\((.*?)\)")
_REF = re.compile(r"""^\s*(headers|query_params)\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*(["'])(.*?)\3\s*\])\s*$""")


class Template:
    """A config value, possibly with Kong templates `$(headers.x)` / `$(query_params["x"])`.
    Other template expressions are refused at load time (we never guess)."""

    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.refs: list[tuple[str, str, str]] = []  # (placeholder, source, name)
        for m in _TEMPLATE.finditer(text):
            ref = _REF.match(m.group(1))
            if ref is None:
                raise ConfigError("kong.yml", field, "templates of the form $(headers.<name>) "
                                  "or $(query_params.<name>) (other Kong template expressions "
                                  "are not implemented by the reference gateway)", text)
            self.refs.append((m.group(0), ref.group(1), ref.group(2) or ref.group(4)))

    def render(self, lookup: Callable[[str, str], str | None]) -> str:
        out = self.text
        for placeholder, source, name in self.refs:
            value = lookup(source, name)
            out = out.replace(placeholder, value if value is not None else "")
        return out


def split_pairs(items: Iterable[str], field: str) -> list[tuple[str, str]]:
    """Kong's iter(): "name:value" items split at the first ':' (value may be empty)."""
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        name, sep, value = item.partition(":")
        if not name or not sep:
            raise ConfigError("kong.yml", f"{field}.{i}", '"name:value"', item)
        out.append((name, value))
    return out


def parse_items(items: Iterable[str], field: str, *, pairs: bool = True
                ) -> list[tuple[str, Template]]:
    """"name:value" items with template values; for remove lists (pairs=False), names."""
    if not pairs:
        return [(item, Template("", f"{field}.{i}")) for i, item in enumerate(items)]
    return [(name, Template(value, f"{field}.{i}"))
            for i, (name, value) in enumerate(split_pairs(items, field))]


def refuse_non_empty(plugin: str, fields: dict[str, Any]) -> None:
    for path, value in fields.items():
        if value:
            raise ConfigError("kong.yml", f"plugins.{plugin}.config.{path}",
                              "an empty list (body/json transformations are not implemented by "
                              "the reference gateway)", value)
