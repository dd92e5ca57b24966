"""A deliberately weakened gateway fails the matching hostile-input cases BY NAME.

The native stack is started from a copy of the repository's kong/ in a temp
root whose tenant-context handler.lua no longer strips client-sent
X-Tenant-*/X-Consumer-* headers (nor the headers named in Connection). The
hostile-input cases about those headers must then fail, each under its own
id, while an unrelated control case still passes.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from rel_roots import edited_root

from harness.contracts.client import GatewayClient
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import Timeouts
from harness.model import load_gateway
from harness.reliability.corpus import CORPUS_PATH, load_corpus
from harness.reliability.hostile import run_hostile_case
from harness.reliability.session import hostile_env

ROOT = Path(__file__).resolve().parents[2]
HANDLER = Path("kong/custom-plugins/tenant-context/handler.lua")
STRIP_CALL = "  local truncated = strip_client_headers(conf, headers)\n"

# Cases that only the stripping protects (the plugin still `set`s X-Tenant-ID, so
# a plain spoofed X-Tenant-ID is overwritten even without stripping).
MUST_FAIL = {"tenant-header-underscore-variant", "consumer-headers-spoof",
             "connection-header-names-consumer-and-forwarded",
             "consumer-authenticated-groups-spoof", "host-forwarded-rfc7239"}
CONTROL = {"jwt-no-token", "tenant-header-spoof-single"}

pytestmark = [pytest.mark.stack, pytest.mark.skipif(
    importlib.util.find_spec("harness.gateway.__main__") is None
    or shutil.which("redis-server") is None, reason="needs the reference gateway and redis")]


def _weakened_root(tmp: Path) -> Path:
    return edited_root(tmp, "weak-root", HANDLER, STRIP_CALL,
                       "  local truncated = false  -- weakened: client headers kept\n")


@pytest.fixture(scope="module")
def weak_ctx(tmp_path_factory):
    import tempfile

    from harness.settings import load_settings
    from harness.stack.native import NativeStack, target_from_state

    root = _weakened_root(tmp_path_factory.mktemp("weak"))
    run_dir = Path(tempfile.mkdtemp(prefix="harness-weak-"))   # postgres needs a 755 path
    gw = load_gateway(root)
    settings = load_settings().with_overrides(root=root, run_dir=run_dir, replicas=1,
                                              prometheus=False)
    stack = NativeStack(settings, gateway=gw)
    try:
        stack.start()
        target = target_from_state(run_dir)
        ctx = ScenarioContext(target, gw, GatewayClient(target), Timeouts())
        yield ctx
        ctx.close()
    finally:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_weakened_tenant_context_fails_the_header_stripping_cases_by_name(weak_ctx):
    cases = {c.id: c for c in load_corpus(ROOT / CORPUS_PATH)}
    env = hostile_env(weak_ctx)
    outcomes = {cid: run_hostile_case(cases[cid], env) for cid in sorted(MUST_FAIL | CONTROL)}
    failed = {cid for cid, o in outcomes.items() if o.mismatch is not None}
    assert MUST_FAIL <= failed, {cid: outcomes[cid].mismatch for cid in MUST_FAIL - failed}
    assert not (CONTROL & failed), {cid: outcomes[cid].mismatch for cid in CONTROL & failed}
    # The mismatch names the header that leaked through.
    assert "x_tenant_id" in (outcomes["tenant-header-underscore-variant"].mismatch or "")
