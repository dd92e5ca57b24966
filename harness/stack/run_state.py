"""The native stack's run-directory record, `<run_dir>/state.json`.

Written as soon as each process starts, so `harness down` (or the next `up`, or
the orphan reaper) finds every process group even after the launcher died; read
back by `NativeStack.attach` in other processes (CLI, scenarios, benches).
`extra["transient"]` lists processes that run beside the services for a while
(initdb, a scenario's fault gateway): stopped with them, never restarted; a
transient's optional "workdir" (inside the run directory) is removed by the reaper.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import StackError
from harness.stack.base import Endpoint
from harness.stack.process import ProcessRecord, alive
from harness.stack.readiness import HttpReady, PgReady, PortReady, WaitStrategy

__all__ = ["STATE_FILE", "RunState", "Svc", "add_transient", "drop_transient",
           "read_state", "transient_workdirs", "write_state"]

STATE_FILE = "state.json"


def _health_json(s: WaitStrategy) -> dict[str, Any]:
    if isinstance(s, HttpReady):
        return {"kind": "http", "port": s.port, "path": s.path, "status": s.status}
    if isinstance(s, PortReady):
        return {"kind": "port", "port": s.port}
    if isinstance(s, PgReady):
        return {"kind": "postgres", "port": s.port}
    raise TypeError(s)


def _health_from(data: dict[str, Any]) -> WaitStrategy:
    if data["kind"] == "http":
        return HttpReady(int(data["port"]), data["path"], int(data["status"]))
    if data["kind"] == "postgres":
        return PgReady(int(data["port"]))
    return PortReady(int(data["port"]))


@dataclass
class Svc:
    """One service process: its record, endpoints, health check, and how to restart it."""
    record: ProcessRecord
    endpoints: dict[str, Endpoint]
    health: WaitStrategy
    proc: subprocess.Popen[bytes] | None = None     # only in the process that started it
    argv: list[str] = field(default_factory=list)   # to restart it on the same ports
    user: str | None = None
    tls_env: bool = False                            # needs the TLS_* variables


@dataclass
class RunState:
    services: dict[str, Svc] = field(default_factory=dict)
    resolve: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def endpoints(self) -> dict[str, Endpoint]:
        """Every service endpoint, plus `gateway[-tls|-status]` for gateway-1's."""
        out: dict[str, Endpoint] = {}
        for s in self.services.values():
            out.update(s.endpoints)
        for suffix in ("", "-tls", "-status"):
            if f"gateway-1{suffix}" in out:
                out[f"gateway{suffix}"] = out[f"gateway-1{suffix}"]
        return out


def read_state(path: Path) -> RunState | None:
    """The state at path, or None if there is none; StackError if it is unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StackError(f"{path}: unreadable state file ({exc}); remove it "
                         "after checking no stack process runs") from None
    st = RunState(resolve=data.get("resolve", {}), ca_file=data.get("ca_file"),
                  extra=data.get("extra", {}))
    for name, svc in data.get("services", {}).items():
        st.services[name] = Svc(
            ProcessRecord.from_json(svc["process"]),
            {k: Endpoint(**v) for k, v in svc["endpoints"].items()},
            _health_from(svc["health"]), None, svc.get("argv", []), svc.get("user"),
            bool(svc.get("tls_env", False)))
    return st


def write_state(path: Path, st: RunState, *, root: Path, run_dir: Path) -> None:
    """Write st atomically (a reader never sees half a file), this process as launcher.

    A live transient process recorded in the file by another holder of the run
    directory (add_transient) is kept: a rewrite from memory must not orphan it."""
    transient = list(st.extra.get("transient", []))
    mine = {int(r["pid"]) for r in transient}
    transient += [r for r in _raw(path).get("extra", {}).get("transient", [])
                  if int(r["pid"]) not in mine and alive(ProcessRecord.from_json(r))]
    extra = {**st.extra, "transient": transient} if transient else {
        k: v for k, v in st.extra.items() if k != "transient"}
    data = {
        "version": 1,
        "root": str(root),
        "run_dir": str(run_dir),
        "launcher_pid": os.getpid(),
        "services": {n: {"process": s.record.to_json(),
                         "endpoints": {k: vars(e) for k, e in s.endpoints.items()},
                         "health": _health_json(s.health),
                         "argv": s.argv, "user": s.user, "tls_env": s.tls_env,
                         "host": "127.0.0.1",
                         "port": next(iter(s.endpoints.values())).port,
                         "pid": s.record.pid, "pgid": s.record.pgid, "log": s.record.log}
                     for n, s in st.services.items()},
        "endpoints": {k: vars(e) for k, e in st.endpoints().items()},
        "resolve": st.resolve,
        "ca_file": st.ca_file,
        "extra": extra,
    }
    _replace(path, data)


def add_transient(path: Path, rec: ProcessRecord, *, workdir: Path | None = None) -> bool:
    """Record rec in the state at path (extra["transient"]) so that `harness down` and the
    orphan reaper stop it with the stack; `workdir`, its files, is removed by the reaper
    once it is stopped (see transient_workdirs). False if no stack state is there."""
    data = _raw(path)
    if not data:
        return False
    extra = data.setdefault("extra", {})
    extra["transient"] = [r for r in extra.get("transient", []) if r["pid"] != rec.pid]
    extra["transient"].append({**rec.to_json(), **({"workdir": str(workdir)} if workdir
                                                     else {})})
    _replace(path, data)
    return True


def transient_workdirs(path: Path, data: dict[str, Any]) -> list[Path]:
    """The working directories recorded with the transients of `data` (the state at path)
    that lie inside the run directory: only those are ever removed, whatever the file says."""
    run_dir = path.parent.resolve()
    out = []
    for r in data.get("extra", {}).get("transient", []):
        work = r.get("workdir")
        if not work:
            continue
        p = Path(work).resolve()
        if p != run_dir and p.is_relative_to(run_dir):
            out.append(p)
    return out


def drop_transient(path: Path, rec: ProcessRecord) -> None:
    """Forget rec (it was stopped); no-op if the state or the record is gone."""
    data = _raw(path)
    left = [r for r in data.get("extra", {}).get("transient", []) if r["pid"] != rec.pid]
    if len(left) == len(data.get("extra", {}).get("transient", [])):
        return
    data["extra"]["transient"] = left
    if not left:
        del data["extra"]["transient"]
    _replace(path, data)


def _raw(path: Path) -> dict[str, Any]:
    # The file as written, every field kept (launcher_pid included: the reaper checks it).
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _replace(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
