"""The fault gateway's config (kong.yml with one service's read timeout and, if asked, its
upstream's active probes shortened, nothing else) and its cleanup after a killed run."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cli import main as cli_main
from harness.errors import StackError
from harness.model import load_gateway
from harness.reliability.fault_gateway import Probes, shortened_root
from harness.reliability.reaper import main as reaper_main
from harness.stack.process import ProcessRecord, alive, stop_all

ROOT = Path(__file__).resolve().parents[2]


def test_shortened_root_changes_only_the_named_services_read_timeout(tmp_path):
    original = load_gateway(ROOT)
    derived = shortened_root(ROOT, tmp_path, "user-service", 1000)
    before = {s.name: s for s in original.kong.services}
    after = {s.name: s for s in derived.kong.services}
    assert after["user-service"].read_timeout == 1000
    assert after["user-service"].model_copy(update={"read_timeout": 5000}) == \
        before["user-service"].model_copy(update={"read_timeout": 5000})
    assert {n: s for n, s in after.items() if n != "user-service"} == \
        {n: s for n, s in before.items() if n != "user-service"}
    assert derived.kong.upstreams == original.kong.upstreams


def test_shortened_root_with_retries_changes_only_the_named_services_retries(tmp_path):
    original = load_gateway(ROOT)
    derived = shortened_root(ROOT, tmp_path, "user-service", 1000, retries=0)
    before = original.services["user-service"]
    after = derived.services["user-service"]
    assert before.retries != 0
    assert (after.retries, after.read_timeout) == (0, 1000)
    assert after.model_copy(update={"retries": before.retries, "read_timeout":
                                    before.read_timeout}) == before
    assert {n: s for n, s in derived.services.items() if n != "user-service"} == \
        {n: s for n, s in original.services.items() if n != "user-service"}
    assert derived.kong.upstreams == original.kong.upstreams


def test_shortened_root_names_an_unknown_service(tmp_path):
    with pytest.raises(StackError, match="no service 'nope-service'"):
        shortened_root(ROOT, tmp_path, "nope-service", 1000)


def test_shortened_probes_change_only_the_services_upstreams_active_checks(tmp_path):
    original = load_gateway(ROOT)
    derived = shortened_root(ROOT, tmp_path, "user-service", 1000, Probes(0.5, 1, 1))
    up = original.services["user-service"].host
    a = derived.upstreams[up].healthchecks.active
    assert (a.timeout, a.healthy.interval, a.unhealthy.timeouts) == (0.5, 1, 1)
    b = original.upstreams[up].healthchecks.active
    assert a.model_copy(update={"timeout": b.timeout, "healthy": b.healthy,
                                "unhealthy": b.unhealthy}) == b
    assert a.healthy.model_copy(update={"interval": b.healthy.interval}) == b.healthy
    assert a.unhealthy.model_copy(update={"timeouts": b.unhealthy.timeouts}) == b.unhealthy
    assert derived.upstreams[up].healthchecks.passive == \
        original.upstreams[up].healthchecks.passive
    assert {n: u for n, u in derived.upstreams.items() if n != up} == \
        {n: u for n, u in original.upstreams.items() if n != up}
    assert derived.kong.plugins == original.kong.plugins
    assert derived.kong.consumers == original.kong.consumers


def test_shortened_probes_with_successes_change_only_the_re_admission_count(tmp_path):
    original = load_gateway(ROOT)
    derived = shortened_root(ROOT, tmp_path, "user-service", 1000, Probes(0.5, 1, 1, 1))
    up = original.services["user-service"].host
    a, b = derived.upstreams[up].healthchecks.active, original.upstreams[up].healthchecks.active
    assert b.healthy.successes != 1
    assert (a.healthy.successes, a.healthy.interval) == (1, 1)
    assert a.healthy.model_copy(update={"interval": b.healthy.interval,
                                        "successes": b.healthy.successes}) == b.healthy
    assert a.unhealthy.model_copy(update={"timeouts": b.unhealthy.timeouts}) == b.unhealthy


# A harness run holding a fault gateway: records a stack state (itself as launcher),
# starts the gateway recorded in it, prints its URLs, then waits to be killed.
_RUN = """
import json, sys, time
from pathlib import Path
from harness.reliability.fault_gateway import fault_gateway
from harness.stack.run_state import RunState, write_state
root, state = Path(sys.argv[1]), Path(sys.argv[2])
write_state(state, RunState(), root=root, run_dir=state.parent)
with fault_gateway(root, {}, "user-service", 1000, state=state) as fgw:
    print(json.dumps([fgw.proxy_url, fgw.status_url]), flush=True)
    time.sleep(60)
