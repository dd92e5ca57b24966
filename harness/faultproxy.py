"""A user-space latency/fault TCP proxy (asyncio), for faults the stubs cannot make.

This machine has no `tc netem` and no toxiproxy (hostile-inputs.md §0 fact 10,
§5), so latency and connection faults between the gateway and a backend (or
Redis) are injected here. The fault set follows toxiproxy's toxics:

========== ============================================================
latency    add `latency_ms` (+ random `jitter_ms`) before forwarding each
           chunk, in the `stream` direction(s)
down       stop listening: new connections are refused (port kept, reopened
           on `up`); open connections are cut
blackhole  accept, swallow the request, never answer (toxiproxy `timeout`
           with 0); `blackhole_close_ms` > 0 closes after that long instead
reset      accept, then RST the client after `reset_after_ms`
drop       accept, read the request, then close (FIN) without a byte of answer
========== ============================================================

`toxicity` (0..1) is the probability per new connection that the connection
faults apply (latency applies to every connection it is drawn for). Randomness
comes from a seeded `random.Random` so a run can be repeated.

Use it in process (`FaultProxy`, or `FaultProxyThread` from sync code) or as a
process: ``python -m harness.faultproxy --upstream HOST:PORT --port 0
--control-port 0`` prints ``listening PORT control CPORT`` and takes
``PUT /faults`` (JSON of `Faults` fields), ``DELETE /faults``, ``GET /faults``,
``GET /stats`` on the control port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from harness.errors import ConfigError

__all__ = ["FaultProxy", "FaultProxyThread", "Faults", "ProxyStats"]

Mode = Literal["pass", "blackhole", "reset", "drop"]
Stream = Literal["both", "upstream", "downstream"]


@dataclass(frozen=True)
class Faults:
    """The active fault set; `Faults()` is a transparent proxy."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    stream: Stream = "both"          # which direction latency delays
    mode: Mode = "pass"              # per-connection behaviour (see module doc)
    toxicity: float = 1.0            # probability a new connection gets `mode`
    reset_after_ms: float = 0.0
    blackhole_close_ms: float = 0.0  # 0: hold the connection open until it is cut
    down: bool = False

    @classmethod
    def parse(cls, doc: Any, source: str = "faults") -> Faults:
        """Validated from a JSON-like mapping; unknown keys and bad values raise ConfigError."""
        if not isinstance(doc, dict):
            raise ConfigError(source, "", "a JSON object of fault fields", doc)
        known = {f.name: f for f in fields(cls)}
        for key in doc:
            if key not in known:
                raise ConfigError(source, str(key), f"one of {sorted(known)}", key)
        out = cls()
        for key, value in doc.items():
            default = getattr(out, key)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(source, key, "true or false", value)
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ConfigError(source, key, "a number >= 0", value)
                value = float(value)
            out = replace(out, **{key: value})
        if out.mode not in ("pass", "blackhole", "reset", "drop"):
            raise ConfigError(source, "mode", "one of pass, blackhole, reset, drop", out.mode)
        if out.stream not in ("both", "upstream", "downstream"):
            raise ConfigError(source, "stream", "one of both, upstream, downstream", out.stream)
        if out.toxicity > 1:
            raise ConfigError(source, "toxicity", "a probability between 0 and 1", out.toxicity)
        return out


@dataclass
class ProxyStats:
    accepted: int = 0
    forwarded: int = 0        # connections passed to the upstream
    faulted: dict[str, int] = field(default_factory=dict)   # mode -> connections
    upstream_errors: int = 0  # upstream connect failures
    bytes_up: int = 0
    bytes_down: int = 0


