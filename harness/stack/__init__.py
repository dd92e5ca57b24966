"""Launchers of the stack under test, behind one `Stack` protocol."""

from harness.stack.base import Endpoint, ServiceHealth, Stack

__all__ = ["Endpoint", "ServiceHealth", "Stack"]
