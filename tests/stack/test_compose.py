"""The compose launcher: offline behaviour always, the real stack only with Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.deploy.compose_file import COMPOSE_FILE, load_compose
from harness.errors import StackError
from harness.model import load_gateway
from harness.stack.base import Endpoint, ServiceHealth, Stack
from harness.stack.compose import ComposeSettings, ComposeStack, docker_engine_available

ROOT = Path(__file__).resolve().parents[2]
DOCKER, WHY_NOT = docker_engine_available()


@pytest.fixture
def stack(tmp_path: Path) -> ComposeStack:
    return ComposeStack(ComposeSettings(root=ROOT, run_dir=tmp_path, project_name="harness-test"))


def test_compose_stack_is_a_stack(stack):
    checked: Stack = stack  # mypy checks the assignment; isinstance checks at run time
    assert isinstance(checked, Stack)
    assert stack.name == "compose"


def test_services_are_the_long_running_compose_services_named_like_the_native_stack(stack):
    services = stack.services()
    assert "gateway-1" in services and "kong" not in services
    assert {"redis", "postgres", "tenant-service", "auth-service", "prometheus"} <= set(services)
    # one-shot jobs are not services of a running stack
    assert not {"certs-init", "kong-migrations", "kong-config"} & set(services)


def test_there_is_one_stub_service_per_kong_yml_upstream_target(stack):
    targets = {t.target.split(":")[0] for u in load_gateway(ROOT).kong.upstreams
               for t in u.targets}
    assert targets <= set(stack.services())


@pytest.mark.parametrize(("endpoint", "spec"), [
    ("gateway", ("kong", 8000, "http")),
    ("gateway-1", ("kong", 8000, "http")),
    ("gateway-1-tls", ("kong", 8443, "https")),
    ("gateway-1-status", ("kong", 8100, "http")),
    ("gateway-admin", ("kong", 8001, "http")),
    ("user-2", ("user-2", 8080, "http")),
    ("user-2-admin", ("user-2", 9080, "http")),
    ("tenant-service", ("tenant-service", 8081, "http")),
    ("redis", ("redis", 6379, "redis")),
    ("postgres", ("postgres", 5432, "postgresql")),
])
def test_endpoint_names_map_to_compose_services_and_container_ports(stack, endpoint, spec):
    assert stack.endpoint_spec(endpoint) == spec


def test_unknown_endpoints_and_services_are_refused_with_the_known_names(stack):
    with pytest.raises(StackError, match="no endpoint 'nope'.*user-1"):
        stack.endpoint_spec("nope")
    with pytest.raises(StackError, match="redis has no admin port"):
        stack.endpoint_spec("redis-admin")
    with pytest.raises(StackError, match="unknown service 'nope'"):
        stack.compose_service("nope")


def test_the_dbless_variant_adds_the_override_file(tmp_path):
    s = ComposeStack(ComposeSettings(root=ROOT, dbless=True, run_dir=tmp_path))
    argv = s.command()
    assert argv[:2] == ["docker", "compose"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-f"] == [
        str(ROOT / "stack/docker-compose.yml"), str(ROOT / "stack/docker-compose.dbless.yml")]
    assert argv[-2:] == ["--env-file", str(tmp_path / "compose.env")]


def test_ephemeral_ports_blank_every_published_port_variable(tmp_path):
    env = ComposeSettings(root=ROOT, run_dir=tmp_path).env()
    assert env["HARNESS_COMPOSE_PROXY_PORT"] == "" and env["HARNESS_COMPOSE_REDIS_PORT"] == ""
    assert env["HARNESS_COMPOSE_CERTS_DIR"] == str(tmp_path / "certs")
    # every ${HARNESS_COMPOSE_*_PORT-...} of the compose file is covered
    text = (ROOT / COMPOSE_FILE).read_text()
    used = {part.split("-")[0].split(":")[0] for part in text.split("${")[1:]
            if part.startswith("HARNESS_COMPOSE_") and "_PORT" in part.split("}")[0]}
    assert used <= set(env)
    fixed = ComposeSettings(root=ROOT, run_dir=tmp_path, ephemeral_ports=False).env()
    assert "HARNESS_COMPOSE_PROXY_PORT" not in fixed


def test_the_compose_file_publishes_every_endpoint_port(stack):
    services = load_compose(ROOT)
    for name in ("gateway-1", "gateway-1-tls", "gateway-1-status", "user-1-admin",
                 "prometheus", "auth-service"):
        svc, port, _ = stack.endpoint_spec(name)
        assert port in services[svc].container_ports


@pytest.mark.skipif(DOCKER, reason="a Docker engine answers here")
def test_start_without_a_docker_engine_fails_with_a_hint(stack):
    with pytest.raises(StackError) as err:
        stack.start()
    assert "no Docker engine answers" in str(err.value) or "not installed" in str(err.value)
    assert "Hint:" in str(err.value)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not DOCKER, reason=f"compose stack needs Docker: {WHY_NOT}")
def test_the_real_stack_starts_answers_through_kong_and_stops(stack):
    import httpx

    stack.start()
    try:
        health: ServiceHealth = stack.status("gateway-1")
        assert health.state == "healthy", health.detail
        gw: Endpoint = stack.endpoint("gateway")
        r = httpx.get(f"{gw.url}/api/users", headers={"Host": "acme.app.example.com"})
        assert r.status_code == 401  # jwt on the users route: Kong answers, not a stub
        status = httpx.get(stack.endpoint("gateway-1-status").url + "/metrics")
        assert "kong_node_info" in status.text
    finally:
        stack.stop()


@pytest.mark.skipif(DOCKER, reason="a Docker engine answers here")
def test_start_for_tests_raises_without_docker_and_leaves_no_stack():
    from harness.stack.compose import start_for_tests

    with pytest.raises(StackError, match="Hint:"):
        start_for_tests(ROOT)
