"""Readiness of a service, composed from small wait strategies (STYLE §9).

A strategy answers `check() -> bool` without blocking for long and
`describe() -> str`; `wait_all` polls many at once (services start in
parallel), and a timeout message says what was awaited, for how long, the
process's exit status, the last lines of its log, and a Hint.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import ReadinessTimeout

__all__ = ["AllOf", "HttpReady", "LogReady", "PgReady", "PortReady", "Waiting", "WaitStrategy",
           "tail", "wait_all"]


class WaitStrategy(Protocol):
    def check(self) -> bool: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class PortReady:
    port: int
    host: str = "127.0.0.1"

    def check(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def describe(self) -> str:
        return f"TCP port {self.host}:{self.port} accepting connections"


@dataclass(frozen=True)
class HttpReady:
    port: int
    path: str = "/health"
    status: int = 200
    host: str = "127.0.0.1"
    scheme: str = "http"

    def check(self) -> bool:
        url = f"{self.scheme}://{self.host}:{self.port}{self.path}"
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:  # noqa: S310 (loopback)
                return bool(resp.status == self.status)
        except urllib.error.HTTPError as exc:
            return exc.code == self.status
        except (OSError, ValueError):
            return False

    def describe(self) -> str:
        return f"GET {self.scheme}://{self.host}:{self.port}{self.path} answering {self.status}"


@dataclass(frozen=True)
class PgReady:
    """PostgreSQL accepts a session and answers SELECT 1 (not merely listening:
    during start-up or crash recovery it listens but refuses sessions)."""

    port: int
    host: str = "127.0.0.1"

    def check(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host=self.host, port=self.port, user="postgres",
                                 dbname="postgres", connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def describe(self) -> str:
        return f"PostgreSQL at {self.host}:{self.port} answering SELECT 1"


@dataclass(frozen=True)
class LogReady:
    log: Path
    pattern: str

    def check(self) -> bool:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return False
        return re.search(self.pattern, text) is not None

    def describe(self) -> str:
        return f"log {self.log} matching /{self.pattern}/"


@dataclass(frozen=True)
class AllOf:
    parts: tuple[WaitStrategy, ...]

    def __init__(self, *parts: WaitStrategy) -> None:
        object.__setattr__(self, "parts", parts)

    def check(self) -> bool:
        # In order: a cheap log/port check gates the costlier HTTP one.
        return all(p.check() for p in self.parts)

    def describe(self) -> str:
        return " and ".join(p.describe() for p in self.parts)


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class Waiting:
    """One service being waited for."""

    name: str
    strategy: WaitStrategy
    log: Path
    exit_status: Callable[[], int | None] = field(default=lambda: None)
    hint: str = "see the log above; `harness logs <service>` shows all of it"


def wait_all(items: list[Waiting], timeout: float, interval: float = 0.05) -> None:
    """Return when every strategy passes; raise ReadinessTimeout for the first laggard
    (or at once when a process exits before it is ready)."""
    start = time.monotonic()
    pending = list(items)
    while pending:
        still = []
        for w in pending:
            code = w.exit_status()
            if code is not None:
                raise ReadinessTimeout(_message(w, time.monotonic() - start, code, exited=True))
            if not w.strategy.check():
                still.append(w)
        pending = still
        if not pending:
            return
        if time.monotonic() - start > timeout:
            w = pending[0]
            raise ReadinessTimeout(_message(w, timeout, w.exit_status(), exited=False))
        time.sleep(interval)


def _message(w: Waiting, waited: float, code: int | None, exited: bool) -> str:
    state = (f"exited with status {code}" if code is not None else "still running")
    head = (f"{w.name}: exited before it was ready" if exited
            else f"{w.name}: not ready after {waited:.1f}s")
    return (f"{head}\n  waited for: {w.strategy.describe()} ({waited:.1f}s)\n"
            f"  process: {state}\n  last lines of {w.log}:\n"
            + "\n".join("    " + line for line in tail(w.log).splitlines())
            + f"\nHint: {w.hint}")
