"""The compose launcher as a ControllableStack: kill and restart one service.

No Docker engine runs here, so three layers are tested offline: the pure parts
(name mapping, the exact command lines, the port pins, errors); the pins through
Debian's docker-compose 1.29 `config` (same interpolation as v2); and the
kill/restart sequence against a scripted stand-in for the `docker` CLI (it
answers `compose ps/kill/up` from a JSON file). The real thing runs only where
`docker_engine_available()` says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.deploy.compose_file import COMPOSE_FILE
from harness.errors import StackError
from harness.stack.base import ControllableStack
from harness.stack.compose import (
    PORT_VARS,
    ComposeSettings,
    ComposeStack,
    docker_engine_available,
    port_var,
    published_ports,
    running_services,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKER, WHY_NOT = docker_engine_available()


@pytest.fixture
def stack(tmp_path: Path) -> ComposeStack:
    return ComposeStack(ComposeSettings(root=ROOT, run_dir=tmp_path, project_name="harness-k2"))


# -- the protocol and the fault scenarios' narrowing ------------------------------

def test_the_compose_stack_is_a_controllable_stack(stack):
    checked: ControllableStack = stack    # mypy checks the assignment
    assert isinstance(checked, ControllableStack)


def test_the_process_fault_scenarios_accept_the_compose_stack_instead_of_skipping(stack):
    # What scenarios/faults/process_faults.py's _needs_stack checks before it skips: the
    # protocol and the faulted services' names. (Importing the scenario module here would
    # register its scenarios a second time next to the suite's own loading of the file.)
    assert isinstance(stack, ControllableStack)
    assert {"redis", "tenant-service", "gateway-1"} <= set(stack.services())


# -- names and command lines (pure) -----------------------------------------------

@pytest.mark.parametrize(("service", "compose"), [
    ("gateway-1", "kong"), ("gateway", "kong"), ("redis", "redis"),
    ("tenant-service", "tenant-service"), ("user-1", "user-1"), ("postgres", "postgres"),
])
def test_kill_and_restart_command_lines_use_the_launchers_prefix_and_the_compose_name(
        stack, service, compose):
    prefix = stack.command()
    assert stack.kill_command(service) == [*prefix, "kill", "--signal", "SIGKILL", compose]
    assert stack.restart_command(service) == [
        *prefix, "up", "--detach", "--no-deps", "--force-recreate", "--wait", compose]
    # the same mapping as the endpoints: the service's endpoint lives on that compose service
    assert stack.endpoint_spec(service)[0] == compose


def test_the_prefix_is_the_one_testcontainers_runs_so_project_files_and_env_file_match(stack):
    if shutil.which("docker") is None:
        pytest.skip("testcontainers picks podman when no docker CLI is installed")
    assert stack._dc().compose_command_property == stack.command()
    assert "COMPOSE_PROJECT_NAME=harness-k2" in "\n".join(
        f"{k}={v}" for k, v in stack.settings.env().items())


@pytest.mark.parametrize("bad", ["nope", "gateway-2", "kong-config", "certs-init"])
def test_unknown_services_and_one_shot_jobs_are_refused_with_the_known_names(stack, bad):
    for call in (stack.kill_command, stack.restart_command, stack.kill, stack.restart):
        with pytest.raises(StackError) as err:
            call(bad)      # refused before any docker command runs (none could, here)
        msg = str(err.value)
        assert f"{bad!r}" in msg and "known: " in msg
        assert "gateway-1" in msg and "redis" in msg and "kong-config" not in msg.split(
            "known: ")[1]


def test_the_port_variable_table_matches_the_compose_file():
    doc = yaml.safe_load((ROOT / COMPOSE_FILE).read_text())
    found: dict[tuple[str, int], str] = {}
    for name, svc in doc["services"].items():
        for spec in svc.get("ports") or []:
            m = re.fullmatch(r"127\.0\.0\.1:\$\{HARNESS_COMPOSE_(\w+)_PORT-\d+\}:(\d+)",
                             str(spec))
            if m:
                found[(name, int(m.group(2)))] = m.group(1)
    assert found == PORT_VARS


def test_pins_keep_a_service_on_its_published_ports_and_only_that_service(stack):
    published = {("kong", 8000): 41000, ("kong", 8443): 41001, ("kong", 8001): 41002,
                 ("kong", 8100): 41003, ("redis", 6379): 41004, ("user-1", 8080): 41005,
                 ("user-1", 9080): 41006}
    assert stack.port_pins("gateway-1", published) == {
        "HARNESS_COMPOSE_PROXY_PORT": 41000, "HARNESS_COMPOSE_PROXY_TLS_PORT": 41001,
        "HARNESS_COMPOSE_ADMIN_PORT": 41002, "HARNESS_COMPOSE_STATUS_PORT": 41003}
    assert stack.port_pins("redis", published) == {"HARNESS_COMPOSE_REDIS_PORT": 41004}
    assert stack.port_pins("user-1", published) == {}       # stub ports have no variable
    assert stack.port_pins("tenant-service", published) == {}   # not seen: nothing to pin
    env = stack.settings.env({"HARNESS_COMPOSE_REDIS_PORT": 41004})
    assert env["HARNESS_COMPOSE_REDIS_PORT"] == "41004" and env["HARNESS_COMPOSE_PROXY_PORT"] == ""


def test_published_ports_read_running_ipv4_publishers_from_compose_ps_json():
    rows = [
        {"Service": "redis", "State": "running", "Publishers": [
            {"URL": "127.0.0.1", "TargetPort": 6379, "PublishedPort": 32771, "Protocol": "tcp"},
            {"URL": "::1", "TargetPort": 6379, "PublishedPort": 32772, "Protocol": "tcp"}]},
        {"Service": "user-1", "State": "exited", "Publishers": [
            {"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": 32773}]},
        {"Service": "redis-exporter", "State": "running", "Publishers": [
            {"URL": "", "TargetPort": 9121, "PublishedPort": 0, "Protocol": "tcp"}]},
    ]
    expected = {("redis", 6379): 32771}
    assert published_ports("\n".join(json.dumps(r) for r in rows)) == expected   # compose >= 2.21
    assert published_ports(json.dumps(rows)) == expected        # older: one JSON array
    assert running_services(json.dumps(rows)) == {"redis", "redis-exporter"}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_a_restarts_env_file_publishes_the_pinned_ports_and_leaves_the_rest_ephemeral(stack):
    stack._pins = {"HARNESS_COMPOSE_REDIS_PORT": 41234, "HARNESS_COMPOSE_PROXY_PORT": 41235}
    stack._write_env()
    argv = ["docker-compose", *stack.command()[2:], "config"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True,
                         cwd=ROOT / "stack").stdout
    services = yaml.safe_load(out)["services"]
    assert services["redis"]["ports"] == ["127.0.0.1:41234:6379/tcp"]
    assert services["kong"]["ports"][0] == "127.0.0.1:41235:8000/tcp"
    assert services["kong"]["ports"][1] == "127.0.0.1::8443/tcp"
    assert services["user-1"]["ports"] == ["127.0.0.1::8080/tcp", "127.0.0.1::9080/tcp"]


# -- the kill/restart sequence against a scripted `docker` CLI ---------------------

FAKE_DOCKER = r'''
import json, sys
from pathlib import Path
argv = sys.argv[1:]
state_path = Path(__file__).with_name("state.json")
state = json.loads(state_path.read_text())
env_file = Path(argv[argv.index("--env-file") + 1])
env = dict(l.split("=", 1) for l in env_file.read_text().splitlines() if "=" in l)
with Path(__file__).with_name("calls.jsonl").open("a") as log:
    log.write(json.dumps({"argv": argv, "env": env}) + "\n")
sub = argv[argv.index("--env-file") + 2]
svcs = state["services"]
if sub == "ps":
    for name, s in svcs.items():
        if s["state"] == "running" or "-a" in argv:
            pubs = [{"URL": "127.0.0.1", "TargetPort": int(t), "PublishedPort": p,
                     "Protocol": "tcp"} for t, p in s["ports"].items()] \
                if s["state"] == "running" else []
            print(json.dumps({"Service": name, "State": s["state"],
                              "Health": "healthy" if s["state"] == "running" else "",
                              "Publishers": pubs}))
elif sub == "kill":
    s = svcs[argv[-1]]
    if s["state"] != "running" or state.get("kill_fails"):
        sys.exit("no container to kill" if s["state"] != "running" else "permission denied")
    s["state"], s["ports"] = "exited", {t: 0 for t in s["ports"]}
elif sub == "up":
    s = svcs[argv[-1]]
    for t in s["ports"]:
        var = state["vars"].get(f"{argv[-1]}:{t}", "")
        want = int(env.get(var) or 0)
        if want and want in state.get("taken", []):
            sys.exit(f"Bind for 127.0.0.1:{want} failed: port is already allocated")
        s["ports"][t] = want or state["next_port"]
        state["next_port"] += 1
    s["state"] = "running"
else:
    sys.exit(f"fake docker: unexpected {argv}")
state_path.write_text(json.dumps(state))
'''


class FakeDocker:
    def __init__(self, bin_dir: Path) -> None:
        self.dir = bin_dir
        bin_dir.mkdir()
        exe = bin_dir / "docker"
        exe.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
        exe.chmod(0o755)
        self.write({
            "redis": {"state": "running", "ports": {"6379": 41004}},
            "kong": {"state": "running", "ports": {"8000": 41000, "8443": 41001,
                                                   "8001": 41002, "8100": 41003}},
            "user-1": {"state": "running", "ports": {"8080": 41005, "9080": 41006}},
        })

    def write(self, services: dict[str, Any], taken: tuple[int, ...] = (),
              kill_fails: bool = False) -> None:
        (self.dir / "state.json").write_text(json.dumps({
            "services": services, "next_port": 50000, "taken": list(taken),
            "kill_fails": kill_fails,
            "vars": {f"{s}:{p}": port_var(x) for (s, p), x in PORT_VARS.items()}}))

    def state(self) -> dict[str, Any]:
        return json.loads((self.dir / "state.json").read_text())  # type: ignore[no-any-return]

    def calls(self) -> list[dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.dir}{os.pathsep}{os.environ['PATH']}")
    return fake


@pytest.fixture
def running(stack: ComposeStack, fake: FakeDocker) -> ComposeStack:
    stack._write_env()       # what start() writes before `up`
    return stack


def test_kill_then_restart_brings_redis_back_on_the_port_it_had(running, fake):
    before = running.endpoint("redis")
    assert before.port == 41004
    running.kill("redis")
    assert fake.calls()[-1]["argv"] == running.kill_command("redis")[1:]
    assert running.status("redis").state == "stopped"
    running.restart("redis")
    up = [c for c in fake.calls() if "up" in c["argv"]]
    assert [c["argv"] for c in up] == [running.restart_command("redis")[1:]]
    assert up[0]["env"]["HARNESS_COMPOSE_REDIS_PORT"] == "41004"     # pinned in the env file
    assert up[0]["env"]["HARNESS_COMPOSE_PROXY_PORT"] == ""          # the others untouched
    assert running.endpoint("redis") == before
    assert running.status("redis").state == "healthy"


def test_restarting_a_running_gateway_pins_its_four_ports(running, fake):
    gw = running.endpoint("gateway")
    running.restart("gateway-1")
    env = [c for c in fake.calls() if "up" in c["argv"]][0]["env"]
    assert {k: env[k] for k in env if k.endswith("_PORT") and env[k]} == {
        "HARNESS_COMPOSE_PROXY_PORT": "41000", "HARNESS_COMPOSE_PROXY_TLS_PORT": "41001",
        "HARNESS_COMPOSE_ADMIN_PORT": "41002", "HARNESS_COMPOSE_STATUS_PORT": "41003"}
    assert running.endpoint("gateway") == gw


def test_a_restarted_stub_gets_fresh_ports_and_endpoint_reports_them(running, fake):
    running.kill("user-1")
    running.restart("user-1")
    moved = running.endpoint("user-1-admin").port
    assert moved != 41006 and moved == fake.state()["services"]["user-1"]["ports"]["9080"]


def test_killing_a_dead_service_is_a_no_op_like_the_native_stack(running, fake):
    running.kill("redis")
    running.kill("redis")          # compose's kill fails (nothing to kill); stopped: fine
    assert running.status("redis").state == "stopped"


def test_a_kill_that_fails_on_a_running_service_is_an_error_naming_the_command(running, fake):
    fake.write(fake.state()["services"], kill_fails=True)
    with pytest.raises(StackError, match=r"kill --signal SIGKILL redis` failed.*\n.*permission"):
        running.kill("redis")


def test_a_pinned_port_taken_meanwhile_fails_the_restart_naming_the_pin(running, fake):
    running.kill("redis")
    state = fake.state()
    fake.write(state["services"], taken=(41004,))
    with pytest.raises(StackError) as err:
        running.restart("redis")
    msg = str(err.value)
    assert "port is already allocated" in msg and "HARNESS_COMPOSE_REDIS_PORT=41004" in msg
    assert "logs redis" in msg


# -- the real stack ---------------------------------------------------------------

def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not DOCKER, reason=f"compose stack needs Docker: {WHY_NOT}")
def test_the_real_stack_kills_and_restarts_redis_and_the_gateway_on_their_ports(stack):
    import httpx

    stack.start()
    try:
        for service, endpoint in (("redis", "redis"), ("gateway-1", "gateway")):
            before = stack.endpoint(endpoint)
            stack.kill(service)
            assert stack.status(service).state == "stopped"
            assert not _listening(before.port)
            stack.restart(service)
            assert stack.status(service).state == "healthy"
            assert stack.endpoint(endpoint) == before and _listening(before.port)
        r = httpx.get(stack.endpoint("gateway").url + "/api/users",
                      headers={"Host": "acme.app.example.com"}, timeout=10)
        assert r.status_code == 401      # Kong answers again on the port the Target holds
    finally:
        stack.stop()
