"""Rate-limit accuracy under concurrency: prints over-admission per window and the boundary burst.

Starts a native stack with two gateway replicas sharing Redis (its own run
directory), creates a fresh tenant of the chosen tier (so its counters start
at 0), then runs `--clients` concurrent keep-alive clients of that tenant,
spread over both replicas, for `--windows` whole windows of the tier's
shortest limit. Admitted requests are counted from the backend side (the
stubs' per-path counters, joined by nonce); each request is attributed to a
window with the gateway's RateLimit-Reset. With synchronous Redis counting
(sync_rate -1) over-admission per window must be 0.

    .venv/bin/python bench/ratelimit_accuracy.py [--clients 200] [--windows 3]
        [--tier enterprise] [--rate 0.5] [--no-align] [--out FILE]

Minute windows make a full run take (windows + up to 1) minutes.

Rejected requests increment every window's counter too (Kong's redis policy,
kong-behaviour.md §3), so the offered load must stay under the LONGER windows'
limits for the whole run, or from the second window on the hour limit answers
429 to everything and only the first window measures anything. The defaults
(enterprise: 600/minute, 20000/hour; 200 clients x 0.5 req/s = 6000/minute,
10x the minute limit) keep 3 windows within the hour budget; the bench refuses
a combination that does not. The figures are written as JSON to `--out`
(default reports/reliability/ratelimit-accuracy.json), which the conformance
report's reliability section picks up.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.model import load_gateway  # noqa: E402
from harness.reliability.accuracy import analyse  # noqa: E402
from harness.reliability.ratelimit_run import backend_counts, run_clients  # noqa: E402

WINDOWS = {"second": 1, "minute": 60, "hour": 3600}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--tier", default="enterprise")
    p.add_argument("--rate", type=float, default=0.5, help="requests/s per client")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "reliability"
                   / "ratelimit-accuracy.json", help="where the figures go (JSON)")
    p.add_argument("--no-align", action="store_true", help="start now, not at a boundary")
    p.add_argument("--replicas", type=int, default=2)
    args = p.parse_args()

    import httpx

    from harness.settings import load_settings
    from harness.stack.native import NativeStack, target_from_state

    gw = load_gateway(ROOT)
    limits = gw.tier_limits(args.tier)
    window_name = min(limits, key=lambda w: WINDOWS.get(w, 10**9))
    window_s, limit = WINDOWS[window_name], limits[window_name]
    offered = args.clients * args.rate * window_s * args.windows
    for name, cap in limits.items():
        if name != window_name and offered >= cap:
            p.error(f"{args.clients} clients x {args.rate}/s over {args.windows} {window_name}s "
                    f"offer ~{offered:.0f} requests, over the {name} limit of {cap} of tier "
                    f"{args.tier}: rejected requests count too, so the {name} limit would "
                    "refuse everything after the first window. Lower --rate or --windows.")
    run_dir = Path(tempfile.mkdtemp(prefix="harness-accuracy-"))
    stack = NativeStack(load_settings().with_overrides(run_dir=run_dir, replicas=args.replicas,
                                                       prometheus=False), gateway=gw)
    try:
        stack.start()
        target = target_from_state(run_dir)
        tid = f"acc-{args.tier}-{int(time.time())}"
        tenant_admin = stack.endpoint("tenant-service").url.rstrip("/")
        httpx.post(f"{tenant_admin}/admin/tenants", json={
            "id": tid, "name": tid, "subdomain": tid, "tier": args.tier, "status": "active",
            "custom_domains": []}, timeout=10).raise_for_status()
        host = f"{tid}.{gw.tenants.base_domain}"
        token = target.minter.mint(tid, "accuracy", ttl=3600)
        eps = [(stack.endpoint(f"gateway-{n}").host, stack.endpoint(f"gateway-{n}").port)
               for n in range(1, args.replicas + 1)]
        if not args.no_align:
            wait = math.ceil(time.time() / window_s) * window_s - time.time()
            print(f"aligning to the next {window_name} boundary: {wait:.1f} s", flush=True)
            time.sleep(wait)   # bench only: start exactly at a window boundary
        duration = args.windows * window_s
        t0 = time.time()
        run_id, samples = run_clients(eps, host, token, clients=args.clients,
                                      duration_s=duration, rate=args.rate)
        wall = time.time() - t0
        up = gw.route("users").upstream
        insts = [t.target.split(":")[0] for t in up.targets] if up else []
        counts = backend_counts([stack.endpoint(f"{i}-admin").url for i in insts], run_id)
        rep = analyse(samples, counts, limit=limit, window_s=window_s)
        doc = {"tier": args.tier, "window": window_name, "clients": args.clients,
               "replicas": args.replicas, "rate_per_client": args.rate,
               "wall_s": round(wall, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime(t0)),
               "requests_per_s": round(len(samples) / max(wall, 1e-9), 1), **rep.summary()}
        print(json.dumps(doc, indent=2))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"over-admission: {rep.over_admission_pct:.2f} % (max {rep.max_over} over the "
              f"limit of {limit} in one window); boundary burst: {rep.peak_rolling} admitted "
              f"in a rolling {window_name} = {rep.peak_ratio:.2f} x limit")
        return 0 if rep.max_over == 0 else 1
    finally:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
