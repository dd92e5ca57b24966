"""The tier catalogue and the tenant directory (kong/tiers.yaml, kong/tenants.yaml)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.model._base import Strict, fail

__all__ = ["Tenant", "TenantDirectory", "Tier", "TierCatalogue", "TierLimits"]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
Limit = Annotated[int, Field(gt=0)]


class TierLimits(Strict):
    second: Limit | None = None
    minute: Limit | None = None
    hour: Limit | None = None
    day: Limit | None = None

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Tier(Strict):
    description: str = ""
    limits: TierLimits

    @model_validator(mode="after")
    def _has_limits(self) -> Tier:
        if not self.limits.as_dict():
            raise fail("at least one limit (second, minute, hour, day)", {})
        return self


class TierCatalogue(Strict):
    format_version: Literal["1"] = Field(alias="_format_version")
    tiers: dict[str, Tier]


class Tenant(Strict):
    id: Annotated[str, Field(pattern=_LABEL.pattern)]
    name: str
    subdomain: str
    custom_domains: list[str] = []
    tier: str
    status: Literal["active", "suspended"] = "active"

    @model_validator(mode="after")
    def _valid_names(self) -> Tenant:
        if not _LABEL.match(self.subdomain):
            raise fail("a lower-case DNS label", self.subdomain, "subdomain")
        for domain in self.custom_domains:
            if not _DOMAIN.match(domain):
                raise fail("a lower-case domain name", domain, "custom_domains")
        return self

    @property
    def active(self) -> bool:
        return self.status == "active"


class TenantDirectory(Strict):
    format_version: Literal["1"] = Field(alias="_format_version")
    base_domain: str
    tenants: list[Tenant]

    def host_of(self, tenant: Tenant) -> str:
        return f"{tenant.subdomain}.{self.base_domain}"
