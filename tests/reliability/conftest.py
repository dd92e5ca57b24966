"""Fixtures of the reliability unit tests: real loopback servers bound to port 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rel_servers import Handler, TcpServer


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Handler], TcpServer]]:
    servers: list[TcpServer] = []

    def make(handler: Handler) -> TcpServer:
        s = TcpServer(handler)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()
