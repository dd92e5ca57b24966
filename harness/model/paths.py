"""Request path normalisation: kong/tools/uri.lua `normalize(uri, merge_slashes=true)`.

The router normalises request paths with it (kong-behaviour.md §1.3) and Kong's route schema
refuses a plain path it would change (§1.1, "non-normalized path"), so the model and the
gateway share this one implementation.
"""

from __future__ import annotations

import re

__all__ = ["normalize"]

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"//+")


def _pct(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    # Unreserved characters are decoded; any other escape is kept, hex upper-cased.
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    out: list[str] = []
    inp = path
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./"):
            inp = inp[2:]
        elif inp == "/.":
            inp = "/"
        elif inp.startswith("/../"):
            inp = inp[3:]
            if out:
                out.pop()
        elif inp == "/..":
            inp = "/"
            if out:
                out.pop()
        elif inp in (".", ".."):
            inp = ""
        else:
            start = 1 if inp.startswith("/") else 0
            nxt = inp.find("/", start)
            if nxt < 0:
                out.append(inp)
                inp = ""
            else:
                out.append(inp[:nxt])
                inp = inp[nxt:]
    return "".join(out)


def normalize(path: str) -> str:
    """Decode unreserved escapes, merge '//' and remove dot segments."""
    if "%" in path:
        path = _PCT.sub(_pct, path)
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "." in path:
        path = _remove_dot_segments(path)
    return path or "/"