class FaultProxy:
    """The proxy on one listening port in front of one upstream (asyncio)."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0, seed: int = 1) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.faults = Faults()
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen (port 0 picks a free one, kept across down/up); returns the port."""
        await self._listen()
        return self.port

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def set_faults(self, faults: Faults) -> None:
        """Apply a fault set; `down` closes the listener, clearing it reopens the same port."""
        was_down = self.faults.down
        self.faults = faults
        if faults.down and not was_down:
            await self._close_listener()
            self._cut_all()
        elif was_down and not faults.down:
            await self._listen()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _cut_all(self) -> None:
        for w in list(self._writers):
            _abort(w)

    async def stop(self) -> None:
        await self._close_listener()
        self._cut_all()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # -- per connection ----------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.stats.accepted += 1
        faults = self.faults
        mode: Mode = faults.mode if self._rng.random() < faults.toxicity else "pass"
        try:
            if mode == "pass":
                await self._forward(reader, writer, faults)
            else:
                self.stats.faulted[mode] = self.stats.faulted.get(mode, 0) + 1
                await self._fault(mode, reader, writer, faults)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _fault(self, mode: Mode, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, faults: Faults) -> None:
        if mode == "drop":
            # Read what the client sent first: closing with unread input makes
            # the kernel send RST, and a drop is a clean FIN with no answer.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(65536), 0.2)
            writer.close()
            return
        if mode == "reset":
            if faults.reset_after_ms:
                await asyncio.sleep(faults.reset_after_ms / 1000)
            _abort(writer)
            return
        # blackhole: read and discard so the client's writes never block.
        async def swallow() -> None:
            while await reader.read(65536):
                pass
        if faults.blackhole_close_ms:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(swallow(), faults.blackhole_close_ms / 1000)
            writer.close()
        else:
            await swallow()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       faults: Faults) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats.upstream_errors += 1
            _abort(writer)
            return
        self.stats.forwarded += 1
        self._writers.add(up_writer)
        delay_up = faults.stream in ("both", "upstream")
        delay_down = faults.stream in ("both", "downstream")
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, delay_up, "up"),
                self._pipe(up_reader, writer, delay_down, "down"))
        finally:
            self._writers.discard(up_writer)
            if not up_writer.is_closing():
                up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, delayed: bool,
                    direction: str) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                faults = self.faults   # read live: latency may change mid-connection
                if delayed and (faults.latency_ms or faults.jitter_ms):
                    extra = self._rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0.0
                    await asyncio.sleep((faults.latency_ms + extra) / 1000)
                dst.write(data)
                await dst.drain()
                if direction == "up":
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
        except OSError:
            _abort(dst)
            return
        if dst.can_write_eof():
            with contextlib.suppress(OSError):
                dst.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    transport.abort()


class FaultProxyThread:
    """A `FaultProxy` on its own event loop thread, driven from sync code (tests, scenarios)."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0,
                 seed: int = 1) -> None:
        self.proxy = FaultProxy(upstream_host, upstream_port, port=port, seed=seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="faultproxy")

    def start(self) -> int:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(5)

    @property
    def port(self) -> int:
        return self.proxy.port

    def set(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the fault set (`Faults` or field=value changes on a clean set)."""
        new = faults if faults is not None else replace(Faults(), **changes)
        asyncio.run_coroutine_threadsafe(self.proxy.set_faults(new), self._loop).result(5)
        return new

    def clear(self) -> None:
        self.set(Faults())

    @property
    def stats(self) -> ProxyStats:
        return self.proxy.stats

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxyThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- process mode: a tiny HTTP control API -----------------------------------
async def _control(proxy: FaultProxy, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        line, *hdrs = head.decode("latin-1").split("\r\n")
        method, path = line.split(" ")[:2]
        length = 0
        for h in hdrs:
            k, _, v = h.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        body = await reader.readexactly(length) if length else b""
        status, doc = 200, None
        if path == "/faults" and method == "GET":
            doc = asdict(proxy.faults)
        elif path == "/faults" and method in ("PUT", "POST"):
            try:
                await proxy.set_faults(Faults.parse(json.loads(body or b"{}"), "PUT /faults"))
                doc = asdict(proxy.faults)
            except (ConfigError, ValueError) as exc:
                status, doc = 400, {"message": str(exc)}
        elif path == "/faults" and method == "DELETE":
            await proxy.set_faults(Faults())
            doc = asdict(proxy.faults)
        elif path == "/stats" and method == "GET":
            doc = asdict(proxy.stats)
        else:
            status, doc = 404, {"message": f"no control route {method} {path}"}
        out = json.dumps(doc).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(out)}\r\nConnection: close\r\n\r\n".encode() + out)
        await writer.drain()
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


async def _serve(args: argparse.Namespace) -> None:
    host, _, port = args.upstream.rpartition(":")
    proxy = FaultProxy(host or "127.0.0.1", int(port), port=args.port, seed=args.seed)
    await proxy.start()
    ctl = await asyncio.start_server(lambda r, w: _control(proxy, r, w), "127.0.0.1",
                                     args.control_port)
    print(f"listening {proxy.port} control {ctl.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    ctl.close()
    await proxy.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.faultproxy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    p.add_argument("--port", type=int, default=0, help="listening port (0: a free one)")
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
