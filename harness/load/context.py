"""What a load run's users, shape and hooks share: set once per process, read by all.

Locust instantiates user and shape classes itself (from a locustfile or our
runner), so they cannot take constructor arguments; they read the installed
`LoadContext` instead. One load run per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.client import GatewayClient
from harness.load.profiles import LoadCatalogue, Profile
from harness.load.recorder import Recorder
from harness.model import Gateway, Tenant

if TYPE_CHECKING:
    from harness.stack.base import Stack

__all__ = ["LoadContext", "current", "install"]


@dataclass
class LoadContext:
    root: Path
    gateway: Gateway
    catalogue: LoadCatalogue
    profile_name: str
    client: GatewayClient
    recorder: Recorder
    stack: Stack | None = None
    # user kind -> Locust user class, filled by harness.load.users
    classes: dict[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> Profile:
        return self.catalogue.profile(self.profile_name)

    def tenants_for(self, kind: str) -> list[Tenant]:
        if kind == "flood":
            return self.client.tenants_of("basic")[:1]
        return self.client.tenants_of(kind)

    @staticmethod
    def tier_of(kind: str) -> str:
        return "basic" if kind == "flood" else kind


_CURRENT: LoadContext | None = None


def install(ctx: LoadContext) -> LoadContext:
    global _CURRENT
    _CURRENT = ctx
    return ctx


def current() -> LoadContext:
    if _CURRENT is None:
        raise RuntimeError("no load context installed: run through `harness load` or the "
                           "locustfile, which install one at Locust's init event")
    return _CURRENT
