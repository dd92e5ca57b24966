"""Prototype proxy (bench only): Python does the sockets and HTTP parsing, LuaJIT the chain.

Measures design option 1 of docs/reference-gateway-performance.md: uvloop + httptools for
the client and upstream legs (callback style, no task per request, a keep-alive upstream
pool), one pipelined Redis connection for the rate-limit counters (commands of one loop
turn written together), and every per-request decision in hotpath.lua, entered four
times per request: access start, resume with the Redis counts, header_filter, log. File-log
lines are written once per loop turn. Not a gateway: one route, the bench's request.

    python bench/prototype/hotpath_proxy.py --root R --port P --upstream H:P --redis H:P
        --log FILE [--mode lua|raw]

`--mode raw` skips Lua and Redis (the floor: a bare proxy of the same structure);
`--mode lua-noredis` runs the Lua chain with the counters answered at once (no Redis I/O);
`--in-process N` starts no server and times the Lua chain alone for N requests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import urllib.request
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import httptools
import jwt as pyjwt
import lupa.luajit21 as lupa
import uvloop
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from harness.model import load_gateway  # noqa: E402


class Upstream(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool, self.transport, self.parser = pool, None, httptools.HttpResponseParser(self)
        self.client: Client | None = None
        self.names: list[str] = []
        self.values: list[str] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, client: Client, head: bytes) -> None:
        self.client, self.names, self.values, self.body = client, [], [], []
        self.transport.write(head)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.names.append(name.decode("latin-1"))
        self.values.append(value.decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        self.pool.release(self)
        if client is not None:
            client.upstream_done(self.parser.get_status_code(), self.names, self.values,
                                 b"".join(self.body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Upstream] = []
        self.waiters: deque[tuple[Client, bytes]] = deque()
        self.opening = 0

    def send(self, client: Client, head: bytes) -> None:
        if self.idle:
            self.idle.pop().send(client, head)
            return
        self.waiters.append((client, head))
        if self.opening < 8:
            self.opening += 1
            asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: Upstream(self), self.host, self.port)
        self.opening -= 1
        self.release(conn)

    def release(self, conn: Upstream) -> None:
        if self.waiters:
            client, head = self.waiters.popleft()
            conn.send(client, head)
        else:
            self.idle.append(conn)

    def lost(self, conn: Upstream) -> None:
        if conn in self.idle:
            self.idle.remove(conn)


class Redis(asyncio.Protocol):
    """One pipelined connection: replies come back in command order."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.out: list[bytes] = []
        self.waiting: deque[Client] = deque()
        self.buf = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, client: Client, cmd: bytes) -> None:
        if not self.out:
            asyncio.get_running_loop().call_soon(self._flush)
        self.out.append(cmd)
        self.waiting.append(client)

    def _flush(self) -> None:
        self.transport.write(b"".join(self.out))
        self.out.clear()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        # every reply is an integer line (":N\r\n"); four per request
        lines = buf.split(b"\r\n")
        self.buf = lines.pop()
        usable = len(lines) - len(lines) % 4
        if usable != len(lines):
            self.buf = b"\r\n".join(lines[usable:]) + b"\r\n" + self.buf
        for i in range(0, usable, 4):
            self.waiting.popleft().redis_done(int(lines[i][1:]), int(lines[i + 2][1:]))


