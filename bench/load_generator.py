"""Prints, side by side in one run, on one core for the load generator (taskset):

1. requests/s of a plain Locust FastHttpUser locustfile vs our harness-hooked tier users
   (Host header, real RS256 token, catch_response, HDR hooks per tier/route/class/second)
   against the same echo stub (pinned to the other core), and their ratio (must be >= 0.9);
2. the percentile error of the report (HDR) vs exact values computed from the raw samples
   (must be <= 1 %), beside Locust's own (bucketed) percentiles for the same requests.

    .venv/bin/python bench/load_generator.py [--seconds 10] [--users 50] [--rounds 1]
                                             [--sequential]

By default each round runs the plain and the hooked generator at the same time, both
pinned to the same core: whatever else the shared machine does hits both alike, and the
figure is requests per CPU-second of each (what a generator reaches when it owns a core).
--sequential runs them one after the other instead (requests/s comparable too, but the
drift between the two runs on a busy machine easily exceeds the 10 % being measured).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT))

from harness.stack.ports import free_port  # noqa: E402


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if (os.cpu_count() or 1) > 1 else []


def start_stub() -> tuple[subprocess.Popen[bytes], str]:
    port, admin = free_port(), free_port()
    proc = subprocess.Popen(_pin(1) + [PY, "-m", "harness.services.stub", "--service", "user",
                                       "--instance", "user-1", "--host", "127.0.0.1",
                                       "--port", str(port), "--admin-port", str(admin)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("stub did not start")


def _spawn(mode: str, url: str, seconds: int, users: int, start_at: float = 0.0
           ) -> subprocess.Popen[str]:
    return subprocess.Popen(_pin(0) + [PY, str(Path(__file__).resolve()), mode, url,
                                       "--seconds", str(seconds), "--users", str(users),
                                       "--start-at", str(start_at)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _collect(mode: str, proc: subprocess.Popen[str], seconds: int) -> dict[str, object]:
    try:
        stdout, stderr = proc.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise SystemExit(f"{mode} run did not finish") from None
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"{mode} run failed:\n{stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def _child(mode: str, url: str, seconds: int, users: int) -> dict[str, object]:
    return _collect(mode, _spawn(mode, url, seconds, users), seconds)


def _pair(url: str, seconds: int, users: int) -> tuple[dict[str, object], dict[str, object]]:
    """Both generators at once on the same core (same conditions for both)."""
    # Both start generating at the same moment, after their (unequal) imports.
    start_at = time.time() + 6
    procs = [_spawn(m, url, seconds, users, start_at)
             for m in ("--child-plain", "--child-hooked")]
    try:
        return (_collect("--child-plain", procs[0], seconds),
                _collect("--child-hooked", procs[1], seconds))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def _wait_until(start_at: float) -> None:
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))


def plain_child(url: str, seconds: int, users: int, start_at: float = 0.0) -> None:
    """Plain FastHttpUser (bench/plain_locustfile.py) through Locust's own local runner."""
    import gevent  # type: ignore[import-untyped]
    from locust.env import Environment

    sys.path.insert(0, str(ROOT / "bench"))
    from plain_locustfile import PlainUser

    _wait_until(start_at)
    env = Environment(user_classes=[PlainUser], host=url)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    # Steady state only (after the spawn second), measured like the hooked child's.
    gevent.sleep(1.0)
    n0, cpu0, t0 = env.stats.total.num_requests, time.process_time(), time.monotonic()
    gevent.sleep(seconds - 1.0)
    n, fails = env.stats.total.num_requests - n0, env.stats.total.num_failures
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    runner.quit()
    if fails:
        raise SystemExit(f"plain run had {fails} failures")
    print(json.dumps({"rps": n / wall, "requests": n, "cpu_s": cpu}))


