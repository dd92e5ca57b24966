"""HTTP/1.1 text helpers shared by the pipeline and the proxied leg."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from random import getrandbits

from harness.gateway.plugin_api import Headers

__all__ = ["REASONS", "Clock", "clean", "head", "header_lines", "request_id"]

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS[494] = "Request Header Or Cookie Too Large"


def request_id() -> str:
    # 32 lower-hex chars like $kong_request_id; no syscall (ids need not be secret).
    return f"{getrandbits(128):032x}"


class Clock:
    """The Date header, formatted once per second."""

    def __init__(self) -> None:
        self._sec = 0
        self._text = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._text = formatdate(now, usegmt=True)
        return self._text


def clean(value: str) -> str:
    # A header value may not carry CR/LF (response splitting).
    return value.replace("\r", "").replace("\n", "")


def header_lines(first: str, items: list[tuple[str, str]], lows: list[str],
           drop: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """`Name: value` lines; CR/LF in a value (set by a plugin) is removed."""
    lines = [first]
    if drop:
        lines += [f"{k}: {v}\r\n" for (k, v), low in zip(items, lows) if low not in drop]
    else:
        lines += [f"{k}: {v}\r\n" for k, v in items]
    # One newline per line unless a value smuggled its own: then clean them all.
    if "".join(lines[1:]).count("\n") != len(lines) - 1:
        lines = [first] + [f"{k}: {clean(v)}\r\n" for (k, v), low in zip(items, lows)
                           if low not in drop]
    return lines


def head(status: int, headers: Headers) -> bytes:
    lines = header_lines(f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n", headers._items,
                   headers._low)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")
