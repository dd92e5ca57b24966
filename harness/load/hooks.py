"""Locust event hooks: every request goes to the Recorder; workers ship deltas to the master."""

from __future__ import annotations

from typing import Any

from harness.load.recorder import Recorder

__all__ = ["attach"]

_KEY = "harness"


def _no_header(_: str) -> None:
    return None


def attach(events: Any, recorder: Recorder, *, worker: bool = False, master: bool = False
           ) -> None:
    """Register the listeners on an Environment's `events`."""

    def on_request(response_time: float, response: Any = None, context: Any = None,
                   exception: Any = None, **_: Any) -> None:
        ctx = context or {}
        kind = ctx.get("kind")
        if kind is None:        # not one of our users' requests
            return
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None)
        header = headers.get if headers is not None else _no_header
        reason = ""
        if status == 0 and exception is not None:
            reason = f"{type(exception).__name__}: {str(exception)[:80]}"
        recorder.record(kind, ctx["tier"], ctx["tenant"], ctx["route"], status,
                        float(response_time), header, reason)

    events.request.add_listener(on_request)
    if worker:
        def on_report(client_id: str, data: dict[str, Any]) -> None:
            data[_KEY] = recorder.drain()

        events.report_to_master.add_listener(on_report)
    if master:
        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            if _KEY in data:
                recorder.merge(data[_KEY])

        events.worker_report.add_listener(on_worker_report)
