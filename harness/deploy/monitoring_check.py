"""`harness validate` rules for monitoring/ and stack/prometheus/.

promtool checks the Prometheus configs and rule files and runs the rule unit
tests; every alert must be exercised by a unit test; the Grafana dashboards
and the alert rules may only query metric names the gateway exports
(metric_names.py); the log shippers read the path kong.yml's file-log writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from harness.deploy.metric_names import allowed_series_names
from harness.deploy.promql import metric_names
from harness.errors import ConfigError
from harness.validate import require_tool, run_tool

__all__ = ["check_dashboards", "check_prometheus", "check_telemetry"]

PROM_CONFIGS = (Path("monitoring/prometheus/prometheus.yml"),
                Path("stack/prometheus/prometheus.yml"))
RULES_DIR = Path("monitoring/prometheus/rules")
RULE_TESTS_DIR = Path("monitoring/prometheus/tests")
DASHBOARDS_DIR = Path("monitoring/grafana/dashboards")
OTEL_CONFIG = Path("monitoring/opentelemetry/collector.yaml")
FILEBEAT_CONFIG = Path("monitoring/logging/filebeat.yml")


def _yaml(root: Path, rel: Path) -> Any:
    try:
        return yaml.safe_load((root / rel).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(rel), "", "a readable YAML file", str(exc), raw_got=True) from None


def _rules(root: Path) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, dotted path, rule) for every rule of the rule files."""
    for path in sorted((root / RULES_DIR).glob("*.yml")):
        rel = path.relative_to(root)
        doc = _yaml(root, rel) or {}
        for gi, group in enumerate(doc.get("groups") or []):
            for ri, rule in enumerate(group.get("rules") or []):
                yield rel, f"groups[{gi}].rules[{ri}]", rule


def check_prometheus(root: Path) -> list[str]:
    promtool = require_tool("promtool", "prometheus", "checking Prometheus config and rules")
    problems: list[str] = []
    for cfg in PROM_CONFIGS:
        rc, out = run_tool([promtool, "check", "config", str(cfg)], root)
        if rc != 0:
            problems.append(f"{cfg}: promtool check config failed:\n{out}")
    rule_files = sorted(str(p.relative_to(root)) for p in (root / RULES_DIR).glob("*.yml"))
    if not rule_files:
        return problems + [f"{RULES_DIR}: expected alert rule files (*.yml), got none"]
    for rf in rule_files:
        rc, out = run_tool([promtool, "check", "rules", rf], root)
        if rc != 0:
            problems.append(f"{rf}: promtool check rules failed:\n{out}")
    tests = sorted(str(p.relative_to(root)) for p in (root / RULE_TESTS_DIR).glob("*.yml"))
    tested: set[str] = set()
    for tf in tests:
        rc, out = run_tool([promtool, "test", "rules", tf], root)
        if rc != 0:
            problems.append(f"{tf}: promtool test rules failed:\n{out}")
        for t in (_yaml(root, Path(tf)) or {}).get("tests") or []:
            tested |= {a.get("alertname") for a in t.get("alert_rule_test") or []}
    for rel, where, rule in _rules(root):
        name = rule.get("alert")
        if name and name not in tested:
            problems.append(f"{rel}: {where} (alert {name}): expected a promtool unit test in "
                            f"{RULE_TESTS_DIR}/, got none")
    return problems


def _unknown(expr: str) -> list[str]:
    allowed = allowed_series_names()
    return sorted(n for n in metric_names(expr) if n not in allowed)


