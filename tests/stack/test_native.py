"""Acceptance of the native stack with real processes (one `up` shared by the module)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jwt
import psutil
import pytest

from harness.errors import StackAlreadyRunning, StackError
from harness.model import load_gateway
from harness.settings import Settings
from harness.stack.gateway_build import gateway_launch
from harness.stack.native import NativeStack, stub_instances, target_from_state
from harness.stack.process import spawn
from harness.stack.run_state import add_transient

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


def _run_dir() -> Path:
    # Not pytest's tmp_path: its parents are mode 700 and PostgreSQL runs as `postgres`.
    return Path(tempfile.mkdtemp(prefix="harness-native-test-"))


def _ports_of(stack: NativeStack) -> list[int]:
    return sorted({e.port for s in stack.services() for e in stack._state.services[s]
                   .endpoints.values()})


def _pids_of(stack: NativeStack) -> list[int]:
    return [stack._state.services[s].record.pid for s in stack.services()]


def _port_free(port: int) -> bool:
    """Nobody listens: a server could bind it again (TIME_WAIT left by closed
    connections does not count, as for any server using SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            return True
        except OSError:
            return False


def _ps_pids() -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    return {int(p) for p, stat in (line.split() for line in out.splitlines()) if "Z" not in stat}


@pytest.fixture(scope="module")
def stack():
    run_dir = _run_dir()
    # With the reference gateway when it exists: the launcher must wire it up.
    st = NativeStack(Settings(run_dir=run_dir))
    st.start()
    yield st
    st.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=5) as c:
        yield c


def test_every_service_is_healthy_after_up(stack):
    states = {n: stack.status(n).state for n in stack.services()}
    assert states and set(states.values()) == {"healthy"}, states
    assert {"redis", "postgres", "tenant-service", "auth-service"} <= set(states)


def test_one_stub_per_kong_upstream_target_echoes_through_its_port(stack, http):
    instances = stub_instances(load_gateway(ROOT))
    assert len(instances) >= 6
    for service, inst, _ in instances:
        echo = http.get(stack.endpoint(inst).url + "/ping").json()
        assert (echo["service"], echo["instance"], echo["path"]) == (service, inst, "/ping")


def test_resolve_map_covers_every_upstream_target_and_redis(stack):
    gw = load_gateway(ROOT)
    targets = {t.target for u in gw.kong.upstreams for t in u.targets}
    assert targets | {"redis:6379"} <= set(stack.resolve_map)
    assert stack.resolve_map["redis:6379"] == f"127.0.0.1:{stack.endpoint('redis').port}"


def test_tenant_service_resolves_a_seeded_custom_domain_from_postgres(stack, http):
    base = stack.endpoint("tenant-service").url
    r = http.get(base + "/v1/tenants/resolve", params={"host": "API.Acme-Corp.com."})
    assert r.status_code == 200
    assert r.json() == {"id": "acme", "name": "ACME Corporation", "tier": "enterprise",
                        "status": "active", "subdomain": "acme",
                        "custom_domains": ["api.acme-corp.com"]}
    assert http.get(base + "/v1/tenants/resolve",
                    params={"host": "globex.app.example.com"}).json()["id"] == "globex"
    r = http.get(base + "/v1/tenants/resolve", params={"host": "nobody.example.org"})
    assert (r.status_code, r.json()) == (404, {"message": "unknown host"})


def test_tenant_admin_adds_retiers_suspends_and_resets(stack, http):
    base = stack.endpoint("tenant-service").url
    r = http.post(base + "/admin/tenants", json={"id": "wayne", "name": "Wayne", "subdomain":
                                                 "wayne", "tier": "pro",
                                                 "custom_domains": ["api.wayne.io"]})
    assert r.status_code == 201, r.text
    r = http.patch(base + "/admin/tenants/wayne", json={"tier": "basic", "status": "suspended"})
    assert (r.json()["tier"], r.json()["status"]) == ("basic", "suspended")
    assert http.get(base + "/v1/tenants/resolve",
                    params={"host": "api.wayne.io"}).json()["id"] == "wayne"
    r = http.patch(base + "/admin/tenants/wayne", json={"tier": "platinum"})
    assert r.status_code == 400 and "patch.tier: expected a tier of kong/tiers.yaml" in r.text
    assert http.get(base + "/v1/tenant", headers={"X-Tenant-ID": "wayne"}).status_code == 200
    assert http.post(base + "/admin/reset").status_code == 200
    assert http.get(base + "/v1/tenant", headers={"X-Tenant-ID": "wayne"}).status_code == 404


