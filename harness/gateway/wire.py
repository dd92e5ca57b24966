"""HTTP/1.1 text helpers shared by the pipeline and the proxied leg."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from random import getrandbits

from harness.gateway.plugin_api import Headers

__all__ = ["REASONS", "Clock", "clean", "head", "header_block", "header_name", "request_id",
           "status_line"]

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS[494] = "Request Header Or Cookie Too Large"
_STATUS_LINES = {code: f"HTTP/1.1 {code} {phrase}\r\n" for code, phrase in REASONS.items()}


_NAMES: dict[bytes, tuple[str, str]] = {}   # header name bytes -> (as sent, lower-case)


def header_name(name: bytes) -> tuple[str, str]:
    """A parsed header name as sent and lower-cased, cached for the common names."""
    names = _NAMES.get(name)
    if names is None:
        k = name.decode("latin-1")
        names = (k, k.lower())
        if len(_NAMES) < 512:   # bounded: peers choose header names
            _NAMES[name] = names
    return names


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


def header_block(items: list[tuple[str, str]], lows: list[str],
                 drop: frozenset[str] | set[str] = frozenset(), dirty: bool = True) -> str:
    """`Name: value\r\n` lines joined; CR/LF in a value (set by a plugin) is removed.
    `dirty=False` (Headers.dirty): no value can hold CR/LF, the check is skipped."""
    if drop:
        parts = [f"{k}: {v}\r\n" for (k, v), low in zip(items, lows) if low not in drop]
    else:
        parts = [f"{k}: {v}\r\n" for k, v in items]
    block = "".join(parts)
    if not dirty:
        return block
    # One CR and one LF per line unless a value smuggled its own: then clean them all.
    n = len(parts)
    if block.count("\n") != n or block.count("\r") != n:
        block = "".join(f"{k}: {clean(v)}\r\n" for (k, v), low in zip(items, lows)
                        if low not in drop)
    return block


def status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n"
    return line


def head(status: int, headers: Headers) -> bytes:
    return (status_line(status) + header_block(headers._items, headers._low, frozenset(),
                                               headers.dirty) + "\r\n").encode("latin-1", "replace")
