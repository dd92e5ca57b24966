"""Design option 1, measured: the prototype hot path vs nginx B64 vs the reference gateway.

Same placement and method as gateway_throughput.py (servers on CPU 1, wrk on CPU 0,
interleaved rounds, medians, CPU per request from /proc). Per round it measures:

- nginx B64 (the 1.0x reference);
- `proto-raw`: bench/prototype/hotpath_proxy.py --mode raw, a bare uvloop + httptools
  proxy of the prototype's structure (the floor of any Python data plane);
- `proto-lua`: the prototype with the chain in LuaJIT (real tenant-context handler.lua,
  the bundled plugins' per-request work, Redis counters, file-log lines);
- `proto-lua-noredis`: the same with the counters answered at once (Redis I/O left out);
- `nginx-lua` (`--nginx-lua`, option 2): nginx + lua-nginx-module running the same chain
  (bench/prototype/nginx_lua/hotpath_nginx.lua; Debian's libnginx-mod-http-lua);
- `gateway`: the reference gateway (harness.gateway) with the full plugin chain.

    .venv/bin/python bench/hotpath_prototype.py [--rounds 3] [--seconds 4] [--no-gateway]
        [--nginx-lua] [--chain full|issue]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_throughput import (  # noqa: E402
    ISSUE_CHAIN_DROPS, REPO, GatewayLaunch, bench_servers, cpu_seconds, free_port,
    gateway_launch, pace_script, rss_mb, start_backends, start_gateway, wait_http, wrk)

PROTO = REPO / "bench" / "prototype" / "hotpath_proxy.py"
NGINX_LUA = REPO / "bench" / "prototype" / "nginx_lua"
LUA_MODULES = Path("/usr/lib/nginx/modules")


def nginx_lua_conf(tmp: Path, port: int, a_port: int, r_port: int, root: Path,
                   chain: str = "full") -> Path:
    """nginx + lua-nginx-module running the option-2 prototype (hotpath_nginx.lua)."""
    from harness.model import load_gateway

    limits = load_gateway(root).tier_limits("enterprise")
    handler = root / "kong/custom-plugins/tenant-context/handler.lua"
    d = tmp / "nginx-lua"
    d.mkdir()
    conf = f"""
