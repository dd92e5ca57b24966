"""Latency the reference gateway adds, against the offered rate (method: perf-baselines.md).

Same placement and set-up as gateway_throughput.py: upstream nginx, Redis and the
gateway on CPU 1, wrk on CPU 0, production kong.yml with the tier limits raised.
For each offered rate, wrk paces 20 connections with exponentially distributed
waits (independent clients, see gateway_throughput.pace_script) first straight to
the upstream, then through the gateway, and prints both p50s, the difference, the
p90 through the gateway and the gateway's CPU time per request at that rate.

If the added p50 grew with the rate, requests would be waiting for each other
(queueing on the one event loop). If it stays flat, it is the cost of a request's
own path through the gateway at that rate.

    .venv/bin/python bench/gateway_latency.py [--chain issue|full|none]
        [--rates 100,300,1000,2000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_throughput import (  # noqa: E402
    ISSUE_CHAIN_DROPS,
    bench_servers,
    cpu_seconds,
    gateway_argv,
    pace_script,
    start_backends,
    start_gateway,
    wait_http,
)

CONNECTIONS = 20


def paced(port: int, seconds: int, headers: dict[str, str], script: Path
          ) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p90 ms) of one paced wrk run pinned to CPU 0."""
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
            "--latency", "-s", str(script)]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://127.0.0.1:{port}/api/users/1")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise SystemExit(f"wrk failed: {out}")

    def pct(p: int) -> float:
        m = re.search(rf"\b{p}%\s+([\d.]+)(us|ms|s)\b", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return float(rps.group(1)), pct(50), pct(90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chain", choices=("issue", "full", "none"), default="issue",
                    help="issue: the five plugins the issue names (default); full: kong.yml's "
                         "route; none: the data plane alone (--no-plugins)")
    ap.add_argument("--rates", default="100,300,1000,2000",
                    help="offered rates, requests/s, comma-separated")
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        raise SystemExit(f"--rates: expected comma-separated numbers, got {args.rates!r}")
    from harness.tokens import dev_minter

    with bench_servers("harness-bench-lat-") as (procs, tmp):
        be = start_backends(procs, tmp, ISSUE_CHAIN_DROPS if args.chain == "issue" else set())
        a_port = be.a_port
        gw, g_port = start_gateway(procs, tmp, be, gateway_argv(),
                                   extra=("--no-plugins",) if args.chain == "none" else ())
        token = dev_minter().mint("acme", ttl=3000)
        headers = {"Host": "acme.app.example.com", "Authorization": f"Bearer {token}"}
        wait_http(f"http://127.0.0.1:{g_port}/api/users/1", headers)
        paced(g_port, 2, headers, pace_script(tmp, "poisson", 10.0))   # warm-up
        print(f"chain: {args.chain}; {CONNECTIONS} connections, exponential waits; "
              "ms unless noted")
        print(f"{'offered':>8} {'got':>7} {'p50 direct':>11} {'p50 gateway':>12} "
              f"{'added':>7} {'p90 gateway':>12} {'CPU/request':>12}")
        for rate in rates:
            script = pace_script(tmp, "poisson", CONNECTIONS / rate * 1000)
            _, direct, _ = paced(a_port, args.seconds, headers, script)
            u0, s0 = cpu_seconds(gw.pid)
            rps, p50, p90 = paced(g_port, args.seconds, headers, script)
            u1, s1 = cpu_seconds(gw.pid)
            cpu_us = (u1 - u0 + s1 - s0) / max(1.0, rps * args.seconds) * 1e6
            print(f"{rate:8.0f} {rps:7.0f} {direct:11.3f} {p50:12.3f} {p50 - direct:7.3f} "
                  f"{p90:12.3f} {cpu_us:9.0f} us", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
