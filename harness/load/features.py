"""Feature tags of a load task, derived from what kong.yml applies to its route.

The vocabulary is the contract suite's (harness.contracts.features, owned by
the contract engineer); until that module exists, the names of the pytest
feature markers declared in pyproject.toml are used, which it mirrors.
"""

from __future__ import annotations

from functools import lru_cache

from harness.model import Gateway

__all__ = ["features_of"]

# plugin name -> feature (marker) name
_BY_PLUGIN = {
    "jwt": "jwt",
    "tenant-context": "tenant",
    "rate-limiting": "rate_limit",
    "request-transformer": "transform",
    "response-transformer": "transform",
    "correlation-id": "transform",
    "cors": "transform",
    "prometheus": "observability",
}


def _vocabulary() -> set[str] | None:
    try:
        from harness.contracts import features as contract_features
    except ImportError:
        return None
    enum = getattr(contract_features, "Feature", None)
    if enum is None:
        return None
    return {str(getattr(m, "value", m)) for m in enum}


@lru_cache(maxsize=None)
def _known() -> frozenset[str] | None:
    vocab = _vocabulary()
    return frozenset(vocab) if vocab is not None else None


def features_of(gateway: Gateway, route_name: str) -> list[str]:
    view = gateway.route(route_name)
    names = {"routing"}
    consumers = [None] + [gateway.tier_consumer(t) for t in gateway.tiers.tiers]
    for consumer in consumers:
        for sp in gateway.plugins_for(view, consumer):
            if sp.name in _BY_PLUGIN:
                names.add(_BY_PLUGIN[sp.name])
    if "http" not in view.route.protocols:
        names.add("tls")
    if view.upstream is not None and len(view.upstream.targets) > 1:
        names.add("breaker")
    known = _known()
    if known is not None:
        # Keep only the contract vocabulary's names (also accepting its kebab-case spelling).
        mapped = set()
        for n in names:
            for cand in (n, n.replace("_", "-")):
                if cand in known:
                    mapped.add(cand)
        names = mapped or names
    return sorted(names)