load_module {LUA_MODULES}/ndk_http_module.so;
load_module {LUA_MODULES}/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_requests 1000000;
  lua_package_path "{NGINX_LUA}/?.lua;{NGINX_LUA.parent}/?.lua;/usr/share/lua/5.1/?.lua;;";
  lua_package_cpath "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
  init_by_lua_block {{
    HP = require("hotpath_nginx").init("{handler}", {r_port}, "{d}/access.log",
                                       {limits["minute"]}, {limits["hour"]}, "{chain}")
  }}
  upstream a {{ server 127.0.0.1:{a_port}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location /api/users {{
      access_by_lua_block {{ HP.access() }}
      header_filter_by_lua_block {{ HP.header_filter() }}
      log_by_lua_block {{ HP.log() }}
      rewrite ^/api/users(.*)$ /v1/users$1 break;
      proxy_pass http://a;
      proxy_http_version 1.1;
      proxy_set_header Connection keep-alive;   # Kong: $upstream_connection
      proxy_set_header Host user-upstream:8080;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Path $request_uri;
      proxy_set_header X-Forwarded-Prefix /api/users;
    }}
  }}
}}
"""
    path = d / "nginx.conf"
    path.write_text(conf)
    return path


def launch_build(mode: str) -> GatewayLaunch:
    from harness.stack.gateway_build import gateway_launch as launch

    if mode not in ("interpreted", "compiled"):
        raise SystemExit(f"--gateway-builds: expected interpreted and/or compiled, got {mode!r}")
    return launch(mode)


def latency_row(tmp: Path, rate: float, a_port: int,
                targets: dict[str, tuple[int, int | None]], headers: dict[str, str]) -> None:
    """p50 added over the upstream at one offered rate, for every case but B64."""
    from gateway_latency import CONNECTIONS, paced

    script = pace_script(tmp, "poisson", CONNECTIONS / rate * 1000)
    _, direct, _ = paced(a_port, 3, headers, script)
    cells = []
    for name, (port, _) in targets.items():
        if name != "nginx B64":
            _, p50, _ = paced(port, 3, headers, script)
            cells.append(f"{name} +{p50 - direct:.3f}")
    print(f"p50 added at {rate:,.0f} rps offered (upstream alone {direct:.3f} ms): "
          + "  ".join(cells), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--no-gateway", action="store_true", help="leave the reference gateway out")
    ap.add_argument("--chain", choices=("full", "issue"), default="full",
                    help="full: kong.yml's route, every plugin (default); issue: only the "
                         "chain the issue names (jwt, tenant-context, Redis rate limiting, "
                         "prometheus, correlation-id), in every case")
    ap.add_argument("--nginx-lua", action="store_true",
                    help="add option 2: nginx + lua-nginx-module running the same chain "
                         "(apt-get install libnginx-mod-http-lua lua-resty-core lua-cjson)")
    ap.add_argument("--gateway-builds", default=None, metavar="BUILDS",
                    help="run these builds of the reference gateway side by side "
                         "(interpreted,compiled); default: the one HARNESS_GATEWAY_BUILD picks")
    ap.add_argument("--latency", default="", metavar="RATES",
                    help="after the rounds, the p50 each case adds to the upstream's at these "
                         "offered rates (comma-separated requests/s; paced as "
                         "gateway_latency.py does)")
    args = ap.parse_args()
    try:
        rates = [float(r) for r in args.latency.split(",")] if args.latency else []
    except ValueError:
        raise SystemExit(f"--latency: expected comma-separated numbers, got {args.latency!r}")
    from harness.tokens import dev_minter

    tails = ("gateway.log", "gateway-interpreted.log", "gateway-mypyc.log", "proto-raw.out",
             "proto-lua.out", "proto-lua-noredis.out", "nginx-lua.out", "nginx-lua/error.log",
             "nginx-error.log")
    with bench_servers("harness-bench-proto-", tails=tails) as (procs, tmp):
        be = start_backends(procs, tmp, ISSUE_CHAIN_DROPS if args.chain == "issue" else set())
        a_port, b_port, r_port, root = be.a_port, be.b_port, be.r_port, be.root
        token = dev_minter().mint("acme", ttl=3000)
        headers = {"Host": "acme.app.example.com", "Authorization": f"Bearer {token}"}
        targets: dict[str, tuple[int, int | None]] = {"nginx B64": (b_port, None)}
        for mode in ("raw", "lua-noredis", "lua"):
            port = free_port()
            p = procs.start([sys.executable, str(PROTO), "--root", str(root), "--port",
                             str(port), "--upstream", f"127.0.0.1:{a_port}", "--redis",
                             f"127.0.0.1:{r_port}", "--log", str(tmp / f"proto-{mode}.log"),
                             "--mode", mode, "--chain", args.chain], "1",
                            tmp / f"proto-{mode}.out", cwd=REPO)
            targets[f"proto-{mode}"] = (port, p.pid)
        if args.nginx_lua:
            if not (LUA_MODULES / "ngx_http_lua_module.so").exists():
                raise SystemExit("--nginx-lua needs Debian's lua-nginx-module: apt-get "
                                 "install libnginx-mod-http-lua lua-resty-core lua-cjson "
                                 "(it replaces the luajit package, which scripts/bootstrap "
                                 "installs; `apt-get install luajit` puts it back)")
            port = free_port()
            p = procs.start(["nginx", "-c", str(nginx_lua_conf(tmp, port, a_port, r_port,
                                                                root, args.chain)),
                             "-p", str(tmp / "nginx-lua")], "1", tmp / "nginx-lua.out")
            targets["nginx-lua"] = (port, p.pid)
        builds = ([] if args.no_gateway else
                  [gateway_launch()] if args.gateway_builds is None else
                  [launch_build(b) for b in args.gateway_builds.split(",")])
        for launch in builds:
            name = "gateway" if len(builds) == 1 else f"gateway-{launch.build}"
            gw, g_port = start_gateway(procs, tmp, be, launch.argv, name)
            targets[name] = (g_port, gw.pid)
        for name, (port, _) in targets.items():
            body = wait_http(f"http://127.0.0.1:{port}/api/users/1", headers)
            assert body == b'{"ok":true}', (name, body)
            wrk(port, args.warmup, headers)
        if "nginx-lua" in targets:   # its CPU is the worker's, not the master's
            import psutil

            port, master = targets["nginx-lua"]
            assert master is not None
            targets["nginx-lua"] = (port, psutil.Process(master).children()[0].pid)
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
        for rate in rates:
            latency_row(tmp, rate, a_port, targets, headers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
