"""Exact latency recording: HDR histograms per user kind, route, status class and stage,
per tenant, and per second — fed by Locust's `request` event, free of Locust imports.

Latencies are kept in microseconds with 3 significant digits (per-second
series: 2), so percentiles are exact to 0.1 % instead of Locust's
two-digit buckets. In distributed runs each worker `drain()`s its deltas into
a JSON-able message and the master `merge()`s them.

The per-request path only appends the latency to a list keyed by (second, kind,
route, tenant, status, outcome); the histograms are filled from those lists in
one vectorised (numpy) pass per cell when the second changes or a view is read.
That keeps the generator's CPU per request close to a plain locustfile's.
"""

from __future__ import annotations

import base64
import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from harness.client import Outcome, classify

__all__ = ["Cell", "Recorder", "new_histogram", "status_class"]

HIGHEST_US = 60_000_000
_MAX_REASONS = 20


def new_histogram(digits: int = 3) -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, digits)


def status_class(status: int) -> str:
    return "err" if status == 0 else f"{status // 100}xx"


@dataclass
class Cell:
    """Counts and a latency histogram for one slice of the traffic."""

    digits: int = 3
    hist: HdrHistogram = field(init=False)
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    sum_us: int = 0      # exact sum, for the mean (HdrHistogram's own mean walks every bucket)

    def __post_init__(self) -> None:
        self.hist = h = new_histogram(self.digits)
        # hdrh's record_value, inlined (it costs ~2.5 µs per call through four methods; this
        # is the same index arithmetic, checked against it by tests/load/test_recorder.py).
        self._mask = h.sub_bucket_mask
        self._unit = h.unit_magnitude
        self._half_mag = h.sub_bucket_half_count_magnitude
        self._half = h.sub_bucket_half_count
        self._counts = h.counts

    def add(self, us: int, status: int, outcome: str) -> None:
        v = 1 if us < 1 else HIGHEST_US if us > HIGHEST_US else us
        h = self.hist
        bucket = (v | self._mask).bit_length() - self._unit - self._half_mag - 1
        self._counts[((bucket + 1) << self._half_mag) + (v >> (bucket + self._unit))
                     - self._half] += 1
        h.total_count += 1
        if v < h.min_value:
            h.min_value = v
        if v > h.max_value:
            h.max_value = v
        self.sum_us += us
        self.outcomes[outcome] += 1
        self.statuses[status] += 1

    def add_counts(self, status: int, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] += n
        self.statuses[status] += n

    def add_many(self, values_us: list[int]) -> None:
        """Latencies only (counts go through add_counts): the same index arithmetic as
        `add`, on a numpy array — one pass per cell instead of one call per request."""
        if not values_us:
            return
        raw = np.asarray(values_us, dtype=np.int64)
        self.sum_us += int(raw.sum())
        v = np.clip(raw, 1, HIGHEST_US)
        # bit_length via the float exponent: exact below 2**53, and v <= 6e7.
        bucket = np.frexp((v | self._mask).astype(np.float64))[1] - self._unit \
            - self._half_mag - 1
        idx = ((bucket + 1) << self._half_mag) + (v >> (bucket + self._unit)) - self._half
        binned = np.bincount(idx)
        nz = np.flatnonzero(binned)
        counts = np.ctypeslib.as_array(self._counts)
        counts[nz] += binned[nz].astype(counts.dtype)
        h = self.hist
        h.total_count += len(values_us)
        lo, hi = int(v.min()), int(v.max())
        if lo < h.min_value:
            h.min_value = lo
        if hi > h.max_value:
            h.max_value = hi

    def merge(self, other: Cell) -> None:
        self.hist.add(other.hist)
        self.sum_us += other.sum_us
        self.outcomes.update(other.outcomes)
        self.statuses.update(other.statuses)

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    def to_wire(self) -> dict[str, Any]:
        return {"h": base64.b64encode(self.hist.encode()).decode() if self.requests else "",
                "o": dict(self.outcomes), "s": {str(k): v for k, v in self.statuses.items()},
                "d": self.digits, "u": self.sum_us}

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Cell:
        cell = cls(int(doc["d"]))
        if doc["h"]:
            cell.hist.add(HdrHistogram.decode(base64.b64decode(doc["h"])))
        cell.sum_us = int(doc.get("u", 0))
        cell.outcomes.update(doc["o"])
        cell.statuses.update({int(k): v for k, v in doc["s"].items()})
        return cell