class Client(asyncio.Protocol):
    def __init__(self, app: App) -> None:
        self.app, self.transport, self.parser = app, None, httptools.HttpRequestParser(self)
        self.names: list[str] = []
        self.values: list[str] = []
        self.url = b""
        self.st: Any = None
        self.t0 = self.t_up = 0.0
        self.ip = "127.0.0.1"

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = peer[0] if peer else "127.0.0.1"

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.names, self.values, self.url = [], [], b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.names.append(name.decode("latin-1"))
        self.values.append(value.decode("latin-1"))

    def on_message_complete(self) -> None:
        self.t0 = now = time.time()
        app = self.app
        if app.raw:
            head = (f"GET /v1/users HTTP/1.1\r\nHost: user-upstream:8080\r\n"
                    f"X-Forwarded-For: {self.ip}\r\n\r\n").encode()
            self.t_up = now
            app.pool.send(self, head)
            return
        host = ""
        for n, v in zip(self.names, self.values):
            if n.lower() == "host":
                host = v.split(":")[0]
                break
        r = app.start(self.parser.get_method().decode(), self.url.decode(), host,
                      "\0".join(self.names), "\0".join(self.values), self.ip, now)
        self.st = r[0]
        self._after(*r[1:])

    def _after(self, kind: str, a: Any = None, b: Any = None) -> None:
        if kind == "proxy":
            self.t_up = time.time()
            self.app.pool.send(self, a.encode("latin-1"))
        elif kind == "redis":
            if self.app.no_redis:   # counts as if Redis answered at once (the split)
                self.app.counted += 1
                self.redis_done(self.app.counted, self.app.counted)
            else:
                self.app.redis.send(self, a.encode())
        elif kind == "exit":
            body = b.encode()
            self.transport.write(b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (a, len(body), body))
        else:
            raise RuntimeError(f"Lua: {a}")

    def redis_done(self, minute: int, hour: int) -> None:
        self._after(*self.app.resume(self.st, minute, hour))

    def upstream_done(self, status: int, names: list[str], values: list[str], body: bytes) -> None:
        t = time.time()
        app = self.app
        if app.raw:
            self.transport.write(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % (status, len(body)) + body)
            return
        up_ms = round((t - self.t_up) * 1000)
        proxy_ms = round((self.t_up - self.t0) * 1000)
        head = app.header_filter(self.st, status, "\0".join(names), "\0".join(values), up_ms,
                                 proxy_ms)
        self.transport.write(head.encode("latin-1") + body)
        t1 = time.time()
        app.write_log(app.log(self.st, round((t1 - self.t0) * 1000), up_ms, proxy_ms,
                              len(self.url) + 200, len(head) + len(body), t1))
        self.st = None


