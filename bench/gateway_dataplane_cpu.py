"""CPU time of the reference gateway's data plane per proxied request, in-process.

The real pipeline (ClientConn -> Handler -> Flight -> UpstreamConn and the
production kong.yml router, balancers and pool; no plugins) runs on uvloop,
but the two sockets are replaced by in-memory transports: the client sends
the next keep-alive request as soon as the response is written, the upstream
answers a fixed 200 as soon as the request is written. What is measured is
thus only the gateway's own Python + event-loop work, without the kernel and
without another process competing for the core, so it is far steadier than
rps on a shared machine (bench/gateway_throughput.py measures the sockets).

Compare two trees by running the script from each (`--src DIR`), interleaved:

    .venv/bin/python bench/gateway_dataplane_cpu.py [--requests 15000] [--rounds 5]
    .venv/bin/python bench/gateway_dataplane_cpu.py --src /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 27 Nov 2026 10:00:00 GMT\r\n"
            b"Content-Type: application/json\r\nContent-Length: 11\r\n"
            b"Connection: keep-alive\r\n\r\n{\"ok\":true}")
REQUEST = (b"GET /api/users/1 HTTP/1.1\r\nHost: acme.app.example.com\r\nUser-Agent: wrk\r\n"
           b"Accept: */*\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n")


class MemoryTransport:
    """Just enough of asyncio.Transport for ClientConn / UpstreamConn."""

    def __init__(self, on_write: Any) -> None:
        self.on_write = on_write
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.on_write(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure(root: Path, requests: int) -> float:
    """CPU microseconds per request over `requests` keep-alive requests."""
    from harness.gateway.app import GatewayOptions, GatewayServer
    from harness.gateway.proxy import UpstreamConn
    from harness.gateway.server import ClientConn

    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="harness-bench-cpu-") as tmp:
        opts = GatewayOptions(root=root, http_port=None, status_port=None, log_dir=Path(tmp),
                              no_plugins=True)
        server = GatewayServer(opts)
        await server.start()
        try:
            handler = server.handler
            assert handler is not None
            for bal in server.runtime.balancers.values():
                bal.stop()   # no active health checks: they would be measured too
            done = loop.create_future()
            answered = 0

            def client_wrote(_data: bytes) -> None:
                nonlocal answered
                answered += 1
                if answered >= requests:
                    if not done.done():
                        done.set_result(None)
                else:
                    loop.call_soon(conn.data_received, REQUEST)

            conn = ClientConn(handler, "http", 8000)
            conn.connection_made(MemoryTransport(client_wrote))  # type: ignore[arg-type]
            for bal in server.runtime.balancers.values():
                for target in bal.targets:
                    up = UpstreamConn(handler.pool, (*target.address, ""))
                    up.connection_made(MemoryTransport(
                        lambda _d, up=up: loop.call_soon(up.data_received, RESPONSE)))
                    handler.pool.release(up)
            gc.collect()
            gc.freeze()   # as the gateway process does after start-up
            cpu0 = time.process_time()
            conn.data_received(REQUEST)
            await asyncio.wait_for(done, 120)
            cpu = time.process_time() - cpu0
            assert handler.pool.opened == 0, "a request missed the in-memory pool"
            return cpu / requests * 1e6
        finally:
            await server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=15000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--src", type=Path, default=REPO,
                    help="tree whose harness/ package is measured (default: this checkout)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.src))
    logging.disable(logging.WARNING)
    import uvloop

    figures = []
    for i in range(args.rounds):
        us = uvloop.run(measure(REPO, args.requests))
        figures.append(us)
        print(f"round {i + 1}: {us:.1f} us CPU per request")
    print(f"median: {statistics.median(figures):.1f} us CPU per request "
          f"({args.requests} keep-alive requests per round, no plugins, src {args.src})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
