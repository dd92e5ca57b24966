"""Design option 1, measured: the prototype hot path vs nginx B64 vs the reference gateway.

Same placement and method as gateway_throughput.py (servers on CPU 1, wrk on CPU 0,
interleaved rounds, medians, CPU per request from /proc). Per round it measures:

- nginx B64 (the 1.0x reference);
- `proto-raw`: bench/prototype/hotpath_proxy.py --mode raw, a bare uvloop + httptools
  proxy of the prototype's structure (the floor of any Python data plane);
- `proto-lua`: the prototype with the chain in LuaJIT (real tenant-context handler.lua,
  the bundled plugins' per-request work, Redis counters, file-log lines);
- `proto-lua-noredis`: the same with the counters answered at once (Redis I/O left out);
- `gateway`: the reference gateway (harness.gateway) with the full plugin chain.

    .venv/bin/python bench/hotpath_prototype.py [--rounds 3] [--seconds 4] [--no-gateway]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_throughput import (  # noqa: E402
    REPO, SERVICES, Procs, cpu_seconds, free_port, nginx_conf, print_log_tails,
    raised_limits_root, rss_mb, wait_http, wrk)

PROTO = REPO / "bench" / "prototype" / "hotpath_proxy.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--no-gateway", action="store_true", help="leave the reference gateway out")
    args = ap.parse_args()
    from harness.tokens import dev_minter

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix="harness-bench-proto-") as t:
        tmp = Path(t)
        try:
            a_port, b_port, r_port = free_port(), free_port(), free_port()
            procs.start(["nginx", "-c", str(nginx_conf(tmp, a_port, b_port)), "-p", str(tmp)],
                        "1", tmp / "nginx.log")
            procs.start(["redis-server", "--port", str(r_port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no"], "1", tmp / "redis.log")
            root = raised_limits_root(tmp)
            token = dev_minter().mint("acme", ttl=3000)
            headers = {"Host": "acme.app.example.com", "Authorization": f"Bearer {token}"}
            targets: dict[str, tuple[int, int | None]] = {"nginx B64": (b_port, None)}
            for mode in ("raw", "lua-noredis", "lua"):
                port = free_port()
                p = procs.start([sys.executable, str(PROTO), "--root", str(root), "--port",
                                 str(port), "--upstream", f"127.0.0.1:{a_port}", "--redis",
                                 f"127.0.0.1:{r_port}", "--log", str(tmp / f"proto-{mode}.log"),
                                 "--mode", mode], "1", tmp / f"proto-{mode}.out", cwd=REPO)
                targets[f"proto-{mode}"] = (port, p.pid)
            if not args.no_gateway:
                g_port, s_port = free_port(), free_port()
                resolve = [a for s in SERVICES for a in ("--resolve", f"{s}=127.0.0.1:{a_port}")]
                resolve += ["--resolve", f"redis:6379=127.0.0.1:{r_port}"]
                gw = procs.start([sys.executable, "-m", "harness.gateway", "--root", str(root),
                                  "--http-port", str(g_port), "--status-port", str(s_port),
                                  "--log-dir", str(tmp / "logs"), *resolve], "1",
                                 tmp / "gateway.log", cwd=REPO)
                wait_http(f"http://127.0.0.1:{s_port}/status", {}, proc=gw)
                targets["gateway"] = (g_port, gw.pid)
            for name, (port, _) in targets.items():
                body = wait_http(f"http://127.0.0.1:{port}/api/users/1", headers)
                assert body == b'{"ok":true}', (name, body)
                wrk(port, args.warmup, headers)
            rps: dict[str, list[float]] = {n: [] for n in targets}
            cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
            served: dict[str, float] = dict.fromkeys(targets, 0.0)
            for i in range(args.rounds):
                line = []
                for name, (port, pid) in targets.items():
                    c0 = sum(cpu_seconds(pid)) if pid else 0.0
                    r, _ = wrk(port, args.seconds, headers)
                    if pid:
                        cpu[name] += sum(cpu_seconds(pid)) - c0
                        served[name] += r * max(1, round(args.seconds))
                    rps[name].append(r)
                    line.append(f"{name} {r:,.0f}")
                print(f"round {i + 1}: " + "  ".join(line), flush=True)
            ref = rps["nginx B64"]
            print(f"{'case':<17} {'rps':>8} {'x B64':>7} {'CPU us/req':>10} {'RSS MB':>7}")
            for name, (_, pid) in targets.items():
                ratio = statistics.median(r / b for r, b in zip(rps[name], ref))
                per = f"{cpu[name] / served[name] * 1e6:.0f}" if pid else "-"
                rss = f"{rss_mb(pid):.1f}" if pid else "-"
                print(f"{name:<17} {statistics.median(rps[name]):>8,.0f} {ratio:>7.3f} "
                      f"{per:>10} {rss:>7}")
        except BaseException:
            print_log_tails(tmp, ("gateway.log", "proto-raw.out", "proto-lua.out", "proto-lua-noredis.out",
                                  "nginx-error.log"))
            raise
        finally:
            procs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
