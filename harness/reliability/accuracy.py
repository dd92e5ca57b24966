"""Rate-limit accuracy from the backend's side: the arithmetic (pure, unit-tested).

hostile-inputs.md §3.4 defines the figures:

- admitted(w): requests of window w that **reached the backend** (counted by
  the stubs, joined to the client's record by a per-request nonce in the
  path), not the client's 2xx count;
- over-admission % = 100 × Σ_w max(0, admitted(w) − limit) / (limit × K);
- peak admitted in any rolling window of one window length ÷ limit (≤ 2 for
  fixed windows: the boundary burst, reported apart, not over-admission);
- the Jepsen-style counter bound (§3.5): lower = requests with a definite
  gateway answer, upper = all requests sent.

Each response is attributed to a window with the gateway's own clock
(`RateLimit-Reset` counted from the moment the answer arrived, §3.4 step 4),
never the client's idea of the boundary; requests without a usable answer
fall back to their send time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "AccuracyReport",
    "Sample",
    "WindowFigures",
    "analyse",
    "counter_within_bounds",
    "peak_in_rolling_window",
    "window_of",
]


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it (times in epoch seconds)."""

    nonce: str
    sent_at: float
    received_at: float | None = None   # None: no answer (timeout, reset)
    status: int | None = None
    reset_s: int | None = None         # the RateLimit-Reset header, seconds
    replica: str = ""

    @property
    def definite(self) -> bool:
        """The gateway answered (a counted request or a refusal), per §3.5's lower bound."""
        return self.status is not None and self.status < 500


def window_of(sample: Sample, window_s: int) -> int:
    """Start (epoch seconds) of the window the gateway counted `sample` in.

    Kong computes `now` in whole seconds and answers `RateLimit-Reset =
    window_start + window - now`, so `now + reset` is the window's end. The
    gateway's `now` lies between the send and the receive time; the candidate
    second that puts the end on a window boundary is the one (the latest if
    several: a per-second window cannot tell them apart).
    """
    if sample.reset_s is not None and sample.received_at is not None:
        lo = math.floor(sample.sent_at)
        hi = max(lo, math.floor(sample.received_at))
        fits = [c for c in range(lo, hi + 1) if (c + sample.reset_s) % window_s == 0]
        if fits:
            return fits[-1] + sample.reset_s - window_s
        end = sample.received_at + sample.reset_s
        return int(round(end / window_s)) * window_s - window_s
    return int(math.floor(sample.sent_at / window_s)) * window_s


@dataclass(frozen=True)
class WindowFigures:
    start: int
    sent: int
    admitted: int            # reached the backend
    client_ok: int           # 2xx seen by clients
    rejected: int            # 429 seen by clients
    over: int                # max(0, admitted - limit)

    @property
    def over_pct(self) -> float:
        return 0.0 if self.admitted == 0 else 100.0 * self.over / max(1, self.admitted)


@dataclass
class AccuracyReport:
    limit: int
    window_s: int
    windows: list[WindowFigures]
    sent: int
    answered: int
    errors: int                          # no answer or 5xx
    status_counts: dict[int, int]
    peak_rolling: int                    # max admitted in any rolling window
    lost: list[str] = field(default_factory=list)        # client 2xx, backend never saw it
    unexpected: list[str] = field(default_factory=list)  # backend saw it, client got no 2xx

    @property
    def full_windows(self) -> list[WindowFigures]:
        """Windows where demand exceeded the limit (the ones that test the limiter)."""
        return [w for w in self.windows if w.sent > self.limit]

    @property
    def over_admission_pct(self) -> float:
        """§3.4's over-admission %, over the saturated windows (0 when there are none)."""
        ws = self.full_windows
        if not ws:
            return 0.0
        return 100.0 * sum(w.over for w in ws) / (self.limit * len(ws))

    @property
    def max_over(self) -> int:
        return max((w.over for w in self.windows), default=0)

    @property
    def peak_ratio(self) -> float:
        return self.peak_rolling / self.limit if self.limit else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "limit": self.limit, "window_s": self.window_s, "sent": self.sent,
            "answered": self.answered, "errors": self.errors,
            "windows": len(self.windows), "saturated_windows": len(self.full_windows),
            "admitted_per_window": [w.admitted for w in self.windows],
            "over_admission_pct": round(self.over_admission_pct, 3),
            "max_over_per_window": self.max_over,
            "peak_rolling_admitted": self.peak_rolling,
            "peak_rolling_ratio": round(self.peak_ratio, 3),
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "lost": len(self.lost), "unexpected": len(self.unexpected),
        }


def peak_in_rolling_window(times: Iterable[float], window_s: float) -> int:
    """The most events inside any half-open interval [t, t + window_s)."""
    ts = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def analyse(samples: Iterable[Sample], backend_nonces: Mapping[str, int], *, limit: int,
            window_s: int) -> AccuracyReport:
    """Figures for one run: `backend_nonces` maps nonce -> times the backends saw it."""
    samples = list(samples)
    per_window: dict[int, list[Sample]] = {}
    for s in samples:
        per_window.setdefault(window_of(s, window_s), []).append(s)
    windows = []
    for start in sorted(per_window):
        group = per_window[start]
        admitted = sum(backend_nonces.get(s.nonce, 0) for s in group)
        ok = sum(1 for s in group if s.status is not None and 200 <= s.status < 300)
        rejected = sum(1 for s in group if s.status == 429)
        windows.append(WindowFigures(start, len(group), admitted, ok, rejected,
                                     max(0, admitted - limit)))
    statuses = Counter(s.status for s in samples if s.status is not None)
    # Rolling peak from the backend-admitted requests, timed by their answer.
    admitted_times = [s.received_at if s.received_at is not None else s.sent_at
                      for s in samples if backend_nonces.get(s.nonce, 0) > 0]
    lost = [s.nonce for s in samples
            if s.status is not None and 200 <= s.status < 300 and not backend_nonces.get(s.nonce)]
    unexpected = [s.nonce for s in samples if backend_nonces.get(s.nonce)
                  and not (s.status is not None and 200 <= s.status < 300)]
    return AccuracyReport(
        limit=limit, window_s=window_s, windows=windows, sent=len(samples),
        answered=sum(1 for s in samples if s.status is not None),
        errors=sum(1 for s in samples if s.status is None or s.status >= 500),
        status_counts=dict(statuses),
        peak_rolling=peak_in_rolling_window(admitted_times, window_s),
        lost=lost, unexpected=unexpected)


def counter_within_bounds(read: int, samples: Iterable[Sample]) -> tuple[bool, int, int]:
    """Jepsen's counter check for one window's Redis counter: lower <= read <= upper.

    lower = requests the gateway definitely answered (each was counted, 429s
    included: Kong increments before deciding); upper = every request sent.
    """
    group = list(samples)
    lower = sum(1 for s in group if s.definite)
    upper = len(group)
    return lower <= read <= upper, lower, upper