"""


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def _killed_run_with_fault_gateway(state: Path) -> tuple[int, float, list[str], ProcessRecord]:
    """(launcher pid, its start time, gateway URLs, gateway record) of a run SIGKILLed
    while its fault gateway was up."""
    run = subprocess.Popen([sys.executable, "-c", _RUN, str(ROOT), str(state)], cwd=ROOT,
                           stdout=subprocess.PIPE, start_new_session=True)
    try:
        created = psutil.Process(run.pid).create_time()
        assert run.stdout is not None
        ready, _, _ = select.select([run.stdout], [], [], 30.0)
        assert ready, "the fault gateway did not come up within 30 s"
        urls = json.loads(run.stdout.readline())
        recs = json.loads(state.read_text())["extra"]["transient"]
        assert [r["name"] for r in recs] == ["fault-gateway"]
        rec = ProcessRecord.from_json(recs[0])
        assert alive(rec) and all(_port_open(u) for u in urls)
    finally:
        run.kill()            # SIGKILL: its `finally` (which stops the gateway) never runs
        run.wait(5)
        if run.stdout is not None:
            run.stdout.close()
    return run.pid, created, urls, rec


def _stopped_and_freed(rec: ProcessRecord, urls: list[str]) -> None:
    try:
        assert not alive(rec), "the fault gateway outlived the cleanup"
        assert not any(_port_open(u) for u in urls), "a fault gateway port is still bound"
    finally:
        stop_all([rec], 1.0)


def test_a_killed_runs_fault_gateway_is_stopped_by_the_orphan_reaper_and_its_ports_freed(
        tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    pid, created, urls, rec = _killed_run_with_fault_gateway(state)
    assert alive(rec), "the gateway should still run once its launcher is gone"
    work = [p for p in tmp_path.iterdir() if p.name.startswith("fault-gw-")]
    assert len(work) == 1 and (work[0] / "logs" / "fault-gateway.log").is_file()
    assert reaper_main(["--pid", str(pid), "--create-time", repr(created),
                        "--state", str(state)]) == 0
    _stopped_and_freed(rec, urls)
    assert not work[0].exists(), "the fault gateway's working directory outlived the reaper"


def test_harness_down_stops_a_fault_gateway_left_by_a_killed_run(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    _, _, urls, rec = _killed_run_with_fault_gateway(state)
    assert cli_main(["down", "--run-dir", str(tmp_path)]) == 0
    _stopped_and_freed(rec, urls)
    assert not state.exists()


def test_shared_fault_gateways_start_together_stay_up_across_asks_and_close_cleanly(
        tmp_path: Path) -> None:
    from harness.reliability.fault_gateway import SharedFaultGateways, Variant
    from harness.stack.run_state import RunState, write_state

    state = tmp_path / "state.json"
    write_state(state, RunState(), root=ROOT, run_dir=tmp_path)
    variants = [Variant("user-service", 1000, Probes(0.5, 1, 1)),
                Variant("user-service", 500, retries=0)]
    shared = SharedFaultGateways()
    try:
        started = time.monotonic()
        shared.prepare("s", ROOT, {}, variants, state=state)
        assert time.monotonic() - started < 1.0, "prepare waited for the start-up"
        assert shared.owner == "s"
        slow, no_retry = shared.get("s", ROOT, {}, variants, state=state)
        assert slow.model.services["user-service"].read_timeout == 1000
        assert no_retry.model.services["user-service"].retries == 0
        assert all(_port_open(u) for g in (slow, no_retry)
                   for u in (g.proxy_url, g.status_url))
        recs = json.loads(state.read_text())["extra"]["transient"]
        assert len(recs) == 2 and all(Path(r["workdir"]).parent == tmp_path for r in recs)
        assert shared.get("s", ROOT, {}, variants[1:], state=state) == [no_retry]
        assert shared.get("s", ROOT, {}, variants[1:], state=state)[0].process is no_retry.process
    finally:
        shared.close()
    assert not any(_port_open(u) for g in (slow, no_retry) for u in (g.proxy_url, g.status_url))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("fault-gw-")]
    assert "transient" not in json.loads(state.read_text()).get("extra", {})
    shared.close()        # a second close is a no-op


def test_a_failed_background_start_is_raised_by_the_next_get(tmp_path: Path) -> None:
    from harness.reliability.fault_gateway import SharedFaultGateways, Variant

    shared = SharedFaultGateways()
    bad = [Variant("nope-service", 1000)]
    try:
        shared.prepare("s", ROOT, {}, bad)
        with pytest.raises(StackError, match="no service 'nope-service'"):
            shared.get("s", ROOT, {}, bad)
        assert shared.owner is None
    finally:
        shared.close()


def test_close_runs_every_at_end_check_and_raises_the_first_failure_once_all_ran() -> None:
    from harness.reliability.fault_gateway import SharedFaultGateways

    shared = SharedFaultGateways()
    ran: list[str] = []

    def failing(name: str) -> None:
        ran.append(name)
        raise StackError(f"{name}: not re-admitted")
    shared.at_end(lambda: failing("hang"))
    shared.at_end(lambda: ran.append("slow"))
    shared.at_end(lambda: failing("timeout_504"))
    with pytest.raises(StackError, match="hang: not re-admitted"):
        shared.close()
    assert ran == ["hang", "slow", "timeout_504"]
    shared.close()            # the checks ran once: nothing left to run or raise
    assert ran == ["hang", "slow", "timeout_504"]
