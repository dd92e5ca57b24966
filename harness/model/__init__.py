"""One typed model of the gateway config: kong.yml, tiers and tenants."""

from harness.model.directory import Tenant, TenantDirectory, Tier, TierCatalogue, TierLimits
from harness.model.gateway import Gateway, RouteView, ScopedPlugin
from harness.model.kong import (
    Certificate,
    Consumer,
    Healthchecks,
    JwtSecret,
    KongConfig,
    Route,
    Service,
    Target,
    Upstream,
)
from harness.model.loader import DEFAULT_PATHS, load_gateway, load_yaml
from harness.model.plugins import PLUGIN_PRIORITIES

__all__ = [
    "Certificate",
    "Consumer",
    "DEFAULT_PATHS",
    "Gateway",
    "Healthchecks",
    "JwtSecret",
    "KongConfig",
    "PLUGIN_PRIORITIES",
    "Route",
    "RouteView",
    "ScopedPlugin",
    "Service",
    "Target",
    "Tenant",
    "TenantDirectory",
    "Tier",
    "TierCatalogue",
    "TierLimits",
    "Upstream",
    "load_gateway",
    "load_yaml",
]
