"""Reference gateway: user-space instructions per request (valgrind callgrind).

Requests per second and CPU time per request swing by ±30 % on this shared
2-core machine from one minute to the next, far more than most code changes
move them. The count of instructions the gateway executes per request does
not: it is the figure to compare two versions of the code by (it leaves out
the kernel's share, which `bench/gateway_throughput.py` prints separately).

Same set-up as gateway_throughput.py (production kong.yml, FULL plugin chain,
tier limits raised, upstream nginx, real Redis), but the gateway runs under
`valgrind --tool=callgrind` (~50x slower) and a small asyncio client sends a
fixed number of keep-alive requests over a few connections. Counting starts
after a warm-up (callgrind_control --zero) and ends with a dump.

    .venv/bin/python bench/gateway_instructions.py [--requests 2000] [--no-plugins]
    # compare two trees: run it in each (the gateway runs from the script's tree)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_throughput import (  # noqa: E402
    ISSUE_CHAIN_DROPS,
    REPO,
    bench_servers,
    gateway_launch,
    start_backends,
    start_gateway,
)

PATH = "/api/users/1"


async def _client(port: int, headers: dict[str, str], count: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET {PATH} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = (head + "\r\n").encode()
    ok = 0
    try:
        for _ in range(count):
            writer.write(raw)
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            ok += status.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
    return ok


async def load(port: int, headers: dict[str, str], total: int, conns: int) -> int:
    per = max(1, total // conns)
    got = await asyncio.wait_for(
        asyncio.gather(*(_client(port, headers, per) for _ in range(conns))), timeout=600)
    return sum(got)


def total_ir(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--no-plugins", action="store_true")
    ap.add_argument("--without", action="append", default=[], metavar="PLUGIN",
                    help="drop this plugin (every instance) from the copied kong.yml; "
                         "repeatable. The difference to a full run is its cost in place")
    ap.add_argument("--chain", choices=("full", "issue"), default="full",
                    help="issue: only the chain the issue names (drops "
                         + ", ".join(sorted(ISSUE_CHAIN_DROPS)) + ")")
    ap.add_argument("--rl-local", action="store_true",
                    help="rate-limiting with policy local instead of redis (the Redis "
                         "round trip's cost is the difference)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="copy the callgrind dump here (read it with callgrind_annotate)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from harness.tokens import dev_minter

    with bench_servers("harness-bench-ir-", ("nginx", "redis-server", "valgrind",
                                             "callgrind_control"),
                       hint=" (apt-get install valgrind nginx-light redis-server)"
                       ) as (procs, tmp):
        drops = set(args.without) | (ISSUE_CHAIN_DROPS if args.chain == "issue" else set())
        be = start_backends(procs, tmp, drops, cpu="0-1")
        if args.rl_local:
            kong_yml = be.root / "kong/declarative-config/kong.yml"
            text, n = re.subn(r"\bpolicy: redis\b", "policy: local", kong_yml.read_text())
            if n == 0:
                raise SystemExit(f"{kong_yml}: no 'policy: redis' to switch to local")
            kong_yml.write_text(text)
        out = tmp / "callgrind.out"
        # No env(1) in front: valgrind would follow it only by --trace-children.
        launch = gateway_launch()
        os.environ.update(launch.env)
        gw, g_port = start_gateway(
            procs, tmp, be, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             "--dump-instr=no", "--compress-strings=no", *launch.command],
            extra=("--no-plugins",) if args.no_plugins else (), cpu="0-1",
            ready_timeout=180)
        token = dev_minter().mint("acme", ttl=3000)
        headers = {"Host": "acme.app.example.com", "Authorization": f"Bearer {token}",
                   "User-Agent": "bench", "Accept": "*/*"}
        asyncio.run(load(g_port, headers, 300, args.connections))   # warm-up
        subprocess.run(["callgrind_control", "--zero", str(gw.pid)], check=True,
                       capture_output=True, timeout=60)
        t0 = time.monotonic()
        ok = asyncio.run(load(g_port, headers, args.requests, args.connections))
        took = time.monotonic() - t0
        subprocess.run(["callgrind_control", "--dump", str(gw.pid)], check=True,
                       capture_output=True, timeout=120)
        dumps = sorted(tmp.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
        sent = args.requests // args.connections * args.connections
        if ok != sent:
            raise SystemExit(f"only {ok} of {sent} requests answered 200")
        ir = total_ir(dumps[-1])
        if args.keep is not None:
            shutil.copyfile(dumps[-1], args.keep)
        kind = ("data plane only" if args.no_plugins else
                "the issue's chain" if args.chain == "issue" else "full plugin chain")
        if args.without:
            kind += " without " + ", ".join(args.without)
        if args.rl_local:
            kind += " (rate-limiting policy local)"
        print(f"{kind}: {ir / sent / 1000:,.1f} k instructions per request "
              f"({sent} requests, {args.connections} connections, {took:.0f} s under "
              "callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
