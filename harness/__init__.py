"""Conformance and load-testing harness for a multi-tenant API gateway built on Kong.

The public surface: what scenarios, load profiles and the CLI may import.
Everything else lives in sub-packages that scenarios do not reach into.
"""

from harness.errors import (
    ConfigError,
    ContractMismatch,
    ConvergenceTimeout,
    HarnessError,
    ReadinessTimeout,
    SLOViolation,
    StackAlreadyRunning,
    StackError,
    ToolMissing,
)
from harness.model import Gateway, RouteView, Tenant, load_gateway
from harness.stack import Endpoint, ServiceHealth, Stack

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ContractMismatch",
    "ConvergenceTimeout",
    "Endpoint",
    "Gateway",
    "HarnessError",
    "ReadinessTimeout",
    "RouteView",
    "SLOViolation",
    "ServiceHealth",
    "Stack",
    "StackAlreadyRunning",
    "StackError",
    "Tenant",
    "ToolMissing",
    "load_gateway",
]
