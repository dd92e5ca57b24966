"""Request path normalisation and the upstream URI (kong-behaviour.md §1.3, §1.5).

`normalize` (harness.model.paths, re-exported) is kong/tools/uri.lua `normalize`;
`upstream_path` is kong/router/utils.lua `get_upstream_uri_v0`.
"""

from __future__ import annotations

from harness.model.paths import normalize

__all__ = ["normalize", "upstream_path"]


def upstream_path(strip_path: bool, matched_prefix: str, req_uri: str,
                  base: str | None) -> str:
    """The path sent upstream; `base` is service.path (None => "/")."""
    base = base or "/"
    postfix = req_uri[len(matched_prefix):] if strip_path else ""
    if base.endswith("/"):
        if strip_path:
            if postfix == "":
                if base == "/":
                    return "/"
                return base if req_uri.endswith("/") else base[:-1]
            if postfix.startswith("/"):
                return base[:-1] + postfix
            return base + postfix
        return base + req_uri[1:]
    if strip_path:
        if postfix == "":
            return base + "/" if len(req_uri) > 1 and req_uri.endswith("/") else base
        if postfix.startswith("/"):
            return base + postfix
        return base + "/" + postfix
    return base if req_uri == "/" else base + req_uri
