import json
import shutil

import pytest

from harness.deploy.monitoring_check import check_dashboards, check_prometheus, check_telemetry

from deploy_support import REPO, edit

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool missing (apt-get install prometheus)")
RULES = "monitoring/prometheus/rules/gateway.rules.yml"
TESTS = "monitoring/prometheus/tests/gateway.rules.test.yml"


@needs_promtool
def test_the_repository_monitoring_config_passes_promtool_and_its_unit_tests():
    assert check_prometheus(REPO) == []


@needs_promtool
def test_a_changed_alert_threshold_fails_the_rule_unit_test_naming_the_test_file(repo_copy):
    # 5% -> 50%: the user-service case (9.1% errors) must no longer fire.
    edit(repo_copy / RULES, ") > 0.05\n          and\n          sum by (service)",
         ") > 0.5\n          and\n          sum by (service)")
    problems = check_prometheus(repo_copy)
    assert len(problems) == 1
    assert problems[0].startswith(f"{TESTS}: promtool test rules failed")
    assert "Gateway5xxRatioByService" in problems[0]


@needs_promtool
def test_a_syntax_error_in_an_alert_rule_fails_naming_the_rule_file(repo_copy):
    edit(repo_copy / RULES, "expr: redis_up == 0", "expr: redis_up == == 0")
    problems = check_prometheus(repo_copy)
    assert any(p.startswith(f"{RULES}: promtool check rules failed") for p in problems)


@needs_promtool
def test_an_alert_without_a_unit_test_is_reported_with_its_file(repo_copy):
    with (repo_copy / RULES).open("a") as f:
        f.write("      - alert: UntestedAlert\n        expr: kong_node_info == 0\n")
    problems = check_prometheus(repo_copy)
    assert problems == [f"{RULES}: groups[4].rules[4] (alert UntestedAlert): expected a "
                        "promtool unit test in monitoring/prometheus/tests/, got none"]


@needs_promtool
def test_a_broken_prometheus_config_fails_naming_the_config(repo_copy):
    edit(repo_copy / "stack/prometheus/prometheus.yml", "scrape_interval: 5s",
         "scrape_interval: soon")
    problems = check_prometheus(repo_copy)
    assert [p.split(":")[0] for p in problems] == ["stack/prometheus/prometheus.yml"]


def test_dashboards_and_rules_only_query_exported_metrics():
    assert check_dashboards(REPO) == []


def test_a_dashboard_query_on_an_unknown_metric_fails_naming_the_dashboard(repo_copy):
    path = repo_copy / "monitoring/grafana/dashboards/gateway.json"
    board = json.loads(path.read_text())
    board["panels"][1]["targets"][0]["expr"] = "sum(rate(kong_http_requests{code='429'}[1m]))"
    path.write_text(json.dumps(board))
    assert check_dashboards(repo_copy) == [
        "monitoring/grafana/dashboards/gateway.json: panels[1].targets[0].expr: expected a "
        "metric the gateway exports (harness/deploy/metric_names.py), got 'kong_http_requests'"]


def test_an_alert_rule_on_an_unknown_metric_fails_naming_the_rule_file(repo_copy):
    edit(repo_copy / RULES, "expr: kong_datastore_reachable == 0",
         "expr: kong_database_reachable == 0")
    problems = check_dashboards(repo_copy)
    assert len(problems) == 1 and problems[0].startswith(f"{RULES}: groups[4].rules[2].expr")


def test_log_shippers_read_the_path_the_file_log_plugin_writes(repo_copy):
    assert check_telemetry(REPO) == []
    edit(repo_copy / "monitoring/logging/filebeat.yml", "      - /var/log/kong/access.json.log",
         "      - /var/log/kong/access.log")
    problems = check_telemetry(repo_copy)
    assert len(problems) == 1
    assert problems[0].startswith("monitoring/logging/filebeat.yml: filebeat.inputs[].paths: "
                                  "expected kong.yml's file-log path /var/log/kong/access.json.log")


def test_an_otel_pipeline_using_an_undeclared_exporter_fails(repo_copy):
    edit(repo_copy / "monitoring/opentelemetry/collector.yaml",
         "      exporters: [elasticsearch]", "      exporters: [loki]")
    assert check_telemetry(repo_copy) == [
        "monitoring/opentelemetry/collector.yaml: service.pipelines.logs.exporters: expected "
        "components declared under exporters, got 'loki'"]
