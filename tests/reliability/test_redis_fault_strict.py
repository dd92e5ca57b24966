"""Redis down with rate-limiting `fault_tolerant: false`: Kong's 500, then recovery.

The scenario `fault-redis` covers kong.yml as shipped (fault_tolerant on: fail
open). This is the other half of issue 8's Redis row, on a native stack started
from a temp copy of kong/ whose rate-limiting plugins have fault_tolerant off:
while Redis is down every request of a rate-limited tenant gets Kong's
`500 An unexpected error occurred` (a Lua error in the plugin, kong-behaviour.md
§1/§3) with no rate-limit headers, it never reaches a backend, and limiting
resumes once Redis is back, without a gateway restart.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rel_roots import edited_root

from harness.model import load_gateway

ROOT = Path(__file__).resolve().parents[2]
KONG_YML = Path("kong/declarative-config/kong.yml")
TOLERANT = "fault_tolerant: true"

pytestmark = [pytest.mark.stack, pytest.mark.skipif(
    importlib.util.find_spec("harness.gateway.__main__") is None
    or shutil.which("redis-server") is None, reason="needs the reference gateway and redis")]


def _strict_root(tmp: Path) -> Path:
    return edited_root(tmp, "strict-root", KONG_YML, TOLERANT, "fault_tolerant: false")


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, object]]:
    from harness.settings import load_settings
    from harness.stack.native import NativeStack, target_from_state

    root = _strict_root(tmp_path_factory.mktemp("strict"))
    run_dir = Path(tempfile.mkdtemp(prefix="harness-strict-"))   # postgres needs a 755 path
    gw = load_gateway(root)
    rl = [sp.plugin.config for sp in gw.plugins if sp.name == "rate-limiting"]
    assert rl and not any(getattr(c, "fault_tolerant", True) for c in rl), \
        "the temp config still tolerates faults"
    stack = NativeStack(load_settings().with_overrides(root=root, run_dir=run_dir, replicas=1,
                                                       prometheus=False), gateway=gw)
    try:
        stack.start()
        yield stack, target_from_state(run_dir)
    finally:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_redis_down_without_fault_tolerance_answers_kongs_500_and_recovers(strict_stack):
    stack, target = strict_stack
    gw = load_gateway(ROOT)
    tenant = next(t for t in gw.tenants.tenants if t.status == "active")
    host = gw.tenants.host_of(tenant)
    token = target.minter.mint(tenant.id, "strict", ttl=600)
    admins = [stack.endpoint(f"{n}-admin").url.rstrip("/") for n in ("user-1", "user-2")]

    def get(http: httpx.Client) -> httpx.Response:
        return http.get(f"{target.proxy_url.rstrip('/')}/api/users/strict",
                        headers={"Host": host, "Authorization": f"Bearer {token}"})

    def backend_total(http: httpx.Client) -> int:
        return sum(int(http.get(a + "/counters").json()["total"]) for a in admins)

    with httpx.Client(timeout=10, trust_env=False) as http:
        first = get(http)
        assert first.status_code == 200 and "ratelimit-limit" in first.headers, first.text
        stack.kill("redis")
        try:
            before = backend_total(http)
            down = [get(http) for _ in range(3)]
            assert [r.status_code for r in down] == [500, 500, 500], [r.text for r in down]
            for r in down:
                assert "An unexpected error occurred" in r.text, r.text
                assert not any(h.lower().startswith(("ratelimit-", "x-ratelimit-"))
                               for h in r.headers), dict(r.headers)
            assert backend_total(http) == before, "a 500-refused request reached a backend"
        finally:
            stack.restart("redis")
        back = time.monotonic()
        deadline = back + 10
        resumed = None
        while time.monotonic() < deadline:          # bounded: 10 s
            r = get(http)
            if r.status_code == 200 and "ratelimit-limit" in r.headers:
                resumed = time.monotonic() - back
                break
            time.sleep(0.05)
        assert resumed is not None and resumed <= 1.5, f"limiting resumed after {resumed} s"
