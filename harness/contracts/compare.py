"""The one comparator: `compare(expected, captured) -> Mismatch | None`.

Checks run in a fixed order (status, response headers, body, then the
request the stub echoed) and the first difference is reported as
"expected … got …", followed by the request sent and what the upstream saw,
so a failure reads without re-running anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.contracts.expect import Captured, Expected, ExpectedResponse, ExpectedUpstream

__all__ = ["Mismatch", "compare"]

_BODY_SHOWN = 300


@dataclass(frozen=True)
class Mismatch:
    what: str       # e.g. "status", "header X-RateLimit-Remaining-Minute", "upstream path"
    expected: str
    got: str
    captured: Captured | None = None
    detail: str = ""

    @property
    def message(self) -> str:
        lines = [f"expected {self.what} {self.expected}, got {self.got}"
                 + (f" ({self.detail})" if self.detail else "")]
        cap = self.captured
        if cap is not None:
            lines.append(f"  request sent: {cap.request.describe()}")
            lines.append(f"  response: {cap.status} in {cap.elapsed_ms:.1f} ms, headers "
                         f"{_headers(cap.headers)}, body {_body(cap.body)}")
            echo = cap.echo
            lines.append(f"  upstream saw: {echo.describe() if echo else '(no stub echo)'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message


def _headers(headers: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in headers) + "}"


def _body(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return repr(text if len(text) <= _BODY_SHOWN else text[:_BODY_SHOWN] + "…")


def _q(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)


def compare(expected: Expected, captured: Captured) -> Mismatch | None:
    """The first way `captured` differs from `expected`, or None."""
    return (_response(expected.response, captured)
            or _upstream(expected, captured))


def _response(exp: ExpectedResponse, cap: Captured) -> Mismatch | None:
    def miss(what: str, e: str, g: str, detail: str = "") -> Mismatch:
        return Mismatch(what, e, g, cap, detail)

    if cap.status not in exp.status:
        allowed = str(exp.status[0]) if len(exp.status) == 1 else f"one of {list(exp.status)}"
        return miss("status", allowed, str(cap.status))
    all_h = f"all headers: {_headers(cap.headers)}"
    for name, value in exp.headers.items():
        got = cap.header(name)
        if got != value:
            return miss(f"header {name}", f"to be {value!r}",
                        "no such header" if got is None else repr(got), all_h)
    for name, values in exp.header_one_of.items():
        got = cap.header(name)
        if got not in values:
            return miss(f"header {name}", f"to be one of {list(values)}",
                        "no such header" if got is None else repr(got), all_h)
    for name in exp.present_headers:
        if cap.header(name) is None:
            return miss(f"header {name}", "to be present", "no such header", all_h)
    for name in exp.absent_headers:
        got = cap.header(name)
        if got is not None:
            return miss(f"header {name}", "to be absent", repr(got), all_h)
    if exp.empty_body and cap.body:
        return miss("body", "to be empty", _body(cap.body))
    if exp.json is not None or exp.json_present:
        want: dict[str, Any] = dict(exp.json or {})
        try:
            doc = json.loads(cap.body)
        except (ValueError, UnicodeDecodeError):
            return miss("body", f"to be JSON {json.dumps(want)}", _body(cap.body))
        if not isinstance(doc, dict):
            return miss("body", f"to be a JSON object {json.dumps(want)}", _body(cap.body))
        for key in exp.json_present:
            if key not in doc:
                return miss(f"body key {key!r}", "to be present", "no such key",
                            f"body: {_body(cap.body)}")
        for key, expected_value in want.items():
            if key not in doc:
                return miss(f"body key {key!r}", f"to be {_q(expected_value)}", "no such key",
                            f"body: {_body(cap.body)}")
            if doc[key] != expected_value:
                return miss(f"body key {key!r}", f"to be {_q(expected_value)}", _q(doc[key]))
        extra = set(doc) - set(want) - set(exp.json_present) - set(exp.json_extra_keys)
        if extra and not exp.json_any_extra:
            return miss("body keys", f"to be {sorted(want)}"
                        + (f" (+ optional {sorted(exp.json_extra_keys)})"
                           if exp.json_extra_keys else ""),
                        f"extra {sorted(extra)}")
    if exp.max_elapsed_ms is not None and cap.elapsed_ms > exp.max_elapsed_ms:
        return miss("response time", f"<= {exp.max_elapsed_ms:.0f} ms",
                    f"{cap.elapsed_ms:.1f} ms")
    return None


def _upstream(expected: Expected, cap: Captured) -> Mismatch | None:
    if expected.upstream_optional:
        return None
    echo = cap.echo
    up: ExpectedUpstream | None = expected.upstream
    if up is None:
        if echo is not None:
            return Mismatch("upstream", "no request to reach a backend",
                            f"{echo.service}/{echo.instance} received it", cap)
        return None
    if echo is None:
        return Mismatch("upstream", f"a stub echo from {up.service or 'a backend'}",
                        "a response that is not a stub echo", cap)

    def miss(what: str, e: Any, g: Any) -> Mismatch:
        return Mismatch(f"upstream {what}", f"to be {_q(e)}",
                        "absent" if g is None else _q(g), cap)

    if up.service is not None and echo.service != up.service:
        return miss("service", up.service, echo.service)
    if up.instances is not None and echo.instance not in up.instances:
        return Mismatch("upstream instance", f"to be one of {list(up.instances)}",
                        repr(echo.instance), cap)
    if up.method is not None and echo.method != up.method:
        return miss("method", up.method, echo.method)
    if up.path is not None and echo.path != up.path:
        return miss("path", up.path, echo.path)
    if up.raw_query is not None and echo.raw_query != up.raw_query:
        return miss("query", up.raw_query, echo.raw_query)
    if up.body_size is not None and echo.body_size != up.body_size:
        return miss("body size", up.body_size, echo.body_size)
    for name, value in up.headers.items():
        got = echo.header(name)
        if got != value:
            return miss(f"header {name}", value, got)
    for name in up.absent_headers:
        got = echo.header(name)
        if got is not None:
            return Mismatch(f"upstream header {name}", "to be absent", repr(got), cap)
    for name in up.same_header_as_request:
        sent = cap.sent_header(name)
        got = echo.header(name)
        if got != sent:
            return Mismatch(f"upstream header {name}",
                            f"to be the value the client sent ({sent!r})",
                            "absent" if got is None else repr(got), cap)
    for name in up.same_header_as_response:
        answered = cap.header(name)
        got = echo.header(name)
        if answered is None or got != answered:
            return Mismatch(f"upstream header {name}",
                            f"to equal the response's {name} ({answered!r})",
                            "absent" if got is None else repr(got), cap)
    return None
