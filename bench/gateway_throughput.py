"""Reference gateway throughput vs an nginx reverse proxy (method: perf-baselines.md).

Placement: every server (upstream nginx A, nginx proxy B64, Redis, the
gateway) pinned to CPU 1, wrk pinned to CPU 0. The gateway runs the
production kong.yml with the FULL plugin chain (correlation-id, cors, jwt
RS256, tenant-context Lua, request-size-limiting, Redis rate-limiting,
response-transformer, prometheus, file-log); only the tier limits are raised
(in a temporary copy of kong/) so the load is proxied rather than answered
429. The Tenant Service answer comes from nginx A (cached by tenant-context).

Prints, per round and as medians: B64 rps, gateway rps, ratio; then the p50
latency added by the gateway at half its measured load (wrk paced with a Lua
delay) and the gateway's RSS. Also the gateway's CPU time per request
(user+system from /proc, over the measured runs): unlike rps it barely
depends on what else the machine runs, so it is the figure to compare code
changes by. `--profile FILE` samples the gateway with py-spy during the
rounds (speedscope JSON; `py-spy` from the `test` extra).

    .venv/bin/python bench/gateway_throughput.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))   # this tree's harness: gateway_instructions compares trees

from harness.stack.gateway_build import GatewayLaunch  # noqa: E402
from harness.stack.ports import free_port  # noqa: E402

SERVICES = ["user-1:8080", "user-2:8080", "billing-1:8080", "notification-1:8080",
            "file-1:8080", "crm-1:8080", "hrm-1:8080", "tenant-service:8081",
            "auth-service:8082"]
TENANT = {"id": "acme", "name": "ACME Corporation", "tier": "enterprise", "status": "active",
          "subdomain": "acme", "custom_domains": ["api.acme-corp.com"]}


def gateway_launch() -> GatewayLaunch:
    """The gateway as the launchers start it: the mypyc build when there is a current one
    (`harness build-gateway`), else the interpreted code. HARNESS_GATEWAY_BUILD=interpreted
    measures the interpreted code; each bench prints which build it measured."""
    from harness.stack.gateway_build import gateway_launch as launch

    got = launch()
    print(f"gateway build: {got.build}", flush=True)
    return got


def gateway_argv() -> list[str]:
    return gateway_launch().argv


class Procs:
    """Processes started by the bench, each in its own process group."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], cpu: str, log: Path, **kw: object) -> subprocess.Popen[bytes]:
        out = open(log, "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)  # type: ignore[call-overload]
        out.close()
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)


def nginx_conf(tmp: Path, a_port: int, b_port: int) -> Path:
    tenant = json.dumps(TENANT)
    conf = f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{a_port} backlog=4096;
    default_type application/json;
    location = /v1/tenants/resolve {{ return 200 '{tenant}'; }}
    location / {{ return 200 '{{"ok":true}}'; }}
  }}
  upstream a {{ server 127.0.0.1:{a_port}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{b_port} backlog=4096;
    location / {{ proxy_pass http://a; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }}
  }}
}}
"""
    path = tmp / "nginx.conf"
    path.write_text(conf)
    return path


def raised_limits_root(tmp: Path) -> Path:
    """A copy of kong/ with every tier limit raised (same value in both files)."""
    root = tmp / "root"
    shutil.copytree(REPO / "kong", root / "kong")
    for rel in ("kong/declarative-config/kong.yml", "kong/tiers.yaml"):
        p = root / rel
        p.write_text(re.sub(r"\b(minute|hour): \d+", r"\1: 1000000000", p.read_text()))
    return root


# The chain the issue names is jwt, tenant-context, Redis rate limiting, prometheus and
# correlation-id; kong.yml's route also runs these.
ISSUE_CHAIN_DROPS = {"cors", "request-size-limiting", "response-transformer", "file-log"}


def drop_plugins(kong_yml: Path, names: set[str]) -> None:
    """Remove every instance of the named plugins (global, route, service, consumer)."""
    import yaml

    doc = yaml.safe_load(kong_yml.read_text())

    def keep(entries: list[dict[str, object]]) -> list[dict[str, object]]:
        return [p for p in entries if p.get("name") not in names]

    doc["plugins"] = keep(doc.get("plugins") or [])
    for kind in ("services", "routes", "consumers"):
        for entity in doc.get(kind) or []:
            if "plugins" in entity:
                entity["plugins"] = keep(entity["plugins"])
            for route in entity.get("routes") or []:
                if "plugins" in route:
                    route["plugins"] = keep(route["plugins"])
    kong_yml.write_text(yaml.safe_dump(doc, sort_keys=False))


@dataclass(frozen=True)
class Backends:
    """What every gateway bench starts first (servers on `cpu`): one nginx serving upstream A
    (a_port) and the reference proxy B64 (b_port), Redis (r_port), and `root`, a copy of
    kong/ with the tier limits raised; `resolve` maps kong.yml's upstreams onto them."""

    a_port: int
    b_port: int
    r_port: int
    root: Path
    resolve: list[str]


