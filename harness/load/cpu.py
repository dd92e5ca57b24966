"""Load-generator CPU, sampled every second from the start of the run.

Locust's own monitor samples every 10 s and its first reading is always 0, so
in short runs it warns late or never (perf-baselines.md). A Locust process is
single-threaded (gevent): at ~90 % of one core it is the bottleneck, and the
latencies and throughput it reports describe the generator, not the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

__all__ = ["CpuSampler", "CpuSummary", "SATURATION_PCT"]

SATURATION_PCT = 90.0
# Consecutive saturated seconds before the run counts as generator-bound.
SATURATION_SECONDS = 2


@dataclass(frozen=True)
class CpuSummary:
    processes: int
    samples: list[tuple[float, float]]        # (seconds from start, busiest process %)
    machine: list[tuple[float, float]]        # (seconds from start, whole machine %)
    mean_pct: float
    max_pct: float
    seconds_saturated: int
    saturated: bool
    cores: int
    note: str


@dataclass
class CpuSampler:
    """Samples the generator processes (master and workers) and the whole machine."""

    pids: list[int]
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    samples: list[tuple[float, float]] = field(default_factory=list)
    machine: list[tuple[float, float]] = field(default_factory=list)

    def start(self) -> None:
        self.started = self.clock()
        for pid in self.pids:
            self.add(pid)
        psutil.cpu_percent(interval=None)

    def add(self, pid: int) -> None:
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(interval=None)   # primes the counter; the first reading is 0
            self._procs[pid] = proc
        except psutil.Error:
            pass

    def sample(self) -> float:
        """The busiest generator process's CPU % (of one core) since the last sample."""
        busiest = 0.0
        for pid, proc in list(self._procs.items()):
            try:
                busiest = max(busiest, proc.cpu_percent(interval=None))
            except psutil.Error:
                del self._procs[pid]
        t = round(self.clock() - self.started, 2)
        self.samples.append((t, busiest))
        self.machine.append((t, psutil.cpu_percent(interval=None)))
        return busiest

    def summary(self) -> CpuSummary:
        values = [v for _, v in self.samples]
        longest = run = 0
        for v in values:
            run = run + 1 if v >= SATURATION_PCT else 0
            longest = max(longest, run)
        seconds = sum(1 for v in values if v >= SATURATION_PCT)
        saturated = longest >= SATURATION_SECONDS
        machine_busy = [m for _, m in self.machine if m >= 95.0]
        if saturated:
            note = (f"load generator CPU-bound: a generator process was at >= "
                    f"{SATURATION_PCT:.0f}% of a core for {seconds} s; throughput and latency "
                    "figures describe the generator, not the gateway (use --workers N)")
        elif len(machine_busy) >= SATURATION_SECONDS:
            note = (f"machine CPU-bound: all cores >= 95% busy for {len(machine_busy)} s; the "
                    "generator and the gateway compete for CPU")
        else:
            note = "load generator had CPU headroom"
        return CpuSummary(len(self.pids), self.samples, self.machine,
                          sum(values) / len(values) if values else 0.0,
                          max(values, default=0.0), seconds, saturated,
                          psutil.cpu_count() or 1, note)
