"""Plugin iteration with Kong's scoping (kong-behaviour.md §8).

Each plugin entity is instantiated once. Per route (and for "no route") a
table maps consumer -> {plugin name -> instance} using Kong's precedence;
only consumers that have consumer-scoped plugins get their own table. At run
time each plugin's instance is looked up with the consumer current at the
moment it runs, so a consumer authenticated by an earlier plugin (jwt,
tenant-context) selects consumer-scoped instances of later plugins.

As in Kong 3.x (delay_response in the access phase), after an `Exit` the
remaining plugins are still collected, without running their access, so
their header_filter and log phases run for the generated response. An
exception in access (a Lua error in Kong) is a delayed
`kong.response.error(500, "An unexpected error occurred")` the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import ClientBodyError, ConfigError
from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request, Response
from harness.model import Gateway, RouteView, ScopedPlugin

__all__ = ["Chain", "RoutePlugins", "load_registry"]

log = logging.getLogger("harness.gateway.chain")


def load_registry() -> Mapping[str, type[Plugin]]:
    """harness.gateway.plugins.REGISTRY (name -> Plugin subclass); {} until it exists."""
    try:
        from harness.gateway import plugins
    except ImportError:  # pragma: no cover - the package always exists in the tree
        return {}
    return getattr(plugins, "REGISTRY", {})


def _overrides(inst: Plugin, phase: str) -> bool:
    return getattr(type(inst), phase) is not getattr(Plugin, phase)


@dataclass
class RoutePlugins:
    """The plugin tables of one route (or of requests without a route)."""

    order: tuple[str, ...]                             # every plugin name that may apply
    tables: dict[str | None, dict[str, Plugin]]        # consumer -> name -> instance

    def instances(self, consumer: str | None) -> dict[str, Plugin]:
        return self.tables.get(consumer) or self.tables[None]


class Chain:
    def __init__(self, gateway: Gateway, runtime: object,
                 registry: Mapping[str, type[Plugin]] | None = None,
                 *, strict: bool = False, quiet: bool = False) -> None:
        self.gateway = gateway
        registry = load_registry() if registry is None else registry
        self._instances: dict[int, Plugin] = {}
        for sp in gateway.plugins:
            if not sp.plugin.enabled:
                continue
            cls = registry.get(sp.name)
            if cls is None:
                if strict:
                    raise ConfigError(str(gateway.kong_file), sp.source,
                                      "a plugin the reference gateway implements", sp.name)
                if not quiet:
                    print(f"harness.gateway: warning: plugin {sp.name!r} ({sp.source}) has no "
                          "implementation yet; skipped", file=sys.stderr)
                continue
            inst = cls(sp.plugin.config, runtime)
            inst.scope = sp
            self._instances[id(sp)] = inst
        consumers = sorted({sp.consumer for sp in gateway.plugins if sp.consumer})
        self.by_route: dict[str, RoutePlugins] = {
            view.name: self._table(view, consumers) for view in gateway.routes}
        self.no_route = self._table(None, consumers)

    def _pick(self, scoped: list[ScopedPlugin]) -> dict[str, Plugin]:
        return {sp.name: self._instances[id(sp)] for sp in scoped if id(sp) in self._instances}

    def _table(self, view: RouteView | None, consumers: list[str]) -> RoutePlugins:
        base = self._pick(self.gateway.plugins_for(view, None))
        tables: dict[str | None, dict[str, Plugin]] = {None: base}
        names = set(base)
        for c in consumers:
            t = self._pick(self.gateway.plugins_for(view, c))
            if t != base:
                tables[c] = t
                names |= set(t)
        order = tuple(sorted(names, key=lambda n: -next(
            p.priority for p in self.instances_named(n, tables))))
        return RoutePlugins(order, tables)

    @staticmethod
    def instances_named(name: str, tables: dict[str | None, dict[str, Plugin]]) -> list[Plugin]:
        return [t[name] for t in tables.values() if name in t]

    def instances(self) -> list[Plugin]:
        return list(self._instances.values())

    # -- phases ----------------------------------------------------------
    async def access(self, rp: RoutePlugins, req: Request, ctx: Ctx
                     ) -> tuple[list[Plugin], Exit | None]:
        """Run access phases; return the collected instances and the Exit, if any."""
        collected: list[Plugin] = []
        exit_: Exit | None = None
        tables = rp.tables
        base = tables[None]
        for name in rp.order:
            consumer = ctx.consumer
            table = base if consumer is None else tables.get(consumer.username, base)
            inst = table.get(name)
            if inst is None:
                continue
            collected.append(inst)
            if exit_ is None:
                try:
                    await inst.access(req, ctx)
                except Exit as e:
                    exit_ = e
                except ClientBodyError:
                    raise   # a malformed request body: the data plane answers 400
                except Exception:
                    # Kong 3.x (init.lua execute_collecting_plugins_iterator): a Lua
                    # error becomes a delayed 500 flushed with kong.response.error
                    # (Accept-negotiated, JSON default); the rest are still collected.
                    log.exception("plugin %s failed in access phase", type(inst).name)
                    exit_ = Exit.error(500, "An unexpected error occurred")
        return collected, exit_

    @staticmethod
    def header_filter(collected: list[Plugin], req: Request, resp: Response, ctx: Ctx) -> None:
        for inst in collected:
            inst.header_filter(req, resp, ctx)

    @staticmethod
    def log(collected: list[Plugin], req: Request, resp: Response, ctx: Ctx) -> None:
        for inst in collected:
            try:
                inst.log(req, resp, ctx)
            except Exception:  # a log-phase error never breaks the response (Kong logs it)
                log.exception("plugin %s failed in log phase", type(inst).name)
