"""The one generic LoadTestShape: it plays a profile's stages, nothing else."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from harness.load.context import current
from harness.load.profiles import Profile, Stage

__all__ = ["StagesShape", "stage_at", "tick_for"]


def stage_at(profile: Profile, t: float) -> Stage | None:
    end = 0.0
    for stage in profile.stages:
        end += stage.duration
        if t < end:
            return stage
    return None


def tick_for(stage: Stage, classes: dict[str, Any]) -> tuple[int, float, list[Any]]:
    """(users, spawn rate, classes) for Locust. A per-kind mapping becomes fixed counts;
    an int is spread over the tier classes by their tenant-directory weights."""
    counts = stage.counts()
    tier_classes = [c for c in classes.values() if c.kind != "flood"]
    for cls in classes.values():
        cls.fixed_count = 0
    if counts is None:
        return stage.total(), stage.spawn_rate, tier_classes
    by_kind = {c.kind: c for c in classes.values()}
    chosen = []
    for kind, n in sorted(counts.items()):
        if n > 0 and kind in by_kind:
            by_kind[kind].fixed_count = n
            chosen.append(by_kind[kind])
    total = sum(c.fixed_count for c in chosen)
    return total, stage.spawn_rate, chosen or tier_classes


class StagesShape(LoadTestShape):
    """Reads the installed profile's stages; returns None (stop) after the last one."""

    def tick(self) -> tuple[int, float, list[Any]] | None:
        ctx = current()
        stage = stage_at(ctx.profile, self.get_run_time())  # type: ignore[no-untyped-call]
        if stage is None:
            return None
        # Locust (2.47) resets its user generator when a tick changes the class list but not
        # its "spawn fixed_count users first" flag, so fixed-count users of a class that joins
        # later are never spawned. Re-arm the flag; it is a no-op when nobody is missing.
        dispatcher = getattr(self.runner, "_users_dispatcher", None) if self.runner else None
        if dispatcher is not None and hasattr(dispatcher, "_try_dispatch_fixed"):
            dispatcher._try_dispatch_fixed = True
        return tick_for(stage, ctx.classes)
