"""What `locust -f scenarios/load/locustfile.py` needs: the user classes, the shape, and
the options and hooks a plain Locust run gets (UI or --headless, master/worker too).

Options: Locust's own --profile NAME picks the profile (stages, think times; default
smoke); added: --tls-host URL
(the gateway's TLS listener, for https-only routes), --harness-root DIR.
At the end the exact (HDR) per-tier percentiles are printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locust import events

from harness.client import GatewayClient
from harness.load.context import LoadContext, install
from harness.load.hooks import attach
from harness.load.profiles import DEFAULT_PROFILES, load_profiles
from harness.load.recorder import Recorder
from harness.load.shape import StagesShape
from harness.load.users import TierUser, build_user_classes
from harness.model import load_gateway
from harness.tokens import dev_minter

__all__ = ["setup"]


def setup(root: Path) -> dict[str, Any]:
    """Names to put in a locustfile's globals: one class per tier, the flood user, the shape."""
    gateway = load_gateway(root)
    catalogue = load_profiles(root / DEFAULT_PROFILES)
    classes = build_user_classes(gateway, catalogue)

    @events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
    def _options(parser: Any, **_: Any) -> None:
        # --profile is Locust's own option ("group test runs"); we read it as the profile name.
        parser.add_argument("--tls-host", default="", help="gateway TLS listener URL")

    @events.init.add_listener  # type: ignore[untyped-decorator]
    def _init(environment: Any, **_: Any) -> None:
        opts = environment.parsed_options
        profile = (getattr(opts, "profile", None) if opts else None) or "smoke"
        prof = catalogue.profile(profile)
        ends, acc = [], 0.0
        for st in prof.stages:
            acc += st.duration
            ends.append(acc)
        recorder = Recorder({t: gateway.tier_limits(t) for t in gateway.tiers.tiers}, ends)
        host = environment.host or "http://127.0.0.1:8000"
        client = GatewayClient(gateway, dev_minter(), host,
                               (getattr(opts, "tls_host", "") or None) if opts else None)
        ctx = install(LoadContext(root, gateway, catalogue, profile, client, recorder))
        ctx.classes = classes
        from locust.runners import MasterRunner, WorkerRunner

        runner = environment.runner
        attach(environment.events, recorder, worker=isinstance(runner, WorkerRunner),
               master=isinstance(runner, MasterRunner))

        @environment.events.quitting.add_listener  # type: ignore[untyped-decorator]
        def _summary(**_: Any) -> None:
            from harness.load.summary import sliced

            if isinstance(runner, WorkerRunner):
                return
            print("\nExact latencies of 2xx responses (HDR, ms):")
            print(f"{'tier':<12}{'requests':>9}{'p50':>9}{'p95':>9}{'p99':>9}"
                  f"{'limited':>9}{'failed':>8}")
            for kind, f in sliced(recorder.cells, 0, max(prof.duration, 1e-3)).items():
                lat = f.latency
                print(f"{kind:<12}{f.requests:>9}"
                      + "".join(f"{getattr(lat, q):>9.2f}" if lat else f"{'-':>9}"
                                for q in ("p50", "p95", "p99"))
                      + f"{f.limited:>9}{f.failed:>8}")

    class ProfileShape(StagesShape):
        """The stages of --profile."""

    return {**classes, "ProfileShape": ProfileShape, "TierUser": TierUser}
