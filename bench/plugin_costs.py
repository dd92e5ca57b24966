"""CPU cost of each reference-gateway plugin per request (µs), production kong.yml.

Runs the plugin chain of route `users` on host acme.app.example.com in one
process, without the data plane: correlation-id, cors, jwt (RS256; warm = the
token's signature check is cached, cold = a new token every request),
tenant-context (Lua, tenant cached), request-size-limiting, rate-limiting
(redis policy against a real redis-server on a free port, 50 requests in
flight; and local policy), response-transformer, prometheus, file-log.
Each phase is timed with the thread's CPU clock; the Redis step is CPU time
of a batch divided by its size (it includes the event loop's share).

    .venv/bin/python bench/plugin_costs.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "gateway" / "plugins"))

from plugin_helpers import TenantDirectoryServer  # noqa: E402

from harness.gateway.plugin_api import Ctx, Exit, Headers, Request, Response  # noqa: E402
from harness.gateway.plugins import REGISTRY, StandaloneRuntime  # noqa: E402
from harness.gateway.plugins import rate_limiting as rl  # noqa: E402
from harness.model import load_gateway  # noqa: E402
from harness.stack.ports import free_port  # noqa: E402
from harness.tokens import dev_minter  # noqa: E402

HOST = "acme.app.example.com"


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("redis-server did not start")


def new_request(token: str) -> Request:
    return Request(method="GET", scheme="https", host=HOST, port=8443, path="/api/users/1",
                   raw_path="/api/users/1", query="",
                   headers=Headers([("Host", HOST), ("User-Agent", "bench"),
                                    ("Accept", "application/json"),
                                    ("Authorization", f"Bearer {token}"),
                                    ("Origin", "https://app.example.com")]),
                   client_ip="127.0.0.1")


async def main(n: int) -> None:
    gateway = load_gateway(REPO)
    tmp = Path(tempfile.mkdtemp(prefix="plugin-costs-"))
    redis_proc, redis_port = start_redis(tmp)
    directory = TenantDirectoryServer(gateway)
    await directory.start()
    try:
        runtime = StandaloneRuntime(gateway=gateway, log_dir=tmp)
        runtime.resolve_map[("redis", 6379)] = ("127.0.0.1", redis_port)
        runtime.resolve_map[("tenant-service", 8081)] = ("127.0.0.1", directory.port)
        route = gateway.route("users")
        chain = {sp.name: REGISTRY[sp.name](sp.plugin.config, runtime)
                 for sp in gateway.plugins_for(route, None)}
        rl_redis = REGISTRY["rate-limiting"](
            next(sp.plugin.config for sp in gateway.plugins if sp.consumer == "tier-enterprise")
            .model_copy(update={"minute": 1e9, "hour": 1e9}), runtime)
        rl_local = REGISTRY["rate-limiting"](rl_redis.config.model_copy(
            update={"policy": "local"}), runtime)
        minter = dev_minter()
        token = minter.mint("acme", ttl=3000)
        order = ["correlation-id", "cors", "jwt", "tenant-context", "request-size-limiting"]
        cost: dict[str, int] = {k: 0 for k in [*order, "rate-limiting (local)",
                                               "response-transformer", "prometheus",
                                               "file-log"]}
        clock = time.thread_time_ns

        async def one(req: Request, ctx: Ctx, timed: bool) -> None:
            for name in order:
                t0 = clock()
                await chain[name].access(req, ctx)
                if timed:
                    cost[name] += clock() - t0
            t0 = clock()
            await rl_local.access(req, ctx)
            if timed:
                cost["rate-limiting (local)"] += clock() - t0
            resp = Response(200, Headers([("Content-Type", "application/json"),
                                          ("X-Powered-By", "stub")]))
            ctx.upstream_latency_ms, ctx.proxy_latency_ms = 1, 0
            for name, phase in (("correlation-id", "header_filter"),
                                ("cors", "header_filter"),
                                ("response-transformer", "header_filter"),
                                ("prometheus", "log"), ("file-log", "log")):
                t0 = clock()
                getattr(chain[name], phase)(req, resp, ctx)
                if name == "file-log":
                    # file-log encodes and writes in a loop callback: count that work too
                    # (one line per write here; under load lines share a write).
                    chain[name].sink.flush()
                if timed:
                    cost[name] += clock() - t0

        for timed, count in ((False, 200), (True, n)):
            for _ in range(count):
                await one(new_request(token), Ctx(gateway=gateway, request_id="x", route=route),
                          timed)
        await asyncio.sleep(0.01)  # let file-log flush

        cold_tokens = [minter.mint("acme", ttl=3000, sub=f"u{i}") for i in range(min(n, 500))]
        t0 = clock()
        for tok in cold_tokens:
            await chain["jwt"].access(new_request(tok),
                                      Ctx(gateway=gateway, request_id="x", route=route))
        jwt_cold = (clock() - t0) / len(cold_tokens) / 1000

        # Redis policy: requests in flight together, as under load (pipelined).
        reqs = []
        for _ in range(n):
            r = new_request(token)
            r.headers.set("X-Tenant-ID", "acme")
            reqs.append(r)
        batch = 50
        t0 = time.process_time_ns()
        for i in range(0, n, batch):
            await asyncio.gather(*(rl_redis.access(r, Ctx(gateway=gateway, request_id="x",
                                                          route=route))
                                   for r in reqs[i:i + batch]))
        redis_cost = (time.process_time_ns() - t0) / n / 1000

        print(f"plugin CPU cost per request (µs), {n} requests, route users, host {HOST}")
        total = 0.0
        for name, ns in cost.items():
            us = ns / n / 1000
            if name != "rate-limiting (local)":
                total += us
            print(f"  {name:28s} {us:8.1f}")
        print(f"  {'jwt (cold: new token)':28s} {jwt_cold:8.1f}")
        print(f"  {'rate-limiting (redis, 50 in flight)':28s} {redis_cost:8.1f}")
        total += redis_cost
        print(f"  {'full chain (warm jwt, redis)':28s} {total:8.1f}")
    except Exit as exc:
        raise SystemExit(f"chain exited with {exc.status}: {exc.body!r} {exc.error_message}")
    finally:
        for client in rl._REDIS_CLIENTS.values():
            client.close()
        await directory.stop()
        os.killpg(redis_proc.pid, signal.SIGKILL)
        redis_proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(max(100, min(args.requests, 100000))))
