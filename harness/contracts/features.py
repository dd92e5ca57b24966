"""The closed vocabulary of contract features, what each target supports, and profiles.

Scenarios tag themselves only with `Feature` members (their values are also the
pytest marker names declared in pyproject.toml and the Locust `@tag` names of
the load profiles). A scenario whose feature a target does not support is
*skipped with a reason naming the feature*, never silently deselected.

`Capability` is what a scenario needs from the target beyond the proxy port
(stub fault control, the Tenant Service admin API, two replicas, ...); it is
known only once the target is up, so it is checked when a case runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CORE",
    "Capability",
    "EXTENDED",
    "Feature",
    "PROFILES",
    "Profile",
    "TARGET_FEATURES",
    "profile_of",
]


class Feature(str, Enum):
    ROUTING = "routing"
    TENANT = "tenant"
    JWT = "jwt"
    RATE_LIMIT = "rate_limit"
    BREAKER = "breaker"
    TRANSFORM = "transform"
    TLS = "tls"
    OBSERVABILITY = "observability"
    SECURITY = "security"
    FAULTS = "faults"            # process/backend faults: needs a controllable target

    def __str__(self) -> str:
        return self.value


class Capability(str, Enum):
    STUB_FAULTS = "stub-faults"          # the stub admin API (faults, counters)
    TENANT_ADMIN = "tenant-admin"        # Tenant Service admin API (fresh tenants)
    REPLICAS = "replicas"                # at least two gateway replicas
    TLS_PROXY = "tls-proxy"              # an HTTPS listener and the CA that signed it
    METRICS = "metrics"                  # Prometheus, or the gateway's /metrics
    ACCESS_LOG = "access-log"            # the gateway's JSON access log file

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Profile:
    name: str
    core: frozenset[Feature]
    extended: frozenset[Feature]

    @property
    def features(self) -> frozenset[Feature]:
        return self.core | self.extended


# Profiles as in Gateway API conformance: core features every conformant
# gateway must pass; extended ones a target may not support (skips).
PROFILES: tuple[Profile, ...] = (
    Profile("GATEWAY-HTTP",
            frozenset({Feature.ROUTING, Feature.TENANT, Feature.JWT}),
            frozenset({Feature.TRANSFORM, Feature.TLS, Feature.SECURITY})),
    Profile("GATEWAY-TIERS",
            frozenset({Feature.RATE_LIMIT}),
            frozenset()),
    Profile("GATEWAY-RESILIENCE",
            frozenset(),
            frozenset({Feature.BREAKER, Feature.FAULTS})),
    Profile("GATEWAY-OBSERVABILITY",
            frozenset(),
            frozenset({Feature.OBSERVABILITY})),
)
CORE: frozenset[Feature] = frozenset().union(*(p.core for p in PROFILES))
EXTENDED: frozenset[Feature] = frozenset().union(*(p.extended for p in PROFILES))

# Features each target kind can run at all. A url target (staging) has no
# stub fault control, so circuit-breaker scenarios cannot be driven there.
TARGET_FEATURES: dict[str, frozenset[Feature]] = {
    "native": frozenset(Feature),
    "compose": frozenset(Feature),
    "url": frozenset(Feature) - {Feature.BREAKER, Feature.FAULTS},
}


def profile_of(feature: Feature) -> tuple[Profile, str]:
    """The profile a feature belongs to and whether it is "core" or "extended" there."""
    for p in PROFILES:
        if feature in p.core:
            return p, "core"
        if feature in p.extended:
            return p, "extended"
    raise KeyError(feature)
