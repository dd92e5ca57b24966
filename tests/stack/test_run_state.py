"""state.json round-trips what `attach`, `down` and the reaper need; a bad file is named."""

from __future__ import annotations

import json

import pytest

from harness.errors import StackError
from harness.stack.base import Endpoint
from harness.stack.process import ProcessRecord
from harness.stack.readiness import HttpReady, PgReady, PortReady
from harness.stack.run_state import RunState, Svc, read_state, write_state


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
