"""The system under test, as scenarios and load profiles see it.

A `Target` says where the gateway answers (plain and TLS), how clients trust
its certificates, where its metrics are, how to mint tokens, and — when the
harness launched the stack itself — the `Stack` for fault control (stub admin
ports, killing Redis, ...). `native`, `compose` and `url` targets all produce
one of these; code that needs the stack checks `target.stack` and skips with a
reason when it is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.tokens import TokenMinter

if TYPE_CHECKING:
    from harness.stack.base import Stack

__all__ = ["Target"]


@dataclass
class Target:
    kind: str                          # "native" | "compose" | "url"
    proxy_url: str                     # http://127.0.0.1:PORT
    minter: TokenMinter
    proxy_tls_url: str | None = None   # https://127.0.0.1:PORT (SNI set per request)
    ca_file: Path | None = None        # CA that signed the gateway's certificates
    status_url: str | None = None      # gateway status listener (/metrics, /status)
    prometheus_url: str | None = None  # a Prometheus server scraping the gateway
    gateway_impl: str = "unknown"      # e.g. "harness-reference-gateway" or "kong"
    gateway_version: str = "unknown"
    stack: Stack | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def controllable(self) -> bool:
        """True when the harness owns the processes (fault scenarios need it)."""
        return self.stack is not None
