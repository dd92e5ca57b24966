"""Every exception the harness raises.

Hierarchy::

    HarnessError
    ├── ConfigError              bad kong.yml / tiers / tenants / settings input
    ├── ToolMissing              an external program is not installed
    ├── StackError               the stack could not start, stop or answer
    │   ├── StackAlreadyRunning  a second `up` while one runs
    │   └── ReadinessTimeout     a service did not become ready in time
    ├── ContractMismatch         a gateway response differs from the expectation
    ├── ConvergenceTimeout       an eventually-consistent check never settled
    ├── SLOViolation             a load run broke a service-level objective
    └── ClientBodyError          the reference gateway read a malformed request body
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientBodyError",
    "ConfigError",
    "ContractMismatch",
    "ConvergenceTimeout",
    "HarnessError",
    "ReadinessTimeout",
    "SLOViolation",
    "StackAlreadyRunning",
    "StackError",
    "ToolMissing",
]


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class ConfigError(HarnessError):
    """A configuration input is invalid.

    The message always reads ``<file>: <dotted.path>: expected <what>, got <what>``.
    """

    def __init__(self, file: str, path: str, expected: str, got: Any, *, raw_got: bool = False):
        self.file = file
        self.path = path
        self.expected = expected
        self.got = got
        shown = got if raw_got else _show(got)
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: expected {expected}, got {shown}")


class ToolMissing(HarnessError):
    """An external program the harness needs is not installed."""

    def __init__(self, program: str, package: str, purpose: str = ""):
        self.program = program
        self.package = package
        why = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"{program} not found on PATH{why}; install the Debian package: "
            f"apt-get install {package}"
        )


class StackError(HarnessError):
    """The stack could not start, stop or answer."""


class StackAlreadyRunning(StackError):
    """`harness up` was called while a stack from the same run directory runs."""


class ReadinessTimeout(StackError):
    """A service did not become ready within its timeout."""


class ContractMismatch(HarnessError, AssertionError):
    """What the gateway did differs from what the contract expects."""


class ConvergenceTimeout(HarnessError, AssertionError):
    """An eventually-consistent check did not reach N consecutive passes in time."""


class SLOViolation(HarnessError):
    """A load run broke one or more service-level objectives."""


class ClientBodyError(HarnessError):
    """A client's request body broke off or was malformed (bad chunk, bad trailer).

    Raised by the reference gateway's buffered body to whoever waits for it;
    `status` is the answer nginx gives (400) when no response byte went out yet.
    """

    def __init__(self, status: int = 400) -> None:
        self.status = status
        super().__init__(f"malformed request body (answer {status})")