class App:
    def __init__(self, args: argparse.Namespace) -> None:
        self.raw = args.mode == "raw"
        self.no_redis, self.counted = args.mode == "lua-noredis", 0
        host, port = args.upstream.rsplit(":", 1)
        self.pool = Pool(host, int(port))
        self.redis_addr = args.redis.rsplit(":", 1)
        self.redis: Redis = Redis()
        self.log_file = open(args.log, "ab")  # noqa: SIM115 - process lifetime
        self.lines: list[str] = []
        gateway = load_gateway(Path(args.root))
        self.keys = {s.key: (serialization.load_pem_public_key(s.rsa_public_key.encode()),
                              "cred-" + s.key)
                     for c in gateway.kong.consumers for s in c.jwt_secrets
                     if s.rsa_public_key}
        self.lua = lupa.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        handler = Path(args.root) / "kong/custom-plugins/tenant-context/handler.lua"
        py = self.lua.table_from({
            "uuid": lambda: str(uuid.uuid4()), "log": print,
            "b64decode": lambda s: base64.b64decode(s),
            "json_decode": lambda s: self._to_lua(json.loads(s)),
            "http_get": self._http_get, "jwt_verify": self._jwt_verify,
            "limits": self.lua.table_from(gateway.tier_limits("enterprise")),
            "chain": args.chain,
            "common": self.lua.execute(
                "return loadstring(...)()",
                Path(__file__).with_name("chain_common.lua").read_text(), "@chain_common.lua"),
        })
        api = self.lua.execute("return loadstring(...)",
                               Path(__file__).with_name("hotpath.lua").read_text(),
                               "@hotpath.lua")(py, handler.read_text(), "@" + str(handler))
        self.start, self.resume = api["start"], api["resume"]
        self.header_filter, self.log = api["header_filter"], api["log"]
        self.upstream_url = f"http://{args.upstream}"

    def _to_lua(self, v: Any) -> Any:
        if isinstance(v, dict):
            return self.lua.table_from({k: self._to_lua(x) for k, x in v.items()})
        if isinstance(v, list):
            return self.lua.table_from([self._to_lua(x) for x in v])
        return v

    def _http_get(self, url: str) -> Any:
        # first request only (then kong.cache holds the tenant); the Tenant Service
        # answer comes from the upstream nginx, as in gateway_throughput.py
        path = url.split("8081", 1)[1]
        with urllib.request.urlopen(self.upstream_url + path, timeout=2) as r:
            return self.lua.table_from({"status": r.status, "body": r.read().decode()})

    def _jwt_verify(self, token: str) -> Any:
        try:
            kid = pyjwt.get_unverified_header(token).get("kid")
            key, cred_id = self.keys[kid]
            claims = pyjwt.decode(token, key, algorithms=["RS256"],
                                  options={"verify_aud": False, "verify_exp": False,
                                           "verify_nbf": False, "verify_iat": False})
        except Exception as exc:  # noqa: BLE001 - any failure is a 401 in Lua
            return self.lua.table_from({"ok": False, "err": f"Bad token; {exc}"})
        return self.lua.table_from({"ok": True, "kid": kid, "cred_id": cred_id,
                                    "exp": claims.get("exp"), "nbf": claims.get("nbf")})

    def write_log(self, line: str | None) -> None:
        if line is None:    # --chain issue: no file-log
            return
        if not self.lines:
            asyncio.get_running_loop().call_soon(self._flush_log)
        self.lines.append(line)

    def _flush_log(self) -> None:
        self.log_file.write("".join(self.lines).encode())
        self.log_file.flush()
        self.lines.clear()

    async def serve(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        if args_mode_needs_redis(self):
            await loop.create_connection(lambda: self.redis, self.redis_addr[0],
                                         int(self.redis_addr[1]))
        server = await loop.create_server(lambda: Client(self), "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()


def in_process(args: argparse.Namespace, requests: int) -> None:
    """The Lua chain's cost alone: the four entries per request called in a loop, no
    sockets (the Tenant Service and Redis answers are given). Prints µs per request."""
    import tempfile

    from harness.tokens import dev_minter

    tenant = json.dumps({"id": "acme", "tier": "enterprise", "status": "active"})

    class Offline(App):
        def _http_get(self, url: str) -> Any:
            return self.lua.table_from({"status": 200, "body": tenant})

    with tempfile.TemporaryDirectory() as tmp:
        args.log = str(Path(tmp) / "access.log")
        app = Offline(args)
        token = dev_minter().mint("acme", ttl=3000)
        names = "\0".join(["Host", "User-Agent", "Accept", "Authorization"])
        values = "\0".join(["acme.app.example.com", "wrk", "*/*", "Bearer " + token])
        up_names = "Server\0Content-Type\0Content-Length"
        up_values = "\0".join(["nginx", "application/json", "11"])

        def run(n: int) -> float:
            t0 = time.perf_counter()
            for i in range(n):
                r = app.start("GET", "/api/users/1", "acme.app.example.com", names, values,
                              "127.0.0.1", time.time())
                st = r[0]
                app.resume(st, i, i)
                app.header_filter(st, 200, up_names, up_values, 0, 1)
                app.log(st, 1, 0, 1, 200, 300, time.time())
            return (time.perf_counter() - t0) / n * 1e6

        run(min(requests, 3000))   # warm-up: the JIT compiles the hot traces
        print(f"Lua chain in one process: {run(requests):.1f} us per request "
              f"({requests} requests, 4 Lua entries each)")


def args_mode_needs_redis(app: App) -> bool:
    return not (app.raw or app.no_redis)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream", default="127.0.0.1:1")
    ap.add_argument("--redis", default="127.0.0.1:1")
    ap.add_argument("--log", default="")
    ap.add_argument("--mode", choices=("lua", "lua-noredis", "raw"), default="lua")
    ap.add_argument("--chain", choices=("full", "issue"), default="full",
                    help="full: kong.yml's route; issue: only jwt, tenant-context, Redis "
                         "rate limiting, prometheus, correlation-id")
    ap.add_argument("--in-process", type=int, metavar="N", default=0,
                    help="no server: time the Lua chain for N requests in this process")
    args = ap.parse_args()
    if args.in_process:
        in_process(args, args.in_process)
        return
    if not (args.port and args.log):
        ap.error("--port and --log are required unless --in-process is given")
    uvloop.run(App(args).serve(args.port))


if __name__ == "__main__":
    main()
