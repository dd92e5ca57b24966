"""A throw-away reference gateway with one service's timeouts shortened, for fault scenarios.

Waiting out kong.yml's 5 s read timeout costs a fault scenario seconds per case. This
gateway runs a copy of the repository's gateway config in which only the named
service's `read_timeout` is shorter; it shares the running native stack's stubs,
Redis and Tenant Service (the stack's resolve map), so a stub fault is seen by it
exactly as by the stack's own replicas. Upstreams, health checks and retries are
kong.yml's own: what is observed is still Kong's timeout, retry and passive
health-check behaviour, on a shorter clock.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StackError
from harness.model import Gateway, load_gateway
from harness.stack.ports import free_port
from harness.stack.process import spawn, stop_all
from harness.stack.readiness import HttpReady, Waiting, wait_all

__all__ = ["FaultGateway", "fault_gateway", "shortened_root"]

KONG_YML = Path("kong/declarative-config/kong.yml")
READY_S = 20.0
STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class FaultGateway:
    proxy_url: str      # http://127.0.0.1:port
    status_url: str     # its status listener (upstream health, Kong's shape)
    model: Gateway      # the derived config it runs


def shortened_root(root: Path, dest: Path, service: str, read_timeout_ms: int) -> Gateway:
    """Copy root's kong/ to dest with `service`'s read_timeout set to read_timeout_ms; the
    copy is loaded back through the model, so a miss is an error, not a silent no-op."""
    original = load_gateway(root)
    svc = next((s for s in original.kong.services if s.name == service), None)
    if svc is None:
        raise StackError(f"{root / KONG_YML}: no service {service!r} to derive a fault "
                         "gateway from")
    shutil.copytree(root / "kong", dest / "kong")
    (dest / "stack").symlink_to(root / "stack")
    text = (dest / KONG_YML).read_text()
    # The service's own `read_timeout:` line: the first one after its `- name:` line.
    block = re.compile(rf"(^\s*- name: {re.escape(service)}\s*$.*?^\s*read_timeout:\s*)"
                       rf"{svc.read_timeout}\b", re.M | re.S)
    edited, n = block.subn(rf"\g<1>{read_timeout_ms}", text, count=1)
    (dest / KONG_YML).write_text(edited)
    derived = load_gateway(dest)
    got = next(s.read_timeout for s in derived.kong.services if s.name == service)
    if n != 1 or got != read_timeout_ms:
        raise StackError(f"{dest / KONG_YML}: services.{service}.read_timeout: expected "
                         f"{read_timeout_ms} after the edit, got {got}")
    return derived


@contextmanager
def fault_gateway(root: Path, resolve: dict[str, str], service: str,
                  read_timeout_ms: int) -> Iterator[FaultGateway]:
    """Run a reference gateway on free ports whose `service` times out after
    read_timeout_ms, routed to the stack's processes by `resolve`; stopped on exit."""
    work = Path(tempfile.mkdtemp(prefix="harness-fault-gw-"))
    try:
        model = shortened_root(root, work / "root", service, read_timeout_ms)
        http, status = free_port(), free_port()
        resolve_args = [a for k, v in sorted(resolve.items()) for a in ("--resolve", f"{k}={v}")]
        log = work / "logs" / "fault-gateway.log"
        proc, rec = spawn("fault-gateway", [
            sys.executable, "-m", "harness.gateway", "--root", str(work / "root"),
            "--http-port", str(http), "--status-port", str(status),
            "--log-dir", str(work / "logs"), "--replica-id", "99", *resolve_args],
            log, cwd=root)
        try:
            wait_all([Waiting("fault-gateway", HttpReady(status, "/status"), log, proc.poll,
                              "the derived config did not load; see the log")], READY_S)
            yield FaultGateway(f"http://127.0.0.1:{http}", f"http://127.0.0.1:{status}",
                               model)
        finally:
            stop_all([rec], STOP_GRACE_S)
    finally:
        shutil.rmtree(work, ignore_errors=True)