def test_auth_service_token_verifies_with_its_jwks(stack, http):
    base = stack.endpoint("auth-service").url
    r = http.post(base + "/auth/token", headers={"X-Tenant-ID": "acme"},
                  json={"username": "alice"})
    assert r.status_code == 200
    token = r.json()["access_token"]
    jwks = http.get(base + "/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} == {"auth-dev-1", "auth-dev-2"}
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="api.app.example.com",
                        issuer="https://auth.app.example.com")
    assert (claims["sub"], claims["tenant_id"]) == ("alice", "acme")
    assert 0 < claims["exp"] - claims["iat"] <= 3600 and claims["jti"]


def test_auth_admin_mints_with_the_second_key_for_rotation(stack, http):
    base = stack.endpoint("auth-service").url
    r = http.post(base + "/admin/tokens", json={"tenant_id": "stark", "sub": "tony",
                                                "kid": "auth-dev-2", "ttl": 60})
    assert jwt.get_unverified_header(r.json()["access_token"])["kid"] == "auth-dev-2"


def test_second_start_says_a_stack_already_runs(stack):
    with pytest.raises(StackAlreadyRunning, match="already runs"):
        NativeStack(stack.settings).start()
    assert stack.status("redis").state == "healthy"


def test_attach_reads_the_state_file(stack):
    other = NativeStack.attach(stack.run_dir)
    assert other.endpoint("user-1") == stack.endpoint("user-1")
    assert "user-1-admin" in {e for s in other.services()
                              for e in other._state.services[s].endpoints}