def hooked_child(url: str, seconds: int, users: int, start_at: float = 0.0) -> None:
    """Runs in the pinned process: our users through the harness runner, raw samples kept."""
    from harness.load.runner import Progress, RunOptions, run_load  # locust (gevent) first
    from harness.target import Target
    from harness.tokens import dev_minter

    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "profiles.yaml"
        prof.write_text(
            '_format_version: "1"\nmix:\n  - {name: list-users, route: users, method: GET}\n'
            "flood_mix: [list-users]\nprofiles:\n  bench:\n    description: no think time\n"
            f"    stages:\n      - {{duration: {seconds}, users: {{enterprise: {users}}}, "
            f"spawn_rate: {users}}}\n    wait: {{min: 0, max: 0}}\n")
        slo = Path(d) / "slo.yaml"
        slo.write_text('_format_version: "1"\nprofiles:\n  default: {}\n')
        marks: list[tuple[float, float, int]] = []   # (wall, cpu, requests) each second

        def mark(p: Progress) -> None:
            marks.append((time.monotonic(), time.process_time(), p.requests))

        _wait_until(start_at)
        res = run_load(RunOptions(root=ROOT, profile="bench", profiles_file=prof, slo_file=slo,
                                  target=Target(kind="url", proxy_url=url, minter=dev_minter()),
                                  target_name="bench", reports_root=Path(d) / "reports",
                                  keep_raw=True, json_only=True, progress=mark))
    rep = res.report
    raw = sorted(ms for kind, _, status, ms in res.recorder.raw
                 if kind == "enterprise" and 200 <= status < 300)
    lat = rep.per_tier["enterprise"].latency
    assert lat is not None and raw
    errors = {}
    for q in (50, 95, 99):
        exact = raw[max(-(-q * len(raw) // 100) - 1, 0)]   # nearest rank
        got = getattr(lat, f"p{q}")
        errors[f"p{q}"] = {"exact_ms": round(exact, 3), "report_ms": got,
                           "error": abs(got - exact) / exact if exact else 0.0}
    assert rep.generator is not None and len(marks) >= 2
    # Steady state: from the first display tick (~1 s, spawn done) to the last.
    (w0, c0, n0), (w1, c1, n1) = marks[0], marks[-1]
    print(json.dumps({"rps": (n1 - n0) / (w1 - w0), "requests": n1 - n0, "cpu_s": c1 - c0,
                      "samples": len(raw), "percentiles": errors,
                      "cpu_max": rep.generator.max_pct}))


def overhead_child(url: str, seconds: int, users: int) -> None:
    """CPU per request of both request paths with the network taken out: each user's
    HTTP agent answers from one real response captured beforehand, so what is timed is
    Locust's request/event machinery plus, for the harness user, its hooks (send,
    catch_response, classification, recorder). Robust on a busy machine, unlike rates."""
    from harness.load.runner import run_load  # noqa: F401  (locust, gevent patching first)
    from locust.env import Environment

    from harness.client import GatewayClient
    from harness.load.context import LoadContext, install
    from harness.load.hooks import attach
    from harness.load.profiles import load_profiles
    from harness.load.recorder import Recorder
    from harness.load.users import build_user_classes
    from harness.model import load_gateway
    from harness.tokens import dev_minter

    sys.path.insert(0, str(ROOT / "bench"))
    from plain_locustfile import PlainUser

    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "profiles.yaml"
        prof.write_text(
            '_format_version: "1"\nmix:\n  - {name: list-users, route: users, method: GET}\n'
            "flood_mix: [list-users]\nprofiles:\n  bench:\n    description: x\n"
            "    stages:\n      - {duration: 5, users: {enterprise: 1}, spawn_rate: 1}\n"
            "    wait: {min: 0, max: 0}\n")
        catalogue = load_profiles(prof)
    gw = load_gateway(ROOT)
    rec = Recorder({t: gw.tier_limits(t) for t in gw.tiers.tiers}, [5.0])
    install(LoadContext(ROOT, gw, catalogue, "bench", GatewayClient(gw, dev_minter(), url), rec))
    classes = build_user_classes(gw, catalogue)
    for cls in [PlainUser, *classes.values()]:
        cls.host = url  # type: ignore[attr-defined]
    env = Environment(user_classes=[PlainUser, *classes.values()], host=url)
    attach(env.events, rec)
    env.create_local_runner()
    plain, hooked = PlainUser(env), classes["EnterpriseUser"](env)
    entry = catalogue.mix[0]
    hooked.send(entry)                     # prepares (and mints) outside the timed loops
    for user, path in ((plain, "/api/users"), (hooked, "/api/users")):
        agent = user.client.client
        canned = agent.urlopen(url + path, method="GET")
        canned.content
        agent.urlopen = lambda *a, _r=canned, **k: _r  # type: ignore[method-assign]

    def run_plain() -> None:
        plain.users()

    def run_hooked() -> None:
        hooked.send(entry)
        hooked.wait_time()

    n, rounds = 5000, max(3, seconds // 2)
    best: dict[str, float] = {"plain": 1e9, "hooked": 1e9}
    for _ in range(rounds):            # best of the rounds: the least disturbed
        for name, fn in (("plain", run_plain), ("hooked", run_hooked)):
            c0 = time.process_time()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.process_time() - c0) / n * 1e6)
    print(json.dumps({"plain_us": best["plain"], "hooked_us": best["hooked"]}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sequential", action="store_true",
                    help="plain then hooked, each alone on the core (default: side by side)")
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--child-overhead", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-plain", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-hooked", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_plain:
        plain_child(args.child_plain, args.seconds, args.users, args.start_at)
        return 0
    if args.child_overhead:
        overhead_child(args.child_overhead, args.seconds, args.users)
        return 0
    if args.child_hooked:
        hooked_child(args.child_hooked, args.seconds, args.users, args.start_at)
        return 0
    stub, url = start_stub()
    try:
        ratios, eff_ratios, plain_effs = [], [], []
        for r in range(args.rounds):
            if args.sequential:
                p = _child("--child-plain", url, args.seconds, args.users)
                h = _child("--child-hooked", url, args.seconds, args.users)
            else:
                p, h = _pair(url, args.seconds, args.users)
            p_rps, h_rps = float(p["rps"]), float(h["rps"])  # type: ignore[arg-type]
            # Requests per CPU-second of the generator = its requests/s when it owns a core;
            # robust when the stub or a busy machine, not the generator, caps the rate.
            p_eff = float(p["requests"]) / float(p["cpu_s"])  # type: ignore[arg-type]
            h_eff = float(h["requests"]) / float(h["cpu_s"])  # type: ignore[arg-type]
            plain_effs.append(p_eff)
            ratios.append(h_rps / p_rps)
            eff_ratios.append(h_eff / p_eff)
            print(f"round {r + 1}: plain FastHttpUser {p_rps:7.0f} req/s ({p_eff:7.0f} per "
                  f"CPU-s) | harness users {h_rps:7.0f} req/s ({h_eff:7.0f} per CPU-s) | "
                  f"ratio {ratios[-1]:.3f}, per CPU-s {eff_ratios[-1]:.3f} (>= 0.9: "
                  f"{'yes' if eff_ratios[-1] >= 0.9 else 'NO'})")
            pct = h["percentiles"]
            assert isinstance(pct, dict)
            worst = max(v["error"] for v in pct.values())
            print("         percentiles of " + f"{h['samples']} 2xx samples: " + ", ".join(
                f"{q} exact {v['exact_ms']:.3f} ms report {v['report_ms']:.3f} ms "
                f"err {v['error']:.3%}" for q, v in pct.items())
                + f" | worst {worst:.3%} (<= 1 %: {'yes' if worst <= 0.01 else 'NO'})")
        ratios.sort()
        eff_ratios.sort()
        print(f"median over {len(ratios)} round(s): rps ratio {ratios[len(ratios) // 2]:.3f}, "
              f"per-CPU-second ratio {eff_ratios[len(eff_ratios) // 2]:.3f}")
        o = _child("--child-overhead", url, args.seconds, args.users)
        extra = float(o["hooked_us"]) - float(o["plain_us"])  # type: ignore[arg-type]
        # A plain request's whole CPU cost at the measured rate (network included).
        per_req = 1e6 / sorted(plain_effs)[len(plain_effs) // 2]
        print(f"hook path without the network: plain {float(o['plain_us']):.1f} µs, "  # type: ignore[arg-type]
              f"harness {float(o['hooked_us']):.1f} µs per request -> {extra:+.1f} µs, "  # type: ignore[arg-type]
              f"{extra / per_req:.1%} of a plain request's {per_req:.0f} µs of CPU "
              f"(implied ratio {per_req / (per_req + extra):.3f})")
    finally:
        os.killpg(stub.pid, signal.SIGTERM)
        stub.wait(10)
    return 0


if __name__ == "__main__":
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
