"""The hostile-input corpus: a data file of cases, loaded strictly.

scenarios/security/hostile-inputs.yaml holds one entry per attack (its
header documents the schema). `load_corpus` validates every key, so a typo in
a new case is a `ConfigError` naming the file, the case and the field, not a
silently weaker test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.model.loader import load_yaml
from harness.reliability.forge import RECIPE_KEYS

__all__ = ["CORPUS_PATH", "HostileCase", "ReqSpec", "Expect", "load_corpus"]

CORPUS_PATH = Path("scenarios/security/hostile-inputs.yaml")

_CASE_KEYS = {"id", "row", "request", "token", "auth", "raw", "raw_bytes", "then", "expect",
              "finding", "stock", "requires"}
_REQ_KEYS = {"method", "target", "host", "headers", "body", "version", "tls", "sni", "auth"}
_EXPECT_KEYS = {"status", "body", "headers", "headers_absent", "upstream", "backend", "closed",
                "responses", "max_ms", "minted_tenant"}
_UPSTREAM_KEYS = {"tenant", "tier", "service", "path", "absent", "present", "headers",
                  "not_values"}
_REQUIRES = {"tls", "h2"}
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

_UNSET: Any = object()


@dataclass(frozen=True)
class ReqSpec:
    method: str = "GET"
    target: str = "{path}"
    host: str = "{host_a}"
    headers: tuple[Any, ...] = ()     # [name, value] pairs or "{junk:N}"
    body: str = ""
    version: str = "HTTP/1.1"
    tls: bool = False
    sni: str | None = None
    auth: Any = _UNSET                # only for `then` entries: overrides the case's auth


@dataclass(frozen=True)
class Expect:
    status: tuple[int, ...] = ()
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    headers_absent: tuple[str, ...] = ()
    upstream: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "never"            # never | allowed
    closed: bool = False
    max_ms: float | None = None
    minted_tenant: str | None = None
    responses: tuple[Expect, ...] = ()


@dataclass(frozen=True)
class HostileCase:
    id: str
    row: str
    section: str                      # "§1" | "§2"
    request: ReqSpec
    expect: Expect
    token: Mapping[str, Any] | None = None
    auth: Any = _UNSET                # _UNSET: "Bearer {token}" when a token is given
    raw: tuple[str, ...] | None = None
    raw_bytes: str | None = None
    then: tuple[ReqSpec, ...] = ()
    finding: str | None = None
    stock: str | None = None
    requires: str | None = None

    @property
    def auth_value(self) -> str | None:
        if self.auth is not _UNSET:
            return None if self.auth is None else str(self.auth)
        return "Bearer {token}" if self.token is not None else None


def _check_keys(file: str, where: str, doc: Any, allowed: set[str]) -> None:
    if not isinstance(doc, dict):
        raise ConfigError(file, where, "a mapping", doc)
    for key in doc:
        if key not in allowed:
            raise ConfigError(file, f"{where}.{key}", f"one of {sorted(allowed)}", key)


def _statuses(file: str, where: str, value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and 100 <= v <= 599 for v in values):
        raise ConfigError(file, where, "an HTTP status or a list of them", value)
    return tuple(values)


def _expect(file: str, where: str, doc: Any, parent_backend: str = "never") -> Expect:
    _check_keys(file, where, doc, _EXPECT_KEYS)
    backend = doc.get("backend", parent_backend)
    if backend not in ("never", "allowed"):
        raise ConfigError(file, f"{where}.backend", "never or allowed", backend)
    if "upstream" in doc:
        _check_keys(file, f"{where}.upstream", doc["upstream"], _UPSTREAM_KEYS)
    responses = tuple(_expect(file, f"{where}.responses[{i}]", r, backend)
                      for i, r in enumerate(doc.get("responses", [])))
    if not responses and "status" not in doc:
        raise ConfigError(file, f"{where}.status", "a status (or responses)", "nothing")
    body = doc.get("body")
    if body is not None and not isinstance(body, dict):
        raise ConfigError(file, f"{where}.body", "a JSON object", body)
    return Expect(
        status=_statuses(file, f"{where}.status", doc["status"]) if "status" in doc else (),
        body=body, headers={str(k).lower(): str(v) for k, v in doc.get("headers", {}).items()},
        headers_absent=tuple(doc.get("headers_absent", [])),
        upstream=doc.get("upstream", {}), backend=backend, closed=bool(doc.get("closed")),
        max_ms=doc.get("max_ms"), minted_tenant=doc.get("minted_tenant"), responses=responses)


def _req(file: str, where: str, doc: Any) -> ReqSpec:
    _check_keys(file, where, doc, _REQ_KEYS)
    headers = doc.get("headers", [])
    for i, h in enumerate(headers):
        ok = (isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)) or \
             (isinstance(h, str) and re.fullmatch(r"\{junk:\d+\}", h))
        if not ok:
            raise ConfigError(file, f"{where}.headers[{i}]",
                              '[name, value] (strings) or "{junk:N}"', h)
    kw: dict[str, Any] = {k: doc[k] for k in ("method", "target", "host", "body", "version",
                                              "tls", "sni") if k in doc}
    if "auth" in doc:
        kw["auth"] = doc["auth"]
    return ReqSpec(headers=tuple(tuple(h) if isinstance(h, list) else h for h in headers), **kw)


def load_corpus(path: Path) -> list[HostileCase]:
    file = str(path)
    doc = load_yaml(path)
    if not isinstance(doc, dict) or doc.get("_format_version") != "1":
        raise ConfigError(file, "_format_version", '"1"', doc.get("_format_version")
                          if isinstance(doc, dict) else doc)
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise ConfigError(file, "cases", "a non-empty list of cases", raw_cases)
    out: list[HostileCase] = []
    seen: set[str] = set()
    for i, c in enumerate(raw_cases):
        where = f"cases[{i}]"
        _check_keys(file, where, c, _CASE_KEYS)
        cid = c.get("id")
        if not isinstance(cid, str) or not _ID.match(cid):
            raise ConfigError(file, f"{where}.id", "a kebab-case id", cid)
        if cid in seen:
            raise ConfigError(file, f"{where}.id", "an id used once", cid)
        seen.add(cid)
        where = f"cases[{cid}]"
        row = c.get("row")
        if not isinstance(row, str) or not row.startswith(("§1", "§2")):
            raise ConfigError(file, f"{where}.row", 'the catalogue row, "§1 ..." or "§2 ..."', row)
        token = c.get("token")
        if token is not None:
            _check_keys(file, f"{where}.token", token, set(RECIPE_KEYS))
        if "expect" not in c:
            raise ConfigError(file, f"{where}.expect", "an expectation", "nothing")
        if c.get("requires") is not None and c["requires"] not in _REQUIRES:
            raise ConfigError(file, f"{where}.requires", f"one of {sorted(_REQUIRES)}",
                              c["requires"])
        raw = c.get("raw")
        if raw is not None and not (isinstance(raw, list) and all(isinstance(x, str)
                                                                  for x in raw)):
            raise ConfigError(file, f"{where}.raw", "a list of request lines", raw)
        kw: dict[str, Any] = {}
        if "auth" in c:
            kw["auth"] = c["auth"]
        out.append(HostileCase(
            id=cid, row=row, section=row[:2], request=_req(file, f"{where}.request",
                                                           c.get("request") or {}),
            expect=_expect(file, f"{where}.expect", c["expect"]), token=token,
            raw=tuple(raw) if raw is not None else None, raw_bytes=c.get("raw_bytes"),
            then=tuple(_req(file, f"{where}.then[{j}]", t) for j, t in
                       enumerate(c.get("then", []))),
            finding=c.get("finding"), stock=c.get("stock"), requires=c.get("requires"), **kw))
    return out
