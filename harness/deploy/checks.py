"""Deployment checks registered with `harness validate` (imported lazily there).

| check        | what                                                          |
|--------------|---------------------------------------------------------------|
| compose      | docker-compose config on every file set + stack rules         |
| prometheus   | promtool check config/rules, promtool test rules, rule tests  |
| metric-names | dashboards and alert rules only use exported metric names     |
| telemetry    | OTel collector pipelines, Filebeat input = kong.yml log path  |
| kubernetes   | kubernetes-validate (strict) + cert-manager + coverage        |
| helm-values  | kong/kong chart values: known keys and required settings      |

Every problem starts with the file it is about.
"""

from __future__ import annotations

from pathlib import Path

from harness.deploy.compose_check import check_compose
from harness.deploy.k8s_check import check_helm_values, check_manifests
from harness.deploy.monitoring_check import check_dashboards, check_prometheus, check_telemetry
from harness.validate import check


@check("compose")
def _compose(root: Path) -> list[str]:
    return check_compose(root)


@check("prometheus")
def _prometheus(root: Path) -> list[str]:
    return check_prometheus(root)


@check("metric-names")
def _metric_names(root: Path) -> list[str]:
    return check_dashboards(root)


@check("telemetry")
def _telemetry(root: Path) -> list[str]:
    return check_telemetry(root)


@check("kubernetes")
def _kubernetes(root: Path) -> list[str]:
    return check_manifests(root)


@check("helm-values")
def _helm_values(root: Path) -> list[str]:
    return check_helm_values(root)
