"""Assembly of one gateway process: model -> runtime, balancers, plugins, listeners."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.gateway import build
from harness.gateway.balancer import Balancer
from harness.gateway.chain import Chain
from harness.gateway.handler import Handler
from harness.gateway.plugin_api import Plugin
from harness.gateway.runtime import Runtime
from harness.gateway.server import ClientConn
from harness.gateway.status import StatusConn
from harness.model import Gateway, load_gateway

__all__ = ["GatewayOptions", "GatewayServer", "parse_resolve", "run"]

log = logging.getLogger("harness.gateway")


def parse_resolve(spec: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """"NAME:PORT=IP:REALPORT" -> ((NAME, PORT), (IP, REALPORT))."""
    try:
        left, right = spec.split("=", 1)
        name, port = left.rsplit(":", 1)
        ip, real = right.rsplit(":", 1)
        return (name, int(port)), (ip, int(real))
    except ValueError:
        raise ConfigError("--resolve", "", "NAME:PORT=IP:REALPORT", spec) from None


@dataclass
class GatewayOptions:
    root: Path = Path(".")
    http_port: int | None = 0
    https_port: int | None = None
    status_port: int | None = 0
    log_dir: Path = Path(".harness/run/logs")
    replica_id: int = 0
    resolve: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    bind: str = "127.0.0.1"
    strict_plugins: bool = True     # a kong.yml plugin without implementation fails start-up
    no_plugins: bool = False        # benchmarks of the data plane alone


class GatewayServer:
    """One running gateway; `start()` inside an event loop, then `ports`."""

    def __init__(self, opts: GatewayOptions, gateway: Gateway | None = None,
                 registry: Mapping[str, type[Plugin]] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.opts = opts
        self.gateway = gateway if gateway is not None else load_gateway(opts.root)
        self.registry = {} if opts.no_plugins else registry
        self.env = env
        self.ports: dict[str, int] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self.runtime = Runtime(self.gateway, opts.log_dir, opts.replica_id, dict(opts.resolve))
        self.handler: Handler | None = None
        # TLS contexts are built before start() so a bad certificate fails early.
        self._sni = None
        if opts.https_port is not None:
            from harness.gateway.tls import build_sni_contexts

            self._sni = build_sni_contexts(self.gateway, env)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        rt = self.runtime
        rt.loop = loop
        self.opts.log_dir.mkdir(parents=True, exist_ok=True)
        for up in self.gateway.kong.upstreams:
            rt.balancers[up.name] = Balancer.for_upstream(up, rt.resolve)
        chain = Chain(self.gateway, rt, self.registry,
                      strict=self.opts.strict_plugins and not self.opts.no_plugins,
                      quiet=self.opts.no_plugins)
        for inst in chain.instances():
            init = getattr(inst, "init_worker", None)
            if init is not None:
                result = init()
                if inspect.isawaitable(result):
                    await result
        self.handler = handler = Handler(rt, chain, loop)
        o = self.opts
        if o.http_port is not None:
            await self._listen("http", o.http_port, lambda p: ClientConn(handler, "http", p))
        if o.https_port is not None and self._sni is not None:
            await self._listen("https", o.https_port, lambda p: ClientConn(handler, "https", p),
                               ssl=self._sni.default)
        for bal in rt.balancers.values():
            bal.start(loop)
        handler.start_sweeper()
        if o.status_port is not None:
            await self._listen("status", o.status_port, lambda p: StatusConn(rt))

    async def _listen(self, name: str, port: int, factory: object,
                      ssl: object | None = None) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.opts.bind, port))
        real = sock.getsockname()[1]
        self.ports[name] = real
        make = factory  # called with the real port so X-Forwarded-Port is right
        server = await loop.create_server(lambda: make(real), sock=sock,  # type: ignore[operator]
                                          backlog=4096, ssl=ssl)  # type: ignore[arg-type]
        self._servers.append(server)

    async def stop(self) -> None:
        for s in self._servers:
            s.close()
        for bal in self.runtime.balancers.values():
            bal.stop()
        if self.handler is not None:
            self.handler.stop_sweeper()
            self.handler.pool.close_all()
            for conn in list(self.handler.conns):
                conn.close()
        for s in self._servers:
            try:
                await asyncio.wait_for(s.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass
        for inst in (self.handler.chain.instances() if self.handler else []):
            close = getattr(inst, "close", None)
            if close is not None:
                try:
                    result = close()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("plugin close failed")


def run(opts: GatewayOptions) -> int:
    """Serve until SIGTERM/SIGINT. Exit 2 on a config error (message on stderr)."""
    import uvloop

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = GatewayServer(opts)
    except ConfigError as exc:
        print(f"harness.gateway: error: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
        except ConfigError as exc:
            print(f"harness.gateway: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"harness.gateway: error: cannot listen: {exc}", file=sys.stderr)
            return 1
        # The model, plugins and Lua VM live for the whole process: keep the cyclic
        # GC from re-scanning them in every full collection (latency spikes).
        gc.collect()
        gc.freeze()
        log.info("reference gateway (kong/%s, %s build) replica %s listening: %s",
                 server.runtime.version, build(), opts.replica_id, server.ports)
        await stop.wait()
        await server.stop()
        return 0

    return uvloop.run(main())
