"""Strict loading of kong.yml, the tier catalogue and the tenant directory.

Every problem is a ConfigError naming the file, the dotted field path, what
was expected and what was seen. Reference checks (a route to a missing
service, a tenant on an unknown tier, a domain claimed twice, ...) run after
the shape checks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError
from harness.model._base import to_config_error
from harness.model.directory import TenantDirectory, TierCatalogue
from harness.model.gateway import Gateway, ScopedPlugin
from harness.model.kong import KongConfig
from harness.model.plugins import RateLimitingConfig

__all__ = ["DEFAULT_PATHS", "load_gateway", "load_yaml"]

DEFAULT_PATHS = {
    "kong": Path("kong/declarative-config/kong.yml"),
    "tiers": Path("kong/tiers.yaml"),
    "tenants": Path("kong/tenants.yaml"),
}

M = TypeVar("M", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise ConfigError(str(mark.name), f"line {mark.line + 1}",
                              "each key once per mapping", f"duplicate key {key!r}",
                              raw_got=True)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", "a readable file", exc.strerror or str(exc),
                          raw_got=True) from None
    try:
        loader = _StrictLoader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(str(path), where, "valid YAML",
                          getattr(exc, "problem", None) or str(exc), raw_got=True) from None


def _parse(model: type[M], path: Path) -> tuple[M, Any]:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "", "a mapping at the top level", type(raw).__name__,
                          raw_got=True)
    try:
        return model.model_validate(raw), raw
    except ValidationError as exc:
        raise to_config_error(exc, str(path), raw) from None


def _scoped_plugins(kong: KongConfig) -> list[ScopedPlugin]:
    out: list[ScopedPlugin] = []
    for i, p in enumerate(kong.plugins):
        out.append(ScopedPlugin(p, p.route, p.service, p.consumer, f"plugins[{p.name}]"))
    for svc in kong.services:
        for p in svc.plugins:
            out.append(ScopedPlugin(p, None, svc.name, p.consumer,
                                    f"services[{svc.name}].plugins[{p.name}]"))
        for r in svc.routes:
            for p in r.plugins:
                out.append(ScopedPlugin(p, r.name, None, p.consumer,
                                        f"services[{svc.name}].routes[{r.name}].plugins[{p.name}]"))
    for r in kong.routes:
        for p in r.plugins:
            out.append(ScopedPlugin(p, r.name, None, p.consumer,
                                    f"routes[{r.name}].plugins[{p.name}]"))
    for c in kong.consumers:
        for p in c.plugins:
            out.append(ScopedPlugin(p, p.route, p.service, c.username,
                                    f"consumers[{c.username}].plugins[{p.name}]"))
    return out


def _unique(file: str, what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(file, f"{what}[{n}]", f"unique {what} names", f"{n!r} twice",
                              raw_got=True)
        seen.add(n)


def _check_kong_refs(kong: KongConfig, plugins: list[ScopedPlugin], file: str) -> None:
    _unique(file, "services", [s.name for s in kong.services])
    _unique(file, "routes", [r.name for s in kong.services for r in s.routes]
            + [r.name for r in kong.routes])
    _unique(file, "upstreams", [u.name for u in kong.upstreams])
    _unique(file, "consumers", [c.username for c in kong.consumers])
    services = {s.name for s in kong.services}
    routes = {r.name for s in kong.services for r in s.routes} | {r.name for r in kong.routes}
    consumers = {c.username for c in kong.consumers}
    upstreams = {u.name: u for u in kong.upstreams}
    for r in kong.routes:
        if r.service not in services:
            raise ConfigError(file, f"routes[{r.name}].service",
                              f"the name of a service ({', '.join(sorted(services))})", r.service)
    for sp in plugins:
        for attr, known in (("route", routes), ("service", services), ("consumer", consumers)):
            ref = getattr(sp.plugin, attr)
            if ref is not None and ref not in known:
                raise ConfigError(file, f"{sp.source}.{attr}",
                                  f"the name of an existing {attr}", ref)
    for svc in kong.services:
        up = upstreams.get(svc.host)
        if up is not None and not up.targets:
            raise ConfigError(file, f"upstreams[{up.name}].targets",
                              f"at least one target for service {svc.name}", [])


def _check_directory(gw: Gateway) -> None:
    tiers_file, tenants_file, kong_file = str(gw.tiers_file), str(gw.tenants_file), str(gw.kong_file)
    tiers = gw.tiers.tiers
    owner: dict[str, str] = {}
    ids: set[str] = set()
    route_hosts = {h for view in gw.routes for h in view.route.hosts}
    for t in gw.tenants.tenants:
        base = f"tenants[{t.id}]"
        if t.id in ids:
            raise ConfigError(tenants_file, base, "unique tenant ids", f"{t.id!r} twice",
                              raw_got=True)
        ids.add(t.id)
        if t.tier not in tiers:
            raise ConfigError(tenants_file, f"{base}.tier",
                              f"a tier of {tiers_file} ({', '.join(tiers)})", t.tier)
        for i, host in enumerate([gw.tenants.host_of(t), *t.custom_domains]):
            field = f"{base}.subdomain" if i == 0 else f"{base}.custom_domains[{i - 1}]"
            if host in owner:
                raise ConfigError(tenants_file, field,
                                  "a domain no other tenant claims",
                                  f"{host!r}, already claimed by tenant {owner[host]!r}",
                                  raw_got=True)
            owner[host] = t.id
            if i > 0 and host not in route_hosts:
                raise ConfigError(kong_file, "services[*].routes[*].hosts",
                                  f"the custom domain {host} of tenant {t.id} "
                                  f"({tenants_file}) on a route", "no route with that host",
                                  raw_got=True)
    tc = gw.tenant_context
    if tc is None:
        return
    for tier, spec in tiers.items():
        username = gw.tier_consumer(tier)
        consumer = gw.consumers.get(username)
        if consumer is None:
            raise ConfigError(kong_file, f"consumers[{username}]",
                              f"a consumer for tier {tier!r} of {tiers_file}", "none",
                              raw_got=True)
        rl = [p for p in consumer.plugins if p.name == "rate-limiting"]
        if not rl:
            raise ConfigError(kong_file, f"consumers[{username}].plugins",
                              "a rate-limiting plugin", [p.name for p in consumer.plugins])
        cfg = rl[0].config
        assert isinstance(cfg, RateLimitingConfig)
        want = spec.limits.as_dict()
        got = cfg.limits()
        for window in sorted(set(want) | set(got)):
            if want.get(window) != got.get(window):
                raise ConfigError(kong_file,
                                  f"consumers[{username}].plugins[rate-limiting].config.{window}",
                                  f"{want.get(window)} ({tiers_file}: tiers.{tier}.limits."
                                  f"{window})", got.get(window))


def load_gateway(root: Path | str = ".", *, kong: Path | str | None = None,
                 tiers: Path | str | None = None, tenants: Path | str | None = None) -> Gateway:
    """Load and cross-check the gateway config. Paths default to the repo layout under root."""
    root = Path(root)
    kong_path = Path(kong) if kong else root / DEFAULT_PATHS["kong"]
    tiers_path = Path(tiers) if tiers else root / DEFAULT_PATHS["tiers"]
    tenants_path = Path(tenants) if tenants else root / DEFAULT_PATHS["tenants"]
    kong_cfg, _ = _parse(KongConfig, kong_path)
    tier_cat, _ = _parse(TierCatalogue, tiers_path)
    directory, _ = _parse(TenantDirectory, tenants_path)
    plugins = _scoped_plugins(kong_cfg)
    _check_kong_refs(kong_cfg, plugins, str(kong_path))
    digest = hashlib.sha256()
    for p in (kong_path, tiers_path, tenants_path):
        digest.update(p.read_bytes())
    gw = Gateway(kong_cfg, tier_cat, directory, kong_path, tiers_path, tenants_path,
                 digest.hexdigest()[:16], tuple(plugins))
    _check_directory(gw)
    return gw
