"""Policy invariants (scenarios/policy.yaml) and their checker.

`check_policy(gateway, policy)` returns every violation as a readable
"expected … got …" line naming the route, plugin or tier; an empty list means
the config keeps the policy. The live half (no token -> 401 on every
protected route) is the `policy-live` scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from harness.errors import ConfigError
from harness.model import Gateway, load_yaml
from harness.model._base import Strict, to_config_error
from harness.model.plugins import JwtConfig, RateLimitingConfig

__all__ = ["POLICY_FILE", "Policy", "check_policy", "load_policy"]

POLICY_FILE = Path("scenarios/policy.yaml")
Window = Literal["second", "minute", "hour", "day", "month", "year"]


class JwtPolicy(Strict):
    claims_verified: list[Literal["exp", "nbf"]] = []
    max_expiration_at_most: int = Field(default=0, ge=0)
    algorithms: list[str] = []


class TierPolicy(Strict):
    windows: list[Window] = []
    order: list[str] = []


class TenantContextPolicy(Strict):
    plugin: str = "tenant-context"
    per_tenant_counting: bool = True


class Policy(Strict):
    format_version: Literal["1"] = Field(alias="_format_version")
    public_routes: list[str] = []
    jwt: JwtPolicy = JwtPolicy()
    tiers: TierPolicy = TierPolicy()
    tenant_context: TenantContextPolicy = TenantContextPolicy()


def load_policy(root: Path, path: Path | None = None) -> Policy:
    file = path or root / POLICY_FILE
    raw = load_yaml(file)
    if not isinstance(raw, dict):
        raise ConfigError(str(file), "", "a mapping at the top level", type(raw).__name__)
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise to_config_error(exc, str(file), raw) from None


def check_policy(gw: Gateway, policy: Policy) -> list[str]:
    """Every way the config breaks the policy (empty: it keeps it)."""
    out: list[str] = []
    kong = gw.kong_file.name
    names = {v.name for v in gw.routes}
    for r in policy.public_routes:
        if r not in names:
            out.append(f"policy public_routes: expected a route of {kong}, got {r!r} "
                       f"(routes: {sorted(names)})")
    for view in gw.routes:
        plugins = {sp.name: sp for sp in gw.plugins_for(view)}
        where = f"route {view.name} (service {view.service.name})"
        if policy.tenant_context.plugin not in plugins:
            out.append(f"{kong}: {where}: expected plugin {policy.tenant_context.plugin} "
                       f"(no backend without tenant context), got {sorted(plugins)}")
        if view.name in policy.public_routes:
            continue
        jwt = plugins.get("jwt")
        if jwt is None:
            out.append(f"{kong}: {where}: expected the jwt plugin (only "
                       f"{policy.public_routes} may skip it), got plugins {sorted(plugins)}")
            continue
        conf = jwt.plugin.config
        assert isinstance(conf, JwtConfig)
        missing = set(policy.jwt.claims_verified) - set(conf.claims_to_verify or [])
        if missing:
            out.append(f"{kong}: {jwt.source}.config.claims_to_verify: expected to contain "
                       f"{sorted(policy.jwt.claims_verified)}, got {conf.claims_to_verify}")
        cap = policy.jwt.max_expiration_at_most
        if cap and not 0 < conf.maximum_expiration <= cap:
            out.append(f"{kong}: {jwt.source}.config.maximum_expiration: expected 1..{cap}, "
                       f"got {conf.maximum_expiration}")
    if gw.tenant_context is not None:
        extra = set(gw.tenant_context.public_routes) - set(policy.public_routes)
        if extra:
            out.append(f"{kong}: tenant-context config.public_routes: expected a subset of "
                       f"the policy's {policy.public_routes}, got {gw.tenant_context.public_routes}")
    if policy.jwt.algorithms:
        for c in gw.kong.consumers:
            for cred in c.jwt_secrets:
                if cred.algorithm not in policy.jwt.algorithms:
                    out.append(f"{kong}: consumers.{c.username}.jwt_secrets.{cred.key}."
                               f"algorithm: expected one of {policy.jwt.algorithms}, got "
                               f"{cred.algorithm!r}")
    out += _tiers(gw, policy)
    return out


def _tiers(gw: Gateway, policy: Policy) -> list[str]:
    out: list[str] = []
    tiers_file = gw.tiers_file.name
    order = policy.tiers.order
    if order and sorted(order) != sorted(gw.tiers.tiers):
        out.append(f"policy tiers.order: expected exactly the tiers of {tiers_file} "
                   f"{sorted(gw.tiers.tiers)}, got {order}")
    for tier in gw.tiers.tiers:
        limits = gw.tier_limits(tier)
        for win in policy.tiers.windows:
            if win not in limits:
                out.append(f"{tiers_file}: tiers.{tier}.limits.{win}: expected a limit, "
                           f"got none (limits {limits})")
        consumer = gw.tier_consumer(tier)
        rl = next((sp for sp in gw.plugins if sp.name == "rate-limiting"
                   and sp.consumer == consumer), None)
        if rl is None:
            out.append(f"{gw.kong_file.name}: consumers.{consumer}: expected a rate-limiting "
                       f"plugin for tier {tier}, got none")
        elif policy.tenant_context.per_tenant_counting and gw.tenant_context is not None:
            c = rl.plugin.config
            assert isinstance(c, RateLimitingConfig)
            want = gw.tenant_context.tenant_header
            if c.limit_by != "header" or (c.header_name or "").lower() != want.lower():
                out.append(f"{gw.kong_file.name}: {rl.source}.config: expected limit_by "
                           f"header {want} (per-tenant counters), got limit_by {c.limit_by}"
                           + (f" {c.header_name}" if c.header_name else ""))
    known = [t for t in order if t in gw.tiers.tiers]
    for low, high in zip(known, known[1:]):
        a, b = gw.tier_limits(low), gw.tier_limits(high)
        for w in sorted(set(a) & set(b)):
            if not b[w] > a[w]:
                out.append(f"{tiers_file}: tiers.{high}.limits.{w}: expected more than tier "
                           f"{low}'s {a[w]} (limits grow with the tier), got {b[w]}")
    return out


def _register_check() -> None:
    from harness.validate import check

    @check("policy")
    def _policy(root: Path) -> list[str]:
        from harness.model import load_gateway

        return check_policy(load_gateway(root), load_policy(root))


_register_check()