Key = tuple[str, ...]


# (epoch second, kind, route, tenant, status, outcome): latencies (µs) not yet in the cells
_PendingKey = tuple[int, str, str, str, int, str]


@dataclass
class Recorder:
    """Receives every request; keeps 3-digit cells by (kind, route, status class), 2-digit
    cells by (epoch second, kind, status class) — stages are sums of seconds — and counts
    per tenant. `cells`, `tenants` and `series` flush the pending requests when read."""

    limits_by_tier: dict[str, dict[str, int]]
    stage_ends: list[float]                  # cumulative end time of each stage, seconds
    clock: Callable[[], float] = time.time
    keep_raw: bool = False
    started: float | None = None
    _cells: dict[Key, Cell] = field(default_factory=dict, repr=False)
    _tenants: dict[Key, Cell] = field(default_factory=dict, repr=False)  # counts only
    _series: dict[tuple[int, str, str], Cell] = field(default_factory=dict, repr=False)
    reasons: Counter[str] = field(default_factory=Counter)
    # (kind, route, status, ms) of every request when keep_raw (bench: exactness check)
    raw: list[tuple[str, str, int, float]] = field(default_factory=list)
    _pending: dict[_PendingKey, list[int]] = field(default_factory=dict, repr=False)
    _pending_sec: int = 0

    def start(self, at: float | None = None) -> None:
        self.started = self.clock() if at is None else at

    def stage_of(self, rel: float) -> int:
        return min(bisect.bisect_right(self.stage_ends, rel), max(len(self.stage_ends) - 1, 0))

    def record(self, kind: str, tier: str, tenant: str, route: str, status: int,
               latency_ms: float, header: Callable[[str], str | None],
               reason: str = "", at: float | None = None) -> Outcome:
        now = self.clock() if at is None else at
        if self.started is None:
            self.started = now
        if 200 <= status < 300:      # the common case, without a call
            outcome: Outcome = "ok"
        else:
            outcome, why = classify(status, header, self.limits_by_tier.get(tier, {}))
            if outcome == "failed":
                key = f"{route}: {reason or why}"
                if key in self.reasons or len(self.reasons) < _MAX_REASONS:
                    self.reasons[key] += 1
                else:
                    self.reasons["(other reasons)"] += 1
        self._add(now, kind, route, tenant, status, outcome, latency_ms)
        return outcome

    def record_ok(self, kind: str, route: str, tenant: str, status: int,
                  latency_ms: float) -> None:
        """`record` for a 2xx, called by the load users themselves: nothing to classify,
        no event-listener hop. The generator's hottest line; keep it this short."""
        now = self.clock()
        if self.started is None:
            self.started = now
        self._add(now, kind, route, tenant, status, "ok", latency_ms)

    def _add(self, now: float, kind: str, route: str, tenant: str, status: int,
             outcome: Outcome, latency_ms: float) -> None:
        sec = int(now)
        if sec != self._pending_sec:     # bounds the pending lists to about a second
            self.flush()
            self._pending_sec = sec
        pkey = (sec, kind, route, tenant, status, outcome)
        pending = self._pending.get(pkey)
        if pending is None:
            pending = self._pending[pkey] = []
        pending.append(int(latency_ms * 1000))
        if self.keep_raw:
            self.raw.append((kind, route, status, latency_ms))

    def flush(self) -> None:
        """Move the pending requests into the cells: counts per key, then one vectorised
        histogram update per cell."""
        pending, self._pending = self._pending, {}
        batches: dict[int, tuple[Cell, list[int]]] = {}
        for (sec, kind, route, tenant, status, outcome), values in pending.items():
            n, sclass = len(values), status_class(status)
            for cell in (self._cell(self._cells, (kind, route, sclass)),
                         self._cell(self._series, (sec, kind, sclass), 2)):
                cell.add_counts(status, outcome, n)
                batch = batches.get(id(cell))
                if batch is None:
                    batches[id(cell)] = (cell, list(values))
                else:
                    batch[1].extend(values)
            self._cell(self._tenants, (tenant,), 2).add_counts(status, outcome, n)
        for cell, values in batches.values():
            cell.add_many(values)

    @property
    def cells(self) -> dict[Key, Cell]:
        self.flush()
        return self._cells

    @property
    def tenants(self) -> dict[Key, Cell]:
        self.flush()
        return self._tenants

    @property
    def series(self) -> dict[tuple[int, str, str], Cell]:
        self.flush()
        return self._series

    @staticmethod
    def _cell(table: dict[Any, Cell], key: Any, digits: int = 3) -> Cell:
        cell = table.get(key)
        if cell is None:
            cell = table[key] = Cell(digits)
        return cell

    # -- distributed mode ------------------------------------------------
    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as JSON-able data; then forget it."""
        self.flush()
        msg = {
            "started": self.started,
            "cells": [[list(k), c.to_wire()] for k, c in self._cells.items()],
            "tenants": [[list(k), c.to_wire()] for k, c in self._tenants.items()],
            "series": [[list(k), c.to_wire()] for k, c in self._series.items()],
            "reasons": dict(self.reasons),
        }
        self._cells, self._tenants, self._series = {}, {}, {}
        self.reasons = Counter()
        return msg

    def merge(self, msg: dict[str, Any]) -> None:
        if msg.get("started") and self.started is None:
            self.started = float(msg["started"])
        for name in ("cells", "tenants"):
            table: dict[Key, Cell] = getattr(self, "_" + name)
            for key, wire in msg[name]:
                incoming = Cell.from_wire(wire)
                self._cell(table, tuple(key), incoming.digits).merge(incoming)
        for (sec, kind, sclass), wire in msg["series"]:
            incoming = Cell.from_wire(wire)
            self._cell(self._series, (int(sec), str(kind), str(sclass)), 2).merge(incoming)
        self.reasons.update(msg["reasons"])

    # -- views -------------------------------------------------------------
    def group(self, table: dict[Key, Cell], pick: Callable[[Key], str | None]) -> dict[str, Cell]:
        merged: dict[str, Cell] = {}
        for key, cell in table.items():
            name = pick(key)
            if name is None:
                continue
            target = merged.get(name)
            if target is None:
                target = merged[name] = Cell(cell.digits)
            target.merge(cell)
        return merged

    def live(self, now: float | None = None) -> tuple[Counter[str], float | None, float | None]:
        """Cheap view for the live display and the abort rule: outcome counts so far, and
        p95/p99 (ms, 2xx) of the last complete seconds — from the small per-second cells."""
        counts: Counter[str] = Counter()
        for cell in self.series.values():
            counts.update(cell.outcomes)
        last = int(self.clock() if now is None else now) - 1
        recent = Cell(2)
        for (sec, _, sclass), cell in self.series.items():
            if sclass == "2xx" and last - 2 <= sec <= last:
                recent.merge(cell)
        if not recent.hist.get_total_count():
            return counts, None, None
        pct = recent.hist.get_percentile_to_value_dict([95, 99])
        return counts, pct[95] / 1000, pct[99] / 1000

    def total(self) -> Cell:
        return self.group(self.cells, lambda k: "all")["all"] if self.cells else Cell()

    def kinds(self) -> Iterable[str]:
        return sorted({k[0] for k in self.cells})
