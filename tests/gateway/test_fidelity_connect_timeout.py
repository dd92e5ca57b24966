"""The connect timeout over real loopback sockets: kong-behaviour.md §4 "connect/read/write
timeout" row (504 `The upstream server is timing out`) and the §1.1 service default rows
(connect_timeout, retries).

A connect that never completes needs an address that swallows SYNs. On loopback that is a
listening socket whose accept queue is full: Linux then drops new SYNs
(net.ipv4.tcp_abort_on_overflow = 0), so the client's connect waits for its timeout."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gateway.dataplane_support import gateway, gateway_from, request, run

pytestmark = pytest.mark.routing

KONG = """
_format_version: "3.0"
services:
  - name: once
    host: blackhole
    port: 8080
    connect_timeout: 200
    read_timeout: 60000
    retries: 0
    routes:
      - name: once
        paths: [/once]
  - name: twice
    host: blackhole
    port: 8080
    connect_timeout: 200
    read_timeout: 60000
    retries: 1
    routes:
      - name: twice
        paths: [/twice]
"""


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A loopback port whose connects hang: a listener that never accepts, its queue full."""
    with open("/proc/sys/net/ipv4/tcp_abort_on_overflow") as f:
        if f.read().strip() != "0":
            pytest.skip("tcp_abort_on_overflow is on: a full accept queue resets, not drops")
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):   # bounded: the queue of listen(0) holds one or two connections
            probe = socket.socket()
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except (TimeoutError, OSError):
                probe.close()
                break        # a fresh connect hangs: the queue is full
            fillers.append(probe)   # it completed: it now fills the queue
        else:
            pytest.skip("could not fill the listener's accept queue on this kernel")
        yield port
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def scenario(tmp_path: Any, body: Any) -> Any:
    with blackhole() as port:
        async def main() -> Any:
            async with gateway(gateway_from(tmp_path, KONG),
                               {("blackhole", 8080): ("127.0.0.1", port)}) as srv:
                return await body(srv.ports["http"])
        return run(main())


def test_a_connect_that_never_completes_is_504_after_connect_timeout_not_read_timeout(tmp_path):
    async def body(port: int) -> None:
        t0 = time.monotonic()
        r = await request(port, path="/once")
        took = time.monotonic() - t0
        assert r.status == 504
        assert r.body.startswith(b"The upstream server is timing out\n")
        # one try of 200 ms (retries 0); far from the 60 s read timeout
        assert 0.18 <= took < 2.0, took
    scenario(tmp_path, body)


def test_a_connect_timeout_is_retried_then_504(tmp_path):
    async def body(port: int) -> None:
        t0 = time.monotonic()
        r = await request(port, path="/twice")
        took = time.monotonic() - t0
        assert r.status == 504
        # 1 + retries tries, each waiting out the 200 ms connect timeout
        assert 0.38 <= took < 3.0, took
    scenario(tmp_path, body)
