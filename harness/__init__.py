"""Conformance and load-testing harness for a multi-tenant API gateway built on Kong.

The public surface: what scenarios, load profiles and the CLI may import.
Everything else lives in sub-packages that scenarios do not reach into.
"""

import os as _os
import sys as _sys

# A mypyc build of harness.gateway (harness.stack.gateway_build), when a launcher names one:
# its compiled modules are found before this tree's sources; every other module still comes
# from this tree. Before any import below, so that no gateway module is loaded first.
_BUILD = _os.environ.get("HARNESS_GATEWAY_BUILD_PATH")
if _BUILD and _os.path.isfile(_os.path.join(_BUILD, "BUILT")):
    __path__.insert(0, _os.path.join(_BUILD, "harness"))
    _sys.path.append(_BUILD)   # the compiled modules' shared library, <hash>__mypyc

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
