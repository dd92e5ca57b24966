"""The one stack interface every launcher implements (native processes, compose).

Scenarios and load profiles only talk to a `Stack`; a test checks each
implementation against this Protocol (tests/stack/test_protocol_compliance.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["ControllableStack", "Endpoint", "ServiceHealth", "Stack"]


@dataclass(frozen=True)
class Endpoint:
    """Where a service of the stack listens (always loopback for the native stack)."""

    host: str
    port: int
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    state: Literal["healthy", "starting", "unhealthy", "stopped"]
    detail: str = ""
    pid: int | None = None


@runtime_checkable
class Stack(Protocol):
    """A running set of services: gateway, stubs, Tenant/Auth services, Redis, PostgreSQL."""

    name: str

    def start(self) -> None:
        """Start every service and return once all are ready (or raise ReadinessTimeout)."""

    def stop(self) -> None:
        """Stop everything; leave no process and no port behind."""

    def services(self) -> list[str]:
        """Names of the services this stack runs."""

    def endpoint(self, service: str) -> Endpoint:
        """Where `service` listens (e.g. "gateway", "gateway-tls", "redis", "user-1")."""

    def logs(self, service: str, lines: int = 50) -> str:
        """The last `lines` lines of a service's log."""

    def status(self, service: str) -> ServiceHealth:
        """Current health of one service."""


@runtime_checkable
class ControllableStack(Stack, Protocol):
    """A Stack whose services can be killed and restarted one at a time (fault scenarios).

    Not part of `Stack`, so a launcher may leave it out; the native stack and the
    compose launcher implement it. Fault scenarios narrow with
    `isinstance(stack, ControllableStack)` and skip, naming what is missing, otherwise."""

    def kill(self, service: str) -> None:
        """SIGKILL one service now (its port goes away)."""

    def restart(self, service: str) -> None:
        """Start a killed (or running) service again on the same ports; wait until ready."""
