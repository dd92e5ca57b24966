import shutil

import pytest

from harness.deploy.compose_check import check_compose

from deploy_support import REPO, edit

needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                   reason="docker-compose missing (apt-get install docker-compose)")
BASE = "stack/docker-compose.yml"


@needs_compose
def test_both_compose_variants_pass_docker_compose_config_and_the_stack_rules():
    assert check_compose(REPO) == []


@needs_compose
def test_an_invalid_compose_file_fails_docker_compose_config_naming_the_file(repo_copy):
    edit(repo_copy / BASE, "    restart: unless-stopped\n    command: [\"redis-server\"",
         "    restart: unless-stopped\n    bogus_key: 1\n    command: [\"redis-server\"")
    problems = check_compose(repo_copy)
    assert problems and all(p.startswith(BASE) for p in problems)
    assert "docker-compose config failed" in problems[0] and "bogus_key" in problems[0]


@needs_compose
def test_a_broken_dbless_override_names_both_files_of_the_set(repo_copy):
    edit(repo_copy / "stack/docker-compose.dbless.yml", "  kong:\n    environment:",
         "  kong:\n    environment: 12\n    x:")
    problems = check_compose(repo_copy)
    assert problems[0].startswith(f"{BASE} + stack/docker-compose.dbless.yml: ")


def test_a_long_running_service_without_healthcheck_is_refused(repo_copy):
    edit(repo_copy / BASE, """    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 5s
      timeout: 3s
      retries: 20
""", "")
    problems = check_compose(repo_copy, docker_compose=False)
    assert f"{BASE}: services.redis.healthcheck: expected a healthcheck, got none" in problems


def test_kong_without_the_custom_plugin_enabled_is_refused(repo_copy):
    edit(repo_copy / BASE, "KONG_PLUGINS: bundled,tenant-context", "KONG_PLUGINS: bundled")
    problems = check_compose(repo_copy, docker_compose=False)
    assert (f"{BASE}: services.kong.environment.KONG_PLUGINS: expected "
            "bundled,tenant-context, got 'bundled'") in problems


def test_an_unpinned_kong_image_is_refused(repo_copy):
    edit(repo_copy / BASE, "x-kong-image: &kong-image kong:3.9.1",
         "x-kong-image: &kong-image kong:latest")
    problems = check_compose(repo_copy, docker_compose=False)
    assert any("services.kong.image: expected the official Kong image pinned to a 3.x tag"
               in p for p in problems)


def test_every_kong_yml_upstream_target_needs_a_compose_service(repo_copy):
    text = (repo_copy / BASE).read_text()
    start = text.index("  hrm-1:\n")
    end = text.index("  prometheus:\n")
    (repo_copy / BASE).write_text(text[:start] + text[end:])
    problems = check_compose(repo_copy, docker_compose=False)
    assert (f"{BASE}: services.hrm-1: expected a service for kong.yml upstream hrm-upstream "
            "target hrm-1:8080, got none") in problems


def test_the_compose_prometheus_scrapes_every_service_with_metrics(repo_copy):
    edit(repo_copy / "stack/prometheus/prometheus.yml", "          - crm-1:8080\n", "")
    edit(repo_copy / "stack/prometheus/prometheus.yml", '["kong:8100"]', '["kong:8100", "ghost:1"]')
    assert check_compose(repo_copy, docker_compose=False) == [
        "stack/prometheus/prometheus.yml: scrape_configs[].static_configs[].targets: expected "
        "compose services, got 'ghost:1'",
        "stack/prometheus/prometheus.yml: scrape_configs: expected a target crm-1:8080 "
        "(compose service crm-1), got none"]
