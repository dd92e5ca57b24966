"""The concurrent client pool of the rate-limit accuracy run (asyncio, raw keep-alive).

`run_clients` spreads `clients` tasks of ONE tenant over the gateway replicas
(round-robin by client), each sending GET <prefix>/<nonce> at most `rate`
times a second until the deadline, and returns one `Sample` per request.
`backend_counts` reads which nonces the stubs received; `analyse` (accuracy.py)
turns both into the figures. Bounded by count and time everywhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import httpx

from harness.rawhttp import AsyncConnection, build_request
from harness.reliability.accuracy import Sample

__all__ = ["backend_counts", "run_clients"]


async def _client(i: int, endpoint: tuple[str, int], host: str, token: str, prefix: str,
                  run_id: str, deadline: float, rate: float, max_requests: int,
                  out: list[Sample]) -> None:
    conn = AsyncConnection(*endpoint, timeout=5.0)
    interval = 1.0 / rate if rate > 0 else 0.0
    replica = f"{endpoint[0]}:{endpoint[1]}"
    try:
        for k in range(max_requests):
            started = time.time()
            if started >= deadline:
                break
            nonce = f"{run_id}-{i}-{k}"
            data = build_request("GET", f"{prefix}/{nonce}", [
                ("Host", host), ("Authorization", f"Bearer {token}")])
            try:
                resp = await conn.request(data)
                reset = resp.header("ratelimit-reset")
                out.append(Sample(nonce, started, time.time(), resp.status,
                                  int(reset) if reset and reset.isdigit() else None, replica))
            except (OSError, asyncio.TimeoutError, ValueError):
                out.append(Sample(nonce, started, None, None, None, replica))
            spent = time.time() - started
            if interval > spent:
                await asyncio.sleep(interval - spent)
    finally:
        await conn.close()


async def _run(endpoints: Sequence[tuple[str, int]], host: str, token: str, clients: int,
               duration_s: float, rate: float, prefix: str, run_id: str) -> list[Sample]:
    out: list[Sample] = []
    deadline = time.time() + duration_s
    cap = int(duration_s * max(rate, 1.0) * 4) + 10
    await asyncio.gather(*(
        _client(i, endpoints[i % len(endpoints)], host, token, prefix, run_id, deadline, rate,
                cap, out) for i in range(clients)))
    return out


def run_clients(endpoints: Sequence[tuple[str, int]], host: str, token: str, *,
                clients: int = 200, duration_s: float = 10.0, rate: float = 2.0,
                prefix: str = "/api/users/acc", run_id: str | None = None
                ) -> tuple[str, list[Sample]]:
    """Run the pool; returns (run id, samples). Every nonce starts with the run id."""
    rid = run_id or uuid.uuid4().hex[:8]
    return rid, asyncio.run(_run(endpoints, host, token, clients, duration_s, rate, prefix, rid))


def backend_counts(admin_urls: Sequence[str], run_id: str) -> dict[str, int]:
    """nonce -> times any stub received it (paths end with the nonce)."""
    counts: dict[str, int] = {}
    with httpx.Client(timeout=10, trust_env=False) as http:
        for base in admin_urls:
            by_path = http.get(base.rstrip("/") + "/counters").json().get("by_path", {})
            for path, n in by_path.items():
                nonce = path.rsplit("/", 1)[-1]
                if nonce.startswith(run_id + "-"):
                    counts[nonce] = counts.get(nonce, 0) + int(n)
    return counts
