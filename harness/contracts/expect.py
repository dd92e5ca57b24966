"""Expectations are values: the request to send, what the upstream must see, the response.

`Expected` is what a case declares; `Captured` is what the gateway client
recorded (the response plus, when a stub answered, the request the stub
echoed). `harness.contracts.compare.compare` is the only code that compares
the two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Captured",
    "Echo",
    "Expected",
    "ExpectedResponse",
    "ExpectedUpstream",
    "Request",
    "TokenSpec",
    "kong_error",
    "kong_exit",
]

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TokenSpec:
    """A token minted when the request is sent (exp/nbf relative to that moment).

    `mutation` names one of harness.contracts.tokens.MUTATIONS ("valid",
    "expired", "alg-none", ...).
    """

    tenant_id: str
    mutation: str = "valid"
    sub: str = "contract-user"
    kid: str | None = None


@dataclass(frozen=True)
class Request:
    method: str = "GET"
    host: str = ""
    path: str = "/"
    headers: Headers = ()
    body: bytes = b""
    scheme: Literal["http", "https"] = "http"
    sni: str | None = None          # https only; default: the Host
    token: TokenSpec | None = None  # adds "Authorization: Bearer <minted>"
    raw: bool = False               # send byte-exact over a socket (no client normalisation)
    gateway: str = "gateway"        # which replica: "gateway" (= gateway-1), "gateway-2", ...

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def describe(self) -> str:
        hdrs = ", ".join(f"{k}: {v}" for k, v in self.headers)
        tok = f" token={self.token.mutation}@{self.token.tenant_id}" if self.token else ""
        return (f"{self.method} {self.scheme}://{self.host}{self.path}"
                f"{f' [{hdrs}]' if hdrs else ''}{tok}"
                f"{f' body={len(self.body)}B' if self.body else ''}")


@dataclass(frozen=True)
class ExpectedResponse:
    """What the client must get back. Header names are case-insensitive."""

    status: tuple[int, ...] = (200,)
    headers: Mapping[str, str] = field(default_factory=dict)            # exact value
    header_one_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    present_headers: tuple[str, ...] = ()
    absent_headers: tuple[str, ...] = ()
    json: Mapping[str, Any] | None = None     # these keys with these values...
    json_extra_keys: frozenset[str] = frozenset()  # ...and at most these others
    json_any_extra: bool = False              # ...or any others
    json_present: tuple[str, ...] = ()        # keys that must exist, any value
    empty_body: bool = False
    max_elapsed_ms: float | None = None


@dataclass(frozen=True)
class ExpectedUpstream:
    """The request a stub must have echoed. None fields are not checked."""

    service: str | None = None
    instances: tuple[str, ...] | None = None   # instance must be one of these
    method: str | None = None
    path: str | None = None
    raw_query: str | None = None
    body_size: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    absent_headers: tuple[str, ...] = ()
    same_header_as_request: tuple[str, ...] = ()  # upstream value == value the client sent
    same_header_as_response: tuple[str, ...] = ()  # upstream value == the response's value


@dataclass(frozen=True)
class Expected:
    request: Request
    response: ExpectedResponse = ExpectedResponse()
    upstream: ExpectedUpstream | None = None  # None: the response must not be a stub echo
    upstream_optional: bool = False           # True: do not check the upstream at all


def kong_exit(status: int, body: Mapping[str, Any], **kw: Any) -> ExpectedResponse:
    """A `kong.response.exit(status, body)` answer: compact JSON, exactly these keys."""
    return ExpectedResponse(status=(status,), json=dict(body), **kw)


def kong_error(status: int, message: str, **kw: Any) -> ExpectedResponse:
    """A `kong.response.error` answer (3.5+ template: message plus request_id)."""
    return ExpectedResponse(status=(status,), json={"message": message},
                            json_extra_keys=frozenset({"request_id"}), **kw)


@dataclass(frozen=True)
class Echo:
    """The request as a stub microservice received it (the stubs' echo JSON)."""

    service: str
    instance: str
    method: str
    path: str
    raw_query: str
    host: str
    headers: Mapping[str, str | list[str]]
    body_size: int = 0
    http_version: str = ""

    @classmethod
    def parse(cls, body: bytes) -> Echo | None:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict) or not {"service", "instance", "headers"} <= doc.keys():
            return None
        return cls(service=str(doc["service"]), instance=str(doc["instance"]),
                   method=str(doc.get("method", "")), path=str(doc.get("path", "")),
                   raw_query=str(doc.get("raw_query", "") or ""), host=str(doc.get("host", "")),
                   headers={str(k).lower(): v for k, v in dict(doc["headers"]).items()},
                   body_size=int(doc.get("body_size", 0) or 0),
                   http_version=str(doc.get("http_version", "")))

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower())
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def describe(self) -> str:
        hdrs = ", ".join(f"{k}: {v}" for k, v in sorted(self.headers.items()))
        q = f"?{self.raw_query}" if self.raw_query else ""
        return (f"{self.service}/{self.instance} saw {self.method} {self.path}{q} "
                f"Host={self.host} [{hdrs}]")


@dataclass(frozen=True)
class Captured:
    """One round trip as the client saw it."""

    request: Request
    sent_headers: Headers            # the headers actually sent (token included)
    status: int
    headers: Headers
    body: bytes
    elapsed_ms: float

    def header(self, name: str) -> str | None:
        low = name.lower()
        values = [v for k, v in self.headers if k.lower() == low]
        return ", ".join(values) if values else None

    @property
    def echo(self) -> Echo | None:
        return Echo.parse(self.body)

    def json(self) -> Any:
        return json.loads(self.body)

    def sent_header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.sent_headers if k.lower() == low), None)