def test_gateway_proxies_to_the_stub_through_the_resolve_map(stack, http):
    if "gateway-1" not in stack.services():
        pytest.skip("harness.gateway.__main__ does not exist yet")
    target = target_from_state(stack.run_dir)
    assert target.proxy_url == stack.endpoint("gateway").url
    # what a conformance report's identity says the gateway was
    # (the mypyc build when scripts/bootstrap made one for this tree: harness build-gateway)
    build = gateway_launch().build
    assert (target.gateway_impl, target.gateway_version) == (
        "harness-reference-gateway", "3.9.1 (emulated, mypyc)" if build == "mypyc"
        else "3.9.1 (emulated)")
    assert f"{build} build)" in (stack.run_dir / "logs" / "gateway-1.log").read_text()
    assert target.ca_file is not None and target.ca_file.exists()
    token = target.minter.mint("acme", "alice")
    r = http.get(target.proxy_url + "/api/users/7", headers={
        "Host": "acme.app.example.com", "Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["service"] == "user" and echo["path"] == "/v1/users/7"
    assert echo["headers"]["x-tenant-id"] == "acme"


def test_down_after_the_launcher_was_sigkilled_cleans_up():
    run_dir = _run_dir()
    env = {**os.environ, "HARNESS_GATEWAY": "false"}
    cmd = [sys.executable, "-m", "harness"]
    launcher = subprocess.Popen([*cmd, "up", "--foreground", "--run-dir", str(run_dir)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=ROOT, text=True)
    try:
        deadline = time.monotonic() + 40
        assert launcher.stdout is not None
        for line in launcher.stdout:
            if "ready in" in line or time.monotonic() > deadline:
                break
        stack = NativeStack.attach(run_dir)
        pids, ports = _pids_of(stack), _ports_of(stack)
        assert len(pids) >= 10
        # A fault gateway's record and working directory, as a scenario leaves them.
        work = run_dir / "fault-gateway-test"
        sleeper, rec = spawn("fault-gateway", [sys.executable, "-c",
                                               "import time; time.sleep(60)"],
                             work / "logs" / "fault-gateway.log")
        assert add_transient(stack.state_path, rec, workdir=work)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(5)
        assert all(psutil.pid_exists(p) for p in pids)  # orphans until `down`
        down = subprocess.run([*cmd, "down", "--run-dir", str(run_dir)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30)
        assert down.returncode == 0, down.stderr
        assert sleeper.wait(5) is not None
        assert not set(pids) & _ps_pids()
        assert all(_port_free(p) for p in ports)
        assert not work.exists(), "`harness down` left the transient's working directory"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        if launcher.stdout is not None:
            launcher.stdout.close()
        NativeStack.attach(run_dir).stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_ctrl_c_during_up_stops_everything_already_started():
    run_dir = _run_dir()
    env = {**os.environ, "HARNESS_GATEWAY": "false"}
    launcher = subprocess.Popen([sys.executable, "-m", "harness", "up", "--run-dir",
                                 str(run_dir)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    try:
        state = run_dir / "state.json"
        deadline = time.monotonic() + 20
        pids: list[int] = []
        while time.monotonic() < deadline and len(pids) < 3:  # some services started
            if state.exists():
                with contextlib.suppress(StackError):
                    pids = _pids_of(NativeStack.attach(run_dir))
            time.sleep(0.02)
        assert len(pids) >= 3
        launcher.send_signal(signal.SIGINT)
        _, err = launcher.communicate(timeout=15)
        assert launcher.returncode == 130, err
        assert not set(pids) & _ps_pids()
        assert not state.exists()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
        NativeStack.attach(run_dir).stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_killed_redis_restarts_on_the_same_port(stack):
    port = stack.endpoint("redis").port
    stack.kill("redis")
    assert stack.status("redis").state == "stopped"
    stack.restart("redis")
    assert stack.status("redis").state == "healthy"
    assert stack.endpoint("redis").port == port


def test_paused_tenant_service_holds_its_port_but_answers_nothing_until_resumed(stack, http):
    url = stack.endpoint("tenant-service").url + "/health"
    stack.pause("tenant-service")
    try:
        with pytest.raises(httpx.ReadTimeout):
            http.get(url, timeout=httpx.Timeout(2, read=0.3))
    finally:
        stack.resume("tenant-service")
    assert http.get(url).status_code == 200


def test_tenant_service_answers_503_while_postgres_is_down_and_recovers(stack, http):
    base = stack.endpoint("tenant-service").url
    stack.kill("postgres")
    try:
        r = http.get(base + "/v1/tenants/resolve", params={"host": "acme.app.example.com"})
        assert r.status_code == 503 and r.json()["message"] == "tenant directory unavailable"
    finally:
        stack.restart("postgres")
    r = http.get(base + "/v1/tenants/resolve", params={"host": "acme.app.example.com"})
    assert r.status_code == 200 and r.json()["id"] == "acme"


def test_gateway_serves_the_generated_certificate_for_each_sni(stack):
    if "gateway-1" not in stack.services():
        pytest.skip("harness.gateway.__main__ does not exist yet")
    import ssl

    assert stack.status("gateway-1").state == "healthy"
    ctx = ssl.create_default_context(cafile=str(stack.ca_file))
    port = stack.endpoint("gateway-tls").port
    for sni in ("api.acme-corp.com", "globex.app.example.com"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=sni) as tls:
            sans = [v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS"]
        assert sni in sans or f"*.{sni.split('.', 1)[1]}" in sans


def test_stop_also_stops_services_restarted_through_another_attached_stack():
    # Fault scenarios restart services through target.stack (attached to the same
    # run dir); the launcher's own object must still stop the new processes.
    import psutil

    run_dir = _run_dir()
    st = NativeStack(Settings(run_dir=run_dir, gateway=False))
    st.start()
    try:
        other = NativeStack.attach(run_dir)
        other.restart("redis")
        new_pid = other.status("redis").pid
        assert new_pid is not None and new_pid != st.status("redis").pid
    finally:
        st.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    assert not psutil.pid_exists(new_pid) or psutil.Process(new_pid).status() == "zombie"