def start_backends(procs: Procs, tmp: Path, drops: set[str] | frozenset[str] = frozenset(),
                   cpu: str = "1") -> Backends:
    a_port, b_port, r_port = free_port(), free_port(), free_port()
    procs.start(["nginx", "-c", str(nginx_conf(tmp, a_port, b_port)), "-p", str(tmp)], cpu,
                tmp / "nginx.log")
    procs.start(["redis-server", "--port", str(r_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"], cpu, tmp / "redis.log")
    root = raised_limits_root(tmp)
    if drops:
        drop_plugins(root / "kong/declarative-config/kong.yml", set(drops))
    resolve = [a for s in SERVICES for a in ("--resolve", f"{s}=127.0.0.1:{a_port}")]
    resolve += ["--resolve", f"redis:6379=127.0.0.1:{r_port}"]
    return Backends(a_port, b_port, r_port, root, resolve)


def start_gateway(procs: Procs, tmp: Path, be: Backends, argv: list[str],
                  name: str = "gateway", extra: tuple[str, ...] = (), cpu: str = "1",
                  ready_timeout: float = 30) -> tuple[subprocess.Popen[bytes], int]:
    """A gateway process over `be`, ready (its /status answers): (process, proxy port).
    Its log is <tmp>/<name>.log."""
    g_port, s_port = free_port(), free_port()
    logs = tmp / ("logs" if name == "gateway" else f"logs-{name}")
    gw = procs.start([*argv, "--root", str(be.root), "--http-port", str(g_port),
                      "--status-port", str(s_port), "--log-dir", str(logs), *be.resolve,
                      *extra], cpu, tmp / f"{name}.log", cwd=REPO)
    wait_http(f"http://127.0.0.1:{s_port}/status", {}, timeout=ready_timeout, proc=gw)
    return gw, g_port


def wrk(port: int, seconds: float, headers: dict[str, str], conns: int = 50,
        script: Path | None = None) -> tuple[float, float]:
    """(requests/s, p50 ms) from wrk -t1 pinned to CPU 0."""
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(f"http://127.0.0.1:{port}/api/users/1")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    out = proc.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk failed: {out}\n{proc.stderr}")
    rps = float(found.group(1))
    m = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert m, out
    p50 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"  warning: {non2xx.group(1)} non-2xx responses", file=sys.stderr)
    return rps, p50


@contextmanager
def bench_servers(prefix: str, tools: tuple[str, ...] = ("nginx", "wrk", "redis-server",
                                                          "taskset"),
                  tails: tuple[str, ...] = ("gateway.log", "nginx-error.log", "redis.log"),
                  hint: str = "") -> Iterator[tuple[Procs, Path]]:
    """(procs, a temporary directory) for one bench run: the tools it needs are checked
    first; on the way out every server is stopped, and a failed run prints the tails of
    `tails` (the servers' logs) to say why. SIGTERM (a CI timeout, `kill`) unwinds like
    Ctrl-C."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH{hint}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix=prefix) as t:
        tmp = Path(t)
        try:
            yield procs, tmp
        except BaseException:
            print_log_tails(tmp, tails)
            raise
        finally:
            procs.stop()


def print_log_tails(tmp: Path, names: tuple[str, ...] = ("gateway.log", "nginx-error.log",
                                                         "redis.log")) -> None:
    """The last lines of the servers' logs, on stderr (a failed run says why)."""
    for name in names:
        if (tmp / name).exists():
            print(f"--- {name} (tail)", file=sys.stderr)
            print("\n".join((tmp / name).read_text().splitlines()[-15:]), file=sys.stderr)


def wait_http(url: str, headers: dict[str, str], timeout: float = 30,
              proc: subprocess.Popen[bytes] | None = None) -> bytes:
    """GET url until it answers; stops early when `proc` (the server) has exited."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with status {proc.returncode}")
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=2) as r:
                return bytes(r.read())
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
            time.sleep(0.2)
    raise SystemExit(f"{url} never answered: {last}")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process (/proc/<pid>/stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def syscalls(pid: int) -> tuple[int, int]:
    """(read-like, write-like) system calls made so far (/proc/<pid>/io syscr, syscw)."""
    got = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(got["syscr"]), int(got["syscw"])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pace_script(tmp: Path, pacing: str, delay_ms: float) -> Path:
    """A wrk script whose delay() paces each connection to a mean of `delay_ms`.

    fixed: every connection waits the same time after each response. Connections that
    the gateway answers in one event-loop turn stay in step, so they keep arriving as
    one burst and the p50 includes waiting behind the burst.
    poisson: exponentially distributed waits (mean delay_ms), so the connections drift
    apart and requests arrive as independent clients' would (an open-model load).
    """
    script = tmp / f"pace-{pacing}.lua"
    if pacing == "fixed":
        script.write_text(f"function delay()\n  return {delay_ms:.3f}\nend\n")
    else:
        script.write_text(
            "math.randomseed(os.time())\n"
            f"function delay()\n  return -{delay_ms:.3f} * math.log(1 - math.random())\nend\n")
    return script


def half_load(pacing: str, g_med: float, tmp: Path, a_port: int, g_port: int,
              seconds: float, headers: dict[str, str]) -> None:
    """Print the p50 the gateway adds at about half its measured throughput."""
    conns = 10 if pacing == "fixed" else 20
    delay_ms = max(0.0, conns / (g_med / 2) * 1000)
    script = pace_script(tmp, pacing, delay_ms)
    _, direct_p50 = wrk(a_port, seconds, headers, conns, script)
    half_rps, gw_p50 = wrk(g_port, seconds, headers, conns, script)
    print(f"half load, {pacing} pacing, {conns} connections ({half_rps:,.0f} rps): p50 direct "
          f"to upstream {direct_p50:.3f} ms, through gateway {gw_p50:.3f} ms, "
          f"added {gw_p50 - direct_p50:.3f} ms (budget <= 1 ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--no-plugins", action="store_true",
                    help="measure the data plane alone (gateway --no-plugins)")
    ap.add_argument("--chain", choices=("full", "issue"), default="full",
                    help="full: kong.yml's route with every plugin (default); issue: only the "
                         "chain the issue names (jwt, tenant-context, Redis rate limiting, "
                         "prometheus, correlation-id)")
    ap.add_argument("--pacing", nargs="+", choices=("fixed", "poisson"),
                    default=["poisson", "fixed"],
                    help="how the half-load run paces its connections (see pace_script)")
    ap.add_argument("--profile", type=Path, default=None,
                    help="write a py-spy profile of the gateway (speedscope JSON) to this file")
    args = ap.parse_args()
    from harness.tokens import dev_minter

    with bench_servers("harness-bench-gw-") as (procs, tmp):
        be = start_backends(procs, tmp, ISSUE_CHAIN_DROPS if args.chain == "issue" else set())
        a_port, b_port = be.a_port, be.b_port
        gw, g_port = start_gateway(procs, tmp, be, gateway_argv(),
                                   extra=("--no-plugins",) if args.no_plugins else ())
        token = dev_minter().mint("acme", ttl=3000)
        headers = {"Host": "acme.app.example.com", "Authorization": f"Bearer {token}"}
        body = wait_http(f"http://127.0.0.1:{g_port}/api/users/1", headers)
        assert body == b'{"ok":true}', body
        wait_http(f"http://127.0.0.1:{b_port}/api/users/1", {})
        wrk(b_port, args.warmup, headers)
        wrk(g_port, args.warmup, headers)
        rows = []
        cpu = served = system = 0.0
        reads = writes = 0
        spy = None
        if args.profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(gw.pid), "-o",
                                    str(args.profile), "-f", "speedscope", "-r", "200",
                                    "-d", str(round(args.rounds * args.seconds * 2 + 5))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        for i in range(args.rounds):
            b_rps, b_p50 = wrk(b_port, args.seconds, headers)
            (u0, s0), (r0, w0) = cpu_seconds(gw.pid), syscalls(gw.pid)
            g_rps, g_p50 = wrk(g_port, args.seconds, headers)
            u1, s1 = cpu_seconds(gw.pid)
            cpu, system = cpu + u1 - u0 + s1 - s0, system + s1 - s0
            r1, w1 = syscalls(gw.pid)
            reads, writes = reads + r1 - r0, writes + w1 - w0
            served += g_rps * max(1, round(args.seconds))
            rows.append((b_rps, g_rps, g_rps / b_rps))
            print(f"round {i + 1}: nginx B64 {b_rps:,.0f} rps (p50 {b_p50:.2f} ms)  "
                  f"gateway {g_rps:,.0f} rps (p50 {g_p50:.2f} ms)  ratio {g_rps / b_rps:.3f}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)   # py-spy writes the profile on SIGINT
            spy.wait(timeout=30)
            print(f"profile written to {args.profile}")
        b_med = statistics.median(r[0] for r in rows)
        g_med = statistics.median(r[1] for r in rows)
        ratio = statistics.median(r[2] for r in rows)
        print(f"median: nginx B64 {b_med:,.0f} rps, gateway {g_med:,.0f} rps, "
              f"ratio {ratio:.3f} (budget >= 0.35)")
        print(f"gateway CPU per request: {cpu / served * 1e6:.0f} us "
              f"({system / served * 1e6:.0f} us in the kernel; "
              f"{reads / served:.2f} reads + {writes / served:.2f} writes per request)")
        for pacing in args.pacing:
            half_load(pacing, g_med, tmp, a_port, g_port, args.seconds, headers)
        print(f"gateway RSS {rss_mb(gw.pid):.1f} MB (budget <= 150 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
