"""Typed configs of the plugins our kong.yml may use, with Kong 3.x defaults.

Field names, defaults and constraints follow each plugin's ``schema.lua`` in
Kong (see ../shared/reference/kong-behaviour.md §2-§6). A plugin or field that
is not here is an error at load time: the reference gateway never ignores
configuration it does not implement.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from harness.model._base import Strict, fail

__all__ = [
    "CorrelationIdConfig",
    "CorsConfig",
    "FileLogConfig",
    "JwtConfig",
    "PLUGIN_PRIORITIES",
    "PluginEntity",
    "PrometheusConfig",
    "RateLimitingConfig",
    "RedisConfig",
    "RequestSizeLimitingConfig",
    "RequestTransformerConfig",
    "ResponseTransformerConfig",
    "TenantContextConfig",
]

Number = Annotated[float, Field(gt=0)]
Names = list[str]

# Kong's static priorities (higher runs first in every phase).
PLUGIN_PRIORITIES: dict[str, int] = {
    "correlation-id": 100001,
    "cors": 2000,
    "jwt": 1450,
    "tenant-context": 1000,
    "request-size-limiting": 951,
    "rate-limiting": 910,
    "request-transformer": 801,
    "response-transformer": 800,
    "prometheus": 13,
    "file-log": 9,
}

ALL_METHODS = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


class JwtConfig(Strict):
    uri_param_names: Names = ["jwt"]
    cookie_names: Names = []
    header_names: Names = ["authorization"]
    key_claim_name: str = "iss"
    secret_is_base64: bool = False
    claims_to_verify: list[Literal["exp", "nbf"]] | None = None
    maximum_expiration: Annotated[int, Field(ge=0, le=31536000)] = 0
    run_on_preflight: bool = True
    anonymous: str | None = None
    realm: str | None = None

    @model_validator(mode="after")
    def _max_exp_needs_exp(self) -> JwtConfig:
        if self.maximum_expiration > 0 and "exp" not in (self.claims_to_verify or []):
            raise fail("claims_to_verify to contain 'exp' when maximum_expiration > 0",
                       self.claims_to_verify, "claims_to_verify")
        return self


class RedisConfig(Strict):
    host: str | None = None
    port: Annotated[int, Field(ge=0, le=65535)] = 6379
    timeout: Annotated[int, Field(ge=0)] = 2000
    username: str | None = None
    password: str | None = None
    database: int = 0
    ssl: bool = False
    ssl_verify: bool = False
    server_name: str | None = None


_WINDOWS = ("second", "minute", "hour", "day", "month", "year")


class RateLimitingConfig(Strict):
    second: Number | None = None
    minute: Number | None = None
    hour: Number | None = None
    day: Number | None = None
    month: Number | None = None
    year: Number | None = None
    limit_by: Literal["consumer", "credential", "ip", "service", "header", "path"] = "consumer"
    header_name: str | None = None
    path: str | None = None
    policy: Literal["local", "redis"] = "local"
    fault_tolerant: bool = True
    hide_client_headers: bool = False
    error_code: Annotated[int, Field(ge=100, le=599)] = 429
    error_message: str = "API rate limit exceeded"
    sync_rate: float = -1
    redis: RedisConfig = RedisConfig()

    @model_validator(mode="before")
    @classmethod
    def _ints_are_numbers(cls, data: object) -> object:
        # Kong's `number` accepts integers; strict pydantic floats would too,
        # but YAML ints must stay exact for the headers we print.
        if isinstance(data, dict):
            data = {k: (float(v) if k in _WINDOWS and type(v) is int else v)
                    for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _kong_entity_checks(self) -> RateLimitingConfig:
        limits = self.limits()
        if not limits:
            raise fail("at least one of second, minute, hour, day, month, year", "none")
        ordered = list(limits.items())
        for (small, s_val), (big, b_val) in zip(ordered, ordered[1:]):
            if b_val < s_val:
                raise fail(f"the limit for {big} ({b_val}) not lower than the limit for "
                           f"{small} ({s_val})", b_val)
        if self.limit_by == "header" and not self.header_name:
            raise fail("header_name when limit_by is 'header'", None)
        if self.limit_by == "path" and not self.path:
            raise fail("path when limit_by is 'path'", None)
        if self.policy == "redis" and not self.redis.host:
            raise fail("redis.host when policy is 'redis'", None)
        if self.sync_rate != -1:
            raise fail("sync_rate -1 (synchronous counting; batched sync is not implemented "
                       "by the reference gateway)", self.sync_rate)
        return self

    def limits(self) -> dict[str, int]:
        """Configured windows, smallest first, as whole numbers."""
        return {w: int(getattr(self, w)) for w in _WINDOWS if getattr(self, w) is not None}


class CorrelationIdConfig(Strict):
    header_name: str = "Kong-Request-ID"
    generator: Literal["uuid", "uuid#counter", "tracker"] = "uuid#counter"
    echo_downstream: bool = False


class CorsConfig(Strict):
    origins: Names | None = None
    headers: Names | None = None
    exposed_headers: Names | None = None
    methods: list[Literal["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS",
                          "TRACE", "CONNECT"]] = list(ALL_METHODS)  # type: ignore[arg-type]
    max_age: Annotated[int, Field(ge=0)] | None = None
    credentials: bool = False
    private_network: bool = False
    preflight_continue: bool = False
    allow_origin_absent: bool = True


class RequestSizeLimitingConfig(Strict):
    allowed_payload_size: Annotated[int, Field(gt=0)] = 128
    size_unit: Literal["megabytes", "kilobytes", "bytes"] = "megabytes"
    require_content_length: bool = False

    def limit_bytes(self) -> int:
        unit = {"megabytes": 1048576, "kilobytes": 1024, "bytes": 1}[self.size_unit]
        return self.allowed_payload_size * unit


class _ReqRemove(Strict):
    headers: Names = []
    querystring: Names = []
    body: Names = []


class _ReqReplace(_ReqRemove):
    uri: str | None = None


class RequestTransformerConfig(Strict):
    http_method: str | None = None
    remove: _ReqRemove = _ReqRemove()
    rename: _ReqRemove = _ReqRemove()
    replace: _ReqReplace = _ReqReplace()
    add: _ReqRemove = _ReqRemove()
    append: _ReqRemove = _ReqRemove()


class _RespRemove(Strict):
    headers: Names = []
    json_: Names = Field(default=[], alias="json")


class _RespAdd(_RespRemove):
    json_types: list[Literal["boolean", "number", "string"]] = []


class ResponseTransformerConfig(Strict):
    remove: _RespRemove = _RespRemove()
    rename: _RespRemove = _RespRemove()
    replace: _RespAdd = _RespAdd()
    add: _RespAdd = _RespAdd()
    append: _RespAdd = _RespAdd()


class PrometheusConfig(Strict):
    per_consumer: bool = False
    status_code_metrics: bool = False
    latency_metrics: bool = False
    bandwidth_metrics: bool = False
    upstream_health_metrics: bool = False


class FileLogConfig(Strict):
    path: str
    reopen: bool = False


class TenantContextConfig(Strict):
    """Mirror of kong/custom-plugins/tenant-context/schema.lua (kept equal by a test)."""

    tenant_service_url: str
    cache_ttl: Annotated[int, Field(gt=0)] = 30
    negative_cache_ttl: Annotated[int, Field(ge=0, le=86400)] = 5
    timeout: Annotated[int, Field(gt=0)] = 1000
    issuer: Annotated[str, Field(min_length=1)]
    audience: Annotated[str, Field(min_length=1)]
    tenant_claim: Annotated[str, Field(min_length=1)] = "tenant_id"
    tier_consumer_prefix: Annotated[str, Field(min_length=1)] = "tier-"
    # Kong's typedefs.header_name character set.
    tenant_header: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]+$")] = "X-Tenant-ID"
    tier_header: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]+$")] = "X-Tenant-Tier"
    public_routes: list[Annotated[str, Field(min_length=1)]] = []

    @model_validator(mode="after")
    def _headers_differ(self) -> TenantContextConfig:
        # schema.lua entity check: one header cannot carry both values.
        if self.tenant_header.lower() == self.tier_header.lower():
            raise fail("tenant_header and tier_header to differ", self.tier_header, "tier_header")
        return self


class _PluginBase(Strict):
    id: str | None = None
    enabled: bool = True
    protocols: list[Literal["http", "https", "grpc", "grpcs"]] = ["http", "https", "grpc", "grpcs"]
    route: str | None = None
    service: str | None = None
    consumer: str | None = None
    instance_name: str | None = None
    tags: Names = []


class JwtPlugin(_PluginBase):
    name: Literal["jwt"]
    config: JwtConfig = JwtConfig()


class RateLimitingPlugin(_PluginBase):
    name: Literal["rate-limiting"]
    config: RateLimitingConfig


class CorrelationIdPlugin(_PluginBase):
    name: Literal["correlation-id"]
    config: CorrelationIdConfig = CorrelationIdConfig()


class CorsPlugin(_PluginBase):
    name: Literal["cors"]
    config: CorsConfig = CorsConfig()


class RequestSizeLimitingPlugin(_PluginBase):
    name: Literal["request-size-limiting"]
    config: RequestSizeLimitingConfig = RequestSizeLimitingConfig()


class RequestTransformerPlugin(_PluginBase):
    name: Literal["request-transformer"]
    config: RequestTransformerConfig = RequestTransformerConfig()


class ResponseTransformerPlugin(_PluginBase):
    name: Literal["response-transformer"]
    config: ResponseTransformerConfig = ResponseTransformerConfig()


class PrometheusPlugin(_PluginBase):
    name: Literal["prometheus"]
    config: PrometheusConfig = PrometheusConfig()


class FileLogPlugin(_PluginBase):
    name: Literal["file-log"]
    config: FileLogConfig


class TenantContextPlugin(_PluginBase):
    name: Literal["tenant-context"]
    config: TenantContextConfig


PluginEntity = Annotated[
    Union[
        JwtPlugin,
        RateLimitingPlugin,
        CorrelationIdPlugin,
        CorsPlugin,
        RequestSizeLimitingPlugin,
        RequestTransformerPlugin,
        ResponseTransformerPlugin,
        PrometheusPlugin,
        FileLogPlugin,
        TenantContextPlugin,
    ],
    Field(discriminator="name"),
]
