"""A load worker process for `harness load --workers N` (Locust as a library).

Started by the runner as `python -m harness.load.worker --master-port P`,
with its configuration (including the token signing keys, never on the
command line) as JSON on stdin.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")       # see harness.load.runner
    import locust  # noqa: F401  (gevent monkey-patching first)

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from locust.env import Environment

from harness.client import GatewayClient
from harness.load.context import LoadContext, install
from harness.load.hooks import attach
from harness.load.profiles import load_profiles
from harness.load.recorder import Recorder
from harness.load.users import build_user_classes
from harness.model import load_gateway
from harness.tokens import SigningKey, TokenMinter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.load.worker")
    ap.add_argument("--master-port", type=int, required=True)
    ap.add_argument("--index", type=int, default=0)
    args = ap.parse_args(argv)
    cfg: dict[str, Any] = json.loads(sys.stdin.read())
    root = Path(cfg["root"])
    gateway = load_gateway(root)
    catalogue = load_profiles(Path(cfg["profiles_file"]))
    profile = catalogue.profile(cfg["profile"])
    keys = [SigningKey(k["kid"], base64.b64decode(k["pem"])) for k in cfg["keys"]]
    minter = TokenMinter(keys, issuer=cfg["issuer"], audience=cfg["audience"])
    ends, acc = [], 0.0
    for st in profile.stages:
        acc += st.duration
        ends.append(acc)
    recorder = Recorder({t: gateway.tier_limits(t) for t in gateway.tiers.tiers}, ends)
    client = GatewayClient(gateway, minter, cfg["proxy_url"], cfg.get("tls_url"))
    ctx = install(LoadContext(root, gateway, catalogue, cfg["profile"], client, recorder))
    ctx.classes = build_user_classes(gateway, catalogue)
    env = Environment(user_classes=list(ctx.classes.values()), host=cfg["proxy_url"])
    attach(env.events, recorder, worker=True)
    runner = env.create_worker_runner("127.0.0.1", args.master_port)
    # Stages are timed from the master's start, so the worker's per-stage cells agree.
    runner.register_message("harness_start",
                            lambda msg, **_: recorder.start(float(msg.data["t"])))
    runner.greenlet.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