def _dashboard_exprs(doc: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(json path, PromQL) of every panel target and query variable, nested rows too."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            sub = f"{path}.{key}" if path else key
            if key == "expr" and isinstance(value, str):
                yield sub, value
            elif key in ("query", "definition") and isinstance(value, str) \
                    and value.startswith("label_values("):
                # label_values(<selector>, <label>): only the selector names a metric.
                yield sub, value[len("label_values("):].rsplit(",", 1)[0]
            else:
                yield from _dashboard_exprs(value, sub)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _dashboard_exprs(item, f"{path}[{i}]")


def check_dashboards(root: Path) -> list[str]:
    problems: list[str] = []
    boards = sorted((root / DASHBOARDS_DIR).glob("*.json"))
    if not boards:
        problems.append(f"{DASHBOARDS_DIR}: expected Grafana dashboards (*.json), got none")
    for path in boards:
        rel = path.relative_to(root)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: expected Grafana dashboard JSON, got {exc}")
            continue
        for key in ("title", "uid", "panels"):
            if key not in doc:
                problems.append(f"{rel}: {key}: expected a dashboard field, got none")
        exprs = list(_dashboard_exprs(doc))
        if not exprs:
            problems.append(f"{rel}: expected PromQL queries in panels, got none")
        for where, expr in exprs:
            for name in _unknown(expr):
                problems.append(f"{rel}: {where}: expected a metric the gateway exports "
                                f"(harness/deploy/metric_names.py), got {name!r}")
    for rel, where, rule in _rules(root):
        for name in _unknown(str(rule.get("expr", ""))):
            problems.append(f"{rel}: {where}.expr: expected a metric the gateway exports "
                            f"(harness/deploy/metric_names.py), got {name!r}")
    return problems


def _file_log_path(root: Path) -> str | None:
    from harness.model import load_gateway

    try:
        gateway = load_gateway(root)
    except ConfigError:
        return None
    for sp in gateway.plugins:
        if sp.name == "file-log":
            return str(sp.plugin.config.path)  # type: ignore[union-attr]
    return None


def _otel_pipelines(rel: Path, doc: dict[str, Any]) -> list[str]:
    problems = []
    pipelines = ((doc.get("service") or {}).get("pipelines")) or {}
    for kind in ("metrics", "logs"):
        if kind not in pipelines:
            problems.append(f"{rel}: service.pipelines.{kind}: expected a pipeline, got none")
    if "otlp" not in (doc.get("receivers") or {}):
        problems.append(f"{rel}: receivers.otlp: expected an OTLP receiver, got none")
    if "prometheus" not in (doc.get("exporters") or {}):
        problems.append(f"{rel}: exporters.prometheus: expected a Prometheus exporter, got none")
    for name, pipe in pipelines.items():
        for section in ("receivers", "processors", "exporters"):
            declared = doc.get(section) or {}
            for comp in (pipe or {}).get(section) or []:
                if comp not in declared:
                    problems.append(f"{rel}: service.pipelines.{name}.{section}: expected "
                                    f"components declared under {section}, got {comp!r}")
    return problems


def check_telemetry(root: Path) -> list[str]:
    problems: list[str] = []
    log_path = _file_log_path(root)
    try:
        otel = _yaml(root, OTEL_CONFIG) or {}
        problems += _otel_pipelines(OTEL_CONFIG, otel)
        filelog = [r for n, r in (otel.get("receivers") or {}).items()
                   if n.split("/")[0] == "filelog"]
        if log_path and not any(log_path in (r or {}).get("include", []) for r in filelog):
            problems.append(f"{OTEL_CONFIG}: receivers.filelog*.include: expected kong.yml's "
                            f"file-log path {log_path}, got none")
        beat = _yaml(root, FILEBEAT_CONFIG) or {}
        paths = [p for i in beat.get("filebeat.inputs") or [] for p in i.get("paths") or []]
        if log_path and log_path not in paths:
            problems.append(f"{FILEBEAT_CONFIG}: filebeat.inputs[].paths: expected kong.yml's "
                            f"file-log path {log_path}, got {paths}")
        if not beat.get("output.elasticsearch"):
            problems.append(f"{FILEBEAT_CONFIG}: output.elasticsearch: expected an "
                            f"Elasticsearch output, got none")
    except ConfigError as exc:
        problems.append(str(exc))
    return problems
