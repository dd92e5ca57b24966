"""state.json round-trips what `attach`, `down` and the reaper need; a bad file is named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.errors import StackError
from harness.stack.base import Endpoint
from harness.stack.process import ProcessRecord, spawn, stop_all
from harness.stack.readiness import HttpReady, PgReady, PortReady
from harness.stack.run_state import (
    RunState,
    Svc,
    add_transient,
    drop_transient,
    read_state,
    write_state,
)


def _svc(name: str, port: int, health) -> Svc:
    return Svc(ProcessRecord(name, 100 + port, 100 + port, 1.5, "python", f"/l/{name}.log"),
               {name: Endpoint("127.0.0.1", port)}, health, None, ["python", "-m", name],
               None, name.startswith("gateway"))


def test_state_round_trips_services_resolve_map_and_gateway_aliases(tmp_path):
    st = RunState(services={"redis": _svc("redis", 1, PortReady(1)),
                            "postgres": _svc("postgres", 2, PgReady(2)),
                            "gateway-1": _svc("gateway-1", 3, HttpReady(3, "/status"))},
                  resolve={"redis:6379": "127.0.0.1:1"}, ca_file="/ca.pem",
                  extra={"ready_seconds": 1.0})
    path = tmp_path / "state.json"
    write_state(path, st, root=tmp_path, run_dir=tmp_path)
    back = read_state(path)
    assert back == st
    assert json.loads(path.read_text())["endpoints"]["gateway"] == {
        "host": "127.0.0.1", "port": 3, "scheme": "http"}


def test_missing_state_is_none_and_a_broken_one_names_the_file(tmp_path):
    assert read_state(tmp_path / "state.json") is None
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StackError, match=r"state.json: unreadable state file"):
        read_state(tmp_path / "state.json")


def _sleeper(tmp_path) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    return spawn("fault-gateway", [sys.executable, "-c", "import time; time.sleep(30)"],
                 tmp_path / "sleeper.log")


def test_a_transient_record_is_added_and_dropped_keeping_the_rest_of_the_state(tmp_path):
    path = tmp_path / "state.json"
    write_state(path, RunState(services={"redis": _svc("redis", 1, PortReady(1))},
                               extra={"ready_seconds": 1.0}), root=tmp_path, run_dir=tmp_path)
    before = json.loads(path.read_text())
    rec = ProcessRecord("fault-gateway", 7, 7, 2.5, "python", "/l/fgw.log")
    assert add_transient(path, rec)
    after = json.loads(path.read_text())
    assert after["extra"]["transient"] == [rec.to_json()]
    assert {k: v for k, v in after.items() if k != "extra"} == \
        {k: v for k, v in before.items() if k != "extra"}
    drop_transient(path, rec)
    assert json.loads(path.read_text()) == before


def test_no_state_file_means_nothing_to_record_a_transient_in(tmp_path):
    rec = ProcessRecord("fault-gateway", 7, 7, 2.5, "python", "/l/fgw.log")
    assert add_transient(tmp_path / "state.json", rec) is False
    drop_transient(tmp_path / "state.json", rec)
    assert not (tmp_path / "state.json").exists()


def test_a_rewrite_from_memory_keeps_a_live_transient_another_holder_recorded(tmp_path):
    path = tmp_path / "state.json"
    st = RunState(services={"redis": _svc("redis", 1, PortReady(1))})
    write_state(path, st, root=tmp_path, run_dir=tmp_path)
    _, live = _sleeper(tmp_path)
    dead = ProcessRecord("fault-gateway", 2**22 + 7, 2**22 + 7, 2.5, "python", "/l/x.log")
    try:
        assert add_transient(path, live) and add_transient(path, dead)
        write_state(path, st, root=tmp_path, run_dir=tmp_path)   # st knows neither
        assert read_state(path).extra["transient"] == [live.to_json()]
    finally:
        stop_all([live], grace=1.0)
    write_state(path, st, root=tmp_path, run_dir=tmp_path)
    assert "transient" not in read_state(path).extra
