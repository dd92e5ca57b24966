"""What a scenario's run body gets: the target, the model, the client, and stack controls.

Stack controls (stub faults, fresh tenants, replicas) exist only when the
target offers them; `capabilities()` says which, so the pytest plugin can
skip a case naming the missing capability instead of failing it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.contracts.client import GatewayClient
from harness.contracts.converge import Timeouts
from harness.contracts.features import Capability
from harness.errors import StackError
from harness.model import Gateway
from harness.target import Target

__all__ = ["ScenarioContext", "capabilities_of"]


def _has_endpoint(target: Target, name: str) -> bool:
    if target.stack is None:
        return False
    try:
        return name in target.stack.services() or bool(target.stack.endpoint(name))
    except (KeyError, StackError, ValueError):
        return False


def capabilities_of(target: Target, gateway: Gateway) -> frozenset[Capability]:
    caps: set[Capability] = set()
    stubs = [t.target.split(":")[0] for u in gateway.kong.upstreams for t in u.targets]
    if stubs and target.stack is not None and _has_endpoint(target, f"{stubs[0]}-admin"):
        caps.add(Capability.STUB_FAULTS)
    if target.extra.get("tenant_admin_url") or _has_endpoint(target, "tenant-service"):
        caps.add(Capability.TENANT_ADMIN)
    if _has_endpoint(target, "gateway-2"):
        caps.add(Capability.REPLICAS)
    if target.proxy_tls_url and target.ca_file is not None:
        caps.add(Capability.TLS_PROXY)
    if target.prometheus_url or target.status_url:
        caps.add(Capability.METRICS)
    if target.extra.get("access_log"):
        caps.add(Capability.ACCESS_LOG)
    return frozenset(caps)


@dataclass
class ScenarioContext:
    target: Target
    gateway: Gateway
    client: GatewayClient
    timeouts: Timeouts
    figures: dict[str, float] = field(default_factory=dict)   # reported, e.g. 503 latency
    _admin: httpx.Client | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        return capabilities_of(self.target, self.gateway)

    def record(self, name: str, value: float) -> None:
        """Keep a measured figure for the conformance report."""
        self.figures[name] = round(value, 3)

    # -- control plane helpers -------------------------------------------
    def _http(self) -> httpx.Client:
        if self._admin is None:
            self._admin = httpx.Client(timeout=self.timeouts.request, trust_env=False)
        return self._admin

    def _url(self, service: str) -> str:
        if self.target.stack is None:
            raise StackError(f"target {self.target.kind} has no stack to reach {service}")
        return self.target.stack.endpoint(service).url

    def admin(self, method: str, service: str, path: str, body: Any = None) -> Any:
        """Call a stack service's admin API; raise StackError naming the call on failure."""
        url = (self.target.extra["tenant_admin_url"] if service == "tenant-service"
               and self.target.extra.get("tenant_admin_url") else self._url(service)) + path
        resp = self._http().request(method, url, json=body)
        if resp.status_code >= 400:
            raise StackError(f"{method} {url} {json.dumps(body) if body else ''} answered "
                             f"{resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def set_faults(self, instance: str, **faults: Any) -> None:
        self.admin("PUT", f"{instance}-admin", "/faults", faults)

    def clear_faults(self, instance: str) -> None:
        self.admin("DELETE", f"{instance}-admin", "/faults")

    @contextmanager
    def faults(self, **by_instance: dict[str, Any]) -> Iterator[None]:
        """Apply faults per stub instance (names with '_' for '-'), always clear after."""
        names = {k.replace("_", "-"): v for k, v in by_instance.items()}
        try:
            for inst, f in names.items():
                self.set_faults(inst, **f)
            yield
        finally:
            for inst in names:
                self.clear_faults(inst)

    def fresh_tenant(self, tier: str, label: str = "c") -> tuple[str, str]:
        """Create a tenant of `tier` nobody else uses; return (tenant id, host)."""
        if tier not in self.gateway.tiers.tiers:
            raise KeyError(f"unknown tier {tier!r}")
        tid = f"{label}-{tier}-{uuid.uuid4().hex[:8]}"
        self.admin("POST", "tenant-service", "/admin/tenants",
                   {"id": tid, "name": f"contract {tid}", "subdomain": tid, "tier": tier,
                    "status": "active", "custom_domains": []})
        return tid, f"{tid}.{self.gateway.tenants.base_domain}"

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
        self.client.close()
