"""The loaded gateway: kong.yml + tier catalogue + tenant directory, cross-checked.

`Gateway` keeps the parse shapes (`kong`, `tiers`, `tenants`) apart from the
derived lookups every layer needs (flattened routes with their service and
upstream, plugins with their scope, tenants by host).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from harness.model._base import Strict
from harness.model.directory import Tenant, TenantDirectory, TierCatalogue
from harness.model.kong import Consumer, KongConfig, Route, Service, Upstream
from harness.model.plugins import PLUGIN_PRIORITIES, PluginEntity, TenantContextConfig

__all__ = ["Gateway", "RouteView", "ScopedPlugin"]

C = TypeVar("C", bound=Strict)


@dataclass(frozen=True)
class ScopedPlugin:
    """A plugin instance with the scope Kong gives it (names, None = any)."""

    plugin: PluginEntity
    route: str | None
    service: str | None
    consumer: str | None
    source: str  # dotted path in kong.yml, for messages

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def priority(self) -> int:
        return PLUGIN_PRIORITIES[self.plugin.name]

    def precedence(self) -> int:
        """Kong's lookup order: route+service+consumer beats ... beats global."""
        r, s, c = self.route is not None, self.service is not None, self.consumer is not None
        order = [(True, True, True), (True, False, True), (False, True, True),
                 (True, True, False), (False, False, True), (True, False, False),
                 (False, True, False), (False, False, False)]
        return len(order) - order.index((r, s, c))


@dataclass(frozen=True)
class RouteView:
    route: Route
    service: Service
    upstream: Upstream | None

    @property
    def name(self) -> str:
        return self.route.name


@dataclass(frozen=True)
class Gateway:
    kong: KongConfig
    tiers: TierCatalogue
    tenants: TenantDirectory
    kong_file: Path
    tiers_file: Path
    tenants_file: Path
    config_hash: str
    plugins: tuple[ScopedPlugin, ...] = field(default=())

    # -- lookups --------------------------------------------------------
    @cached_property
    def services(self) -> dict[str, Service]:
        return {s.name: s for s in self.kong.services}

    @cached_property
    def upstreams(self) -> dict[str, Upstream]:
        return {u.name: u for u in self.kong.upstreams}

    @cached_property
    def consumers(self) -> dict[str, Consumer]:
        return {c.username: c for c in self.kong.consumers}

    @cached_property
    def routes(self) -> tuple[RouteView, ...]:
        views = []
        for svc in self.kong.services:
            for r in svc.routes:
                views.append(RouteView(r, svc, self.upstreams.get(svc.host)))
        for r in self.kong.routes:
            svc = self.services[r.service or ""]
            views.append(RouteView(r, svc, self.upstreams.get(svc.host)))
        return tuple(views)

    def route(self, name: str) -> RouteView:
        for view in self.routes:
            if view.name == name:
                return view
        raise KeyError(name)

    def plugins_for(self, route: RouteView | None, consumer: str | None = None
                    ) -> list[ScopedPlugin]:
        """Enabled plugins that apply, one instance per name, highest priority first."""
        chosen: dict[str, ScopedPlugin] = {}
        for sp in self.plugins:
            if not sp.plugin.enabled:
                continue
            if sp.route is not None and (route is None or sp.route != route.name):
                continue
            if sp.service is not None and (route is None or sp.service != route.service.name):
                continue
            if sp.consumer is not None and sp.consumer != consumer:
                continue
            best = chosen.get(sp.name)
            if best is None or sp.precedence() > best.precedence():
                chosen[sp.name] = sp
        return sorted(chosen.values(), key=lambda p: -p.priority)

    def plugin_config(self, route: RouteView | None, kind: type[C],
                      consumer: str | None = None) -> C | None:
        """The config of type `kind` (e.g. RequestSizeLimitingConfig) among the plugins
        that apply (plugins_for), or None: one plugin's settings, typed."""
        for sp in self.plugins_for(route, consumer):
            if isinstance(sp.plugin.config, kind):
                return sp.plugin.config
        return None

    def plugin_names(self) -> set[str]:
        return {sp.name for sp in self.plugins}

    @cached_property
    def tenant_context(self) -> TenantContextConfig | None:
        for sp in self.plugins:
            if sp.name == "tenant-context":
                return sp.plugin.config  # type: ignore[return-value]
        return None

    # -- tenants and tiers ----------------------------------------------
    @cached_property
    def tenants_by_host(self) -> dict[str, Tenant]:
        hosts: dict[str, Tenant] = {}
        for t in self.tenants.tenants:
            hosts[self.tenants.host_of(t)] = t
            for d in t.custom_domains:
                hosts[d] = t
        return hosts

    def tenant(self, tenant_id: str) -> Tenant:
        for t in self.tenants.tenants:
            if t.id == tenant_id:
                return t
        raise KeyError(tenant_id)

    def tier_limits(self, tier: str) -> dict[str, int]:
        return self.tiers.tiers[tier].limits.as_dict()

    def tier_consumer(self, tier: str) -> str:
        prefix = self.tenant_context.tier_consumer_prefix if self.tenant_context else "tier-"
        return f"{prefix}{tier}"
