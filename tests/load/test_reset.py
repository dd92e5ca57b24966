"""Rate-limit counters are reset before a load run on a controllable target (real Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.load.reset import reset_rate_limits
from harness.model import Gateway
from harness.stack.base import Endpoint
from harness.stack.ports import free_port
from harness.target import Target
from harness.tokens import dev_minter


@pytest.fixture()
def redis_port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 5
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class _RedisOnlyStack:
    """Just enough of a Stack for the reset: where Redis listens."""

    name = "test"

    def __init__(self, port: int) -> None:
        self.port = port

    def endpoint(self, service: str) -> Endpoint:
        if service != "redis":
            raise KeyError(service)
        return Endpoint("127.0.0.1", self.port, "redis")


def _target(stack: object | None) -> Target:
    return Target(kind="native", proxy_url="http://127.0.0.1:1", minter=dev_minter(),
                  stack=stack)  # type: ignore[arg-type]


def test_counters_of_an_earlier_run_are_deleted_and_other_keys_kept(
        gateway: Gateway, redis_port: int) -> None:
    client = redis.Redis(port=redis_port)
    for i in range(1500):       # more than one SCAN/DEL batch
        client.set(f"ratelimit:r{i}:s:umbrella:1700000000000:hour", 600)
    client.set("unrelated", "kept")
    note = reset_rate_limits(_target(_RedisOnlyStack(redis_port)), gateway)
    assert "1500 Redis keys ratelimit:* deleted" in note, note
    assert client.keys("ratelimit:*") == []
    assert client.get("unrelated") == b"kept"
    client.close()


def test_a_target_without_a_stack_is_left_alone_and_the_note_says_counters_may_carry_over(
        gateway: Gateway) -> None:
    note = reset_rate_limits(_target(None), gateway)
    assert note.startswith("rate-limit counters not reset") and "carry over" in note


def test_an_unreachable_redis_is_reported_not_raised(gateway: Gateway) -> None:
    note = reset_rate_limits(_target(_RedisOnlyStack(free_port())), gateway)
    assert note.startswith("rate-limit counters NOT reset (ConnectionError"), note
