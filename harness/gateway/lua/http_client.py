"""A small async HTTP/1.1 client for `resty.http` request_uri (Lua plugins).

One request per connection (`Connection: close`): the Tenant Service is
called only on cache misses. One timeout covers connect, send and each read,
like lua-resty-http's set_timeout. Errors are short texts as lua-resty-http
gives them ("timeout", "connection refused", ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HttpError", "HttpResult", "request_uri"]

MAX_BODY = 8 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """A connection-level failure: the text is what request_uri returns as `err`."""


HttpResult = tuple[int, dict[str, str | list[str]], bytes]


async def _read(coro: object, timeout: float) -> Any:   # also awaits drain() (None)
    try:
        return await asyncio.wait_for(coro, timeout)  # type: ignore[arg-type]
    except asyncio.TimeoutError:
        raise HttpError("timeout") from None


async def request_uri(uri: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                      body: bytes | None = None, timeout_ms: float = 60000,
                      resolve: Callable[[str, int], tuple[str, int]] | None = None
                      ) -> HttpResult:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"bad uri: {uri}")
    if parts.scheme == "https":
        raise HttpError("https is not supported by the reference gateway's resty.http")
    host, port = parts.hostname, parts.port or 80
    if resolve is not None:
        host, port = resolve(host, port)
    timeout = max(timeout_ms, 1) / 1000
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        raise HttpError("timeout") from None
    except ConnectionRefusedError:
        raise HttpError("connection refused") from None
    except OSError as exc:
        raise HttpError(exc.strerror or str(exc)) from None
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        hdrs = {"Host": parts.netloc, "User-Agent": "lua-resty-http/0.17.1 (Lua) ngx_lua/10026",
                **(headers or {})}
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        hdrs["Connection"] = "close"
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        writer.write(head.encode("latin-1") + (body or b""))
        await _read(writer.drain(), timeout)
        return await _response(reader, timeout, method)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise HttpError("closed" if isinstance(exc, asyncio.IncompleteReadError)
                        else (exc.strerror or "connection reset")) from None
    except asyncio.LimitOverrunError:
        raise HttpError("header too large") from None
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader, timeout: float, method: str) -> HttpResult:
    status_line = await _read(reader.readuntil(b"\r\n"), timeout)
    fields = status_line.split(b" ", 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        raise HttpError("bad status line")
    status = int(fields[1])
    headers: dict[str, str | list[str]] = {}
    total = 0
    while True:
        line = await _read(reader.readuntil(b"\r\n"), timeout)
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise HttpError("header too large")
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        key, val = name.strip().lower(), value.strip()
        prev = headers.get(key)
        headers[key] = val if prev is None else (
            [*prev, val] if isinstance(prev, list) else [prev, val])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    te = headers.get("transfer-encoding")
    if isinstance(te, str) and "chunked" in te.lower():
        return status, headers, await _chunked(reader, timeout)
    length = headers.get("content-length")
    if isinstance(length, str) and length.isdigit():
        n = int(length)
        if n > MAX_BODY:
            raise HttpError("body too large")
        return status, headers, await _read(reader.readexactly(n), timeout)
    data = await _read(reader.read(MAX_BODY + 1), timeout)
    buf = bytearray(data)
    while data:
        data = await _read(reader.read(MAX_BODY + 1), timeout)
        buf += data
        if len(buf) > MAX_BODY:
            raise HttpError("body too large")
    return status, headers, bytes(buf)


async def _chunked(reader: asyncio.StreamReader, timeout: float) -> bytes:
    out = bytearray()
    for _ in range(100000):
        size_line = await _read(reader.readuntil(b"\r\n"), timeout)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HttpError("bad chunk size") from None
        if size == 0:
            while (await _read(reader.readuntil(b"\r\n"), timeout)) != b"\r\n":
                pass
            return bytes(out)
        if len(out) + size > MAX_BODY:
            raise HttpError("body too large")
        out += await _read(reader.readexactly(size + 2), timeout)
        del out[-2:]
    raise HttpError("too many chunks")
