"""Listener ports for processes the harness starts on 127.0.0.1.

The one place that picks a port for a listener another process will bind later
(stack services, load workers' master, test servers). Binding port 0 would pick
from the kernel's ephemeral range, which every outgoing connection draws from
too: between the pick and the service's bind, a connection can take the port
(seen in CI as EADDRINUSE on a stub). So ports are picked below that range.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["ephemeral_low", "free_port"]

# Ports this interpreter already handed out: two picks before either bind must differ.
_HANDED_OUT: set[int] = set()
_SPAN = 12000        # how far below the ephemeral range to pick from
_ATTEMPTS = 200


def ephemeral_low() -> int:
    """The lowest port of the kernel's ephemeral range (Linux default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port for a listener, below the kernel's ephemeral range, not
    handed out before by this interpreter. Falls back to a kernel pick (port 0) only
    if 200 random tries all find the port taken."""
    high = ephemeral_low() - 1
    for _ in range(_ATTEMPTS):
        port = random.randint(max(1024, high - _SPAN), high)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
