"""The Kong 3.x declarative-config subset our gateway uses (parse shape).

Defaults are Kong's (kong/db/schema/entities/*.lua); see
../shared/reference/kong-behaviour.md §1.1 and §4.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.model._base import Strict, fail
from harness.model.paths import normalize
from harness.model.plugins import PluginEntity

__all__ = [
    "ActiveHealthcheck",
    "Certificate",
    "Consumer",
    "Healthchecks",
    "JwtSecret",
    "KongConfig",
    "PassiveHealthcheck",
    "Route",
    "Service",
    "Target",
    "Upstream",
]

Names = list[str]
Timeout = Annotated[int, Field(ge=1, le=2**31 - 2)]
Counter = Annotated[int, Field(ge=0, le=255)]
Interval = Annotated[int, Field(ge=0, le=65535)]


class Route(Strict):
    name: str
    id: str | None = None
    service: str | None = None
    hosts: Names = []
    paths: Names = []
    methods: Names = []
    protocols: list[Literal["http", "https"]] = ["http", "https"]
    strip_path: bool = True
    preserve_host: bool = False
    regex_priority: int = 0
    https_redirect_status_code: Literal[426, 301, 302, 307, 308] = 426
    path_handling: Literal["v0", "v1"] = "v0"
    request_buffering: bool = True
    response_buffering: bool = True
    tags: Names = []
    plugins: list[PluginEntity] = []

    @model_validator(mode="after")
    def _kong_route_checks(self) -> Route:
        if not (self.hosts or self.paths or self.methods):
            raise fail("at least one of hosts, paths, methods", None)
        for host in self.hosts:
            bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            stars = bare.count("*")
            if stars > 1 or (stars == 1 and not (bare.startswith("*.") or bare.endswith(".*"))):
                raise fail("a host with at most one '*' as the whole leftmost or rightmost "
                           "label", host, "hosts")
        for path in self.paths:
            if not (path.startswith("/") or path.startswith("~/")):
                raise fail("a path starting with '/' or '~/'", path, "paths")
            if not path.startswith("~") and "//" in path:
                raise fail("a path without '//'", path, "paths")
            if not path.startswith("~") and normalize(path) != path:
                # Kong's router_path typedef: the router matches normalised request paths,
                # so a plain path that normalisation would change could never match.
                raise fail(f"a normalized path (Kong: non-normalized path, consider use "
                           f"'{normalize(path)}' instead)", path, "paths")
        for method in self.methods:
            if method != method.upper():
                raise fail("an upper-case HTTP method", method, "methods")
        return self


class Service(Strict):
    name: str
    id: str | None = None
    protocol: Literal["http", "https"] = "http"
    host: str
    port: Annotated[int, Field(ge=0, le=65535)] = 80
    path: str | None = None
    retries: Annotated[int, Field(ge=0, le=32767)] = 5
    connect_timeout: Timeout = 60000
    write_timeout: Timeout = 60000
    read_timeout: Timeout = 60000
    enabled: bool = True
    tags: Names = []
    routes: list[Route] = []
    plugins: list[PluginEntity] = []


class _Statuses(Strict):
    http_statuses: list[Annotated[int, Field(ge=100, le=999)]]


class ActiveHealthy(_Statuses):
    interval: Interval = 0
    successes: Counter = 0
    http_statuses: list[Annotated[int, Field(ge=100, le=999)]] = [200, 302]


class ActiveUnhealthy(_Statuses):
    interval: Interval = 0
    http_failures: Counter = 0
    tcp_failures: Counter = 0
    timeouts: Counter = 0
    http_statuses: list[Annotated[int, Field(ge=100, le=999)]] = [
        429, 404, 500, 501, 502, 503, 504, 505]


class ActiveHealthcheck(Strict):
    type: Literal["http", "tcp"] = "http"
    timeout: Annotated[float, Field(ge=0)] = 1
    concurrency: Annotated[int, Field(ge=1)] = 10
    http_path: str = "/"
    headers: dict[str, list[str]] | None = None
    healthy: ActiveHealthy = ActiveHealthy()
    unhealthy: ActiveUnhealthy = ActiveUnhealthy()

    @model_validator(mode="before")
    @classmethod
    def _int_timeout(cls, data: object) -> object:
        if isinstance(data, dict) and type(data.get("timeout")) is int:
            data = {**data, "timeout": float(data["timeout"])}
        return data


class PassiveHealthy(_Statuses):
    successes: Counter = 0
    http_statuses: list[Annotated[int, Field(ge=100, le=999)]] = [
        200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
        300, 301, 302, 303, 304, 305, 306, 307, 308]


class PassiveUnhealthy(_Statuses):
    http_failures: Counter = 0
    tcp_failures: Counter = 0
    timeouts: Counter = 0
    http_statuses: list[Annotated[int, Field(ge=100, le=999)]] = [429, 500, 503]


class PassiveHealthcheck(Strict):
    type: Literal["http", "tcp"] = "http"
    healthy: PassiveHealthy = PassiveHealthy()
    unhealthy: PassiveUnhealthy = PassiveUnhealthy()


class Healthchecks(Strict):
    threshold: Annotated[float, Field(ge=0, le=100)] = 0
    active: ActiveHealthcheck = ActiveHealthcheck()
    passive: PassiveHealthcheck = PassiveHealthcheck()

    @model_validator(mode="before")
    @classmethod
    def _int_threshold(cls, data: object) -> object:
        if isinstance(data, dict) and type(data.get("threshold")) is int:
            data = {**data, "threshold": float(data["threshold"])}
        return data

    @property
    def enabled(self) -> bool:
        """Kong creates a healthchecker only when one of these is non-zero."""
        a, p = self.active, self.passive.unhealthy
        return bool(a.healthy.interval or a.unhealthy.interval or p.http_failures
                    or p.tcp_failures or p.timeouts)


class Target(Strict):
    target: str
    weight: Annotated[int, Field(ge=0, le=65535)] = 100
    tags: Names = []

    @property
    def host(self) -> str:
        return self.target.rsplit(":", 1)[0] if ":" in self.target else self.target

    @property
    def port(self) -> int:
        # Kong's default target port is 8000.
        return int(self.target.rsplit(":", 1)[1]) if ":" in self.target else 8000


class Upstream(Strict):
    name: str
    id: str | None = None
    algorithm: Literal["round-robin"] = "round-robin"
    slots: Annotated[int, Field(ge=10, le=65536)] = 10000
    host_header: str | None = None
    healthchecks: Healthchecks = Healthchecks()
    targets: list[Target] = []
    tags: Names = []


class JwtSecret(Strict):
    key: str
    algorithm: Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"] = "HS256"
    secret: str | None = None
    rsa_public_key: str | None = None
    tags: Names = []

    @model_validator(mode="after")
    def _rsa_needs_key(self) -> JwtSecret:
        if self.algorithm[0] in "RE" and not (self.rsa_public_key or "").startswith("-----BEGIN"):
            raise fail("a PEM rsa_public_key for an RS*/ES* credential", self.rsa_public_key,
                       "rsa_public_key")
        return self


class Consumer(Strict):
    username: str
    id: str | None = None
    custom_id: str | None = None
    tags: Names = []
    jwt_secrets: list[JwtSecret] = []
    plugins: list[PluginEntity] = []


class Sni(Strict):
    name: str
    tags: Names = []


class Certificate(Strict):
    id: str
    cert: str
    key: str
    snis: list[Sni] = []
    tags: Names = []


class KongConfig(Strict):
    format_version: Literal["3.0"] = Field(alias="_format_version")
    services: list[Service] = []
    routes: list[Route] = []
    upstreams: list[Upstream] = []
    consumers: list[Consumer] = []
    plugins: list[PluginEntity] = []
    certificates: list[Certificate] = []
