"""`harness validate` end to end: the deployment checks are registered, pass on the
repository, and a broken file makes the command fail naming that file."""

import shutil

import pytest
import yaml
from deploy_support import REPO, edit

from harness.cli import main

DEPLOY_CHECKS = ["compose", "prometheus", "metric-names", "telemetry", "kubernetes",
                 "helm-values", "openapi"]


def _validate(root, *checks):
    argv = ["validate", "--root", str(root)]
    for c in checks:
        argv += ["--only", c]
    return main(argv)


@pytest.mark.skipif(not (shutil.which("promtool") and shutil.which("docker-compose")),
                    reason="needs promtool and docker-compose (scripts/bootstrap installs them)")
def test_every_deployment_check_passes_on_the_repository(capsys):
    assert _validate(REPO, *DEPLOY_CHECKS) == 0
    out = capsys.readouterr().out
    ok = [line.split()[1] for line in out.splitlines() if line.startswith("ok")]
    assert sorted(ok) == sorted(DEPLOY_CHECKS)  # registration order depends on import order


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
def test_validate_fails_naming_a_broken_alert_rule_file(repo_copy, capsys):
    edit(repo_copy / "monitoring/prometheus/rules/gateway.rules.yml",
         "expr: kong_upstream_target_health{state=\"unhealthy\"} == 1",
         "expr: kong_upstream_target_health{state=\"unhealthy\"} === 1")
    assert _validate(repo_copy, "prometheus") == 1
    assert ("FAIL  prometheus: monitoring/prometheus/rules/gateway.rules.yml: promtool check "
            "rules failed") in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose missing")
def test_validate_fails_naming_a_broken_compose_file(repo_copy, capsys):
    edit(repo_copy / "stack/docker-compose.yml", "      retries: 30\n", "      retries: many\n")
    assert _validate(repo_copy, "compose") == 1
    assert "FAIL  compose: stack/docker-compose.yml: docker-compose config failed" in \
        capsys.readouterr().out


def test_validate_fails_naming_a_broken_manifest(repo_copy, capsys):
    path = repo_copy / "kubernetes/backends/auth-service.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[-1]["spec"]["ports"][0]["port"] = "eighty"
    path.write_text(yaml.safe_dump_all(docs))
    assert _validate(repo_copy, "kubernetes") == 1
    assert ("FAIL  kubernetes: kubernetes/backends/auth-service.yaml: document 1 (Service "
            "auth-service): spec.ports.0.port: 'eighty' is not of type 'integer'") in \
        capsys.readouterr().out
