"""Locust event hooks of a load run: workers ship their Recorder's deltas to the master.

Each request is recorded by the user that sent it (`TierUser.send` calls the
Recorder directly, inside its `catch_response` block), not by a `request`
listener: that keeps the generator's per-request path short (no listener hop, no
second look at the response). Locust's own `request` event still fires, so its
stats, UI and any other listener see every request as usual.
"""

from __future__ import annotations

from typing import Any

from harness.load.recorder import Recorder

__all__ = ["attach"]

_KEY = "harness"


def attach(events: Any, recorder: Recorder, *, worker: bool = False, master: bool = False
           ) -> None:
    """Register the distributed-mode listeners on an Environment's `events`."""
    if worker:
        def on_report(client_id: str, data: dict[str, Any]) -> None:
            data[_KEY] = recorder.drain()

        events.report_to_master.add_listener(on_report)
    if master:
        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            if _KEY in data:
                recorder.merge(data[_KEY])

        events.worker_report.add_listener(on_worker_report)
