import pytest
from deploy_support import REPO

from harness.deploy.compose_file import COMPOSE_FILE, DBLESS_FILE, load_compose, one_shot_jobs
from harness.errors import ConfigError


def test_anchors_and_merges_resolve_into_typed_services():
    services = load_compose(REPO)
    kong = services["kong"]
    assert kong.image == "kong:3.9.1" and kong.has_healthcheck
    assert kong.container_ports == (8000, 8443, 8001, 8100)
    assert kong.environment["KONG_DATABASE"] == "postgres"
    assert services["user-1"].built and services["user-1"].container_ports == (8080, 9080)


def test_the_dbless_override_switches_kong_to_the_declarative_file():
    services = load_compose(REPO, (COMPOSE_FILE, DBLESS_FILE))
    assert services["kong"].environment["KONG_DATABASE"] == "off"
    assert services["kong"].environment["KONG_DECLARATIVE_CONFIG"] == "/kong/kong.yml"
    assert services["kong-config"].command == ("kong", "config", "parse", "/kong/kong.yml")
    # the base file's other settings survive the merge
    assert services["kong"].environment["KONG_PLUGINS"] == "bundled,tenant-context"


def test_one_shot_jobs_are_the_services_waited_on_for_completion():
    assert one_shot_jobs(load_compose(REPO)) == {"certs-init", "kong-migrations", "kong-config"}


def test_a_compose_file_without_services_is_refused_naming_it(tmp_path):
    (tmp_path / "stack").mkdir()
    (tmp_path / COMPOSE_FILE).write_text("version: '3'\n")
    with pytest.raises(ConfigError) as err:
        load_compose(tmp_path)
    assert str(err.value) == ("stack/docker-compose.yml: services: expected a mapping of "
                              "services, got {'version': '3'}")


def test_an_unparsable_port_is_refused_naming_the_service(tmp_path):
    (tmp_path / "stack").mkdir()
    (tmp_path / COMPOSE_FILE).write_text("services:\n  a:\n    ports: ['127.0.0.1:x:y']\n")
    with pytest.raises(ConfigError, match=r"services\.a\.ports\[0\]: expected a port mapping"):
        load_compose(tmp_path)
