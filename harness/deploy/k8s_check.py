"""`harness validate` rules for kubernetes/.

Plain manifests are validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields fail). cert-manager resources are
CRDs that package has no schema for, so they get a structural check here.
The Helm values of the kong/kong chart are checked for known keys and the
settings the gateway needs (no `helm` binary is available offline). Coverage:
a Service per kong.yml upstream target, a Certificate and an env-vault pair
per kong.yml certificate.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from harness.deploy.certificates import (
    CERT_DIR,
    certificate_manifest,
    custom_env_entries,
    vault_certs,
)
from harness.errors import ConfigError

__all__ = ["HELM_VALUES", "check_helm_values", "check_manifests"]

K8S_DIR = Path("kubernetes")
HELM_VALUES = Path("kubernetes/helm/kong-values.yaml")
K8S_VERSION = "1.30.0"  # schema set of kubernetes-validate (v1.30.0-local-strict)

# Top-level keys of the kong/kong chart's values.yaml (chart 2.x).
CHART_KEYS = frozenset({
    "deployment", "env", "customEnv", "envFrom", "extraLabels", "image", "admin", "status",
    "clusterCaSecretName", "cluster", "proxy", "udpProxy", "plugins", "secretVolumes",
    "migrations", "dblessConfig", "ingressController", "postgresql", "certificates",
    "waitImage", "updateStrategy", "resources", "readinessProbe", "livenessProbe",
    "startupProbe", "lifecycle", "terminationGracePeriodSeconds", "affinity",
    "topologySpreadConstraints", "tolerations", "nodeSelector", "podAnnotations",
    "podLabels", "replicaCount", "deploymentAnnotations", "autoscaling",
    "podDisruptionBudget", "podSecurityPolicy", "priorityClassName", "securityContext",
    "containerSecurityContext", "dnsPolicy", "dnsConfig", "serviceMonitor", "enterprise",
    "manager", "portal", "portalapi", "clustertelemetry", "extraConfigMaps", "extraSecrets",
    "extraObjects", "namespace", "nameOverride", "fullnameOverride",
})


def _docs(root: Path, rel: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all((root / rel).read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(rel), "", "readable YAML manifests", str(exc),
                          raw_got=True) from None


def _cert_manager(rel: Path, where: str, doc: dict[str, Any]) -> list[str]:
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if doc.get("apiVersion") != "cert-manager.io/v1":
        return [f"{rel}: {where}.apiVersion: expected cert-manager.io/v1, "
                f"got {doc.get('apiVersion')!r}"]
    required = {"Certificate": ("secretName", "dnsNames", "issuerRef"),
                "ClusterIssuer": ("acme",), "Issuer": ("acme",)}.get(str(kind))
    if required is None:
        return [f"{rel}: {where}.kind: expected Certificate or ClusterIssuer, got {kind!r}"]
    problems = [f"{rel}: {where}.spec.{k}: expected a value, got none"
                for k in required if not spec.get(k)]
    if kind == "Certificate" and spec.get("issuerRef"):
        if not (spec["issuerRef"].get("name") and spec["issuerRef"].get("kind")):
            problems.append(f"{rel}: {where}.spec.issuerRef: expected name and kind, "
                            f"got {spec['issuerRef']!r}")
    if kind == "ClusterIssuer" and spec.get("acme"):
        for k in ("server", "privateKeySecretRef", "solvers"):
            if not spec["acme"].get(k):
                problems.append(f"{rel}: {where}.spec.acme.{k}: expected a value, got none")
    return problems


@functools.lru_cache(maxsize=64)
def _validator(kind: str, api_version: str) -> Any:
    """kubernetes-validate's strict schema for one kind, compiled once.

    Same files and rules as kubernetes_validate.validate(strict=True), which
    re-reads the large definitions file on every call (seconds per manifest).
    """
    import jsonschema  # type: ignore[import-untyped]
    from kubernetes_validate.utils import (  # type: ignore[import-untyped]
        SchemaNotFoundError,
        schema_contents,
    )
    from referencing import Registry, Resource

    schema_dir = f"v{K8S_VERSION}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json",
                                 K8S_VERSION)
    except FileNotFoundError:
        raise SchemaNotFoundError(version=K8S_VERSION, kind=kind,
                                  api_version=api_version) from None
    registry = Resource.from_contents(_definitions()) @ (Resource.from_contents(schema)
                                                          @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=1)
def _definitions() -> Any:
    from kubernetes_validate.utils import schema_contents

    return schema_contents(f"kubernetes-json-schema/v{K8S_VERSION}-local-strict/_definitions.json",
                           K8S_VERSION)


def _validate_doc(rel: Path, i: int, doc: Any) -> list[str]:
    import jsonschema
    from kubernetes_validate.utils import SchemaNotFoundError

    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        return [f"{rel}: document {i}: expected a Kubernetes object (apiVersion, kind), "
                f"got {str(doc)[:60]!r}"]
    name = (doc.get("metadata") or {}).get("name", "?")
    where = f"document {i} ({doc['kind']} {name})"
    if str(doc["apiVersion"]).startswith("cert-manager.io/"):
        return _cert_manager(rel, where, doc)
    try:
        _validator(str(doc["kind"]), str(doc["apiVersion"])).validate(doc)
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{rel}: {where}: {path}: {exc.message}"]
    except SchemaNotFoundError:
        return [f"{rel}: {where}: expected a built-in Kubernetes kind, got "
                f"{doc['apiVersion']}/{doc['kind']} (no schema)"]
    return []


def _coverage(root: Path, objects: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    from harness.model import load_gateway

    try:
        gateway = load_gateway(root)
    except ConfigError:
        return []  # reported by the `model` check
    problems = []
    services = {(d.get("metadata") or {}).get("name"): d for _, d in objects
                if d.get("kind") == "Service"}
    wanted = {t.target for up in gateway.kong.upstreams for t in up.targets} | {"redis:6379"}
    for target in sorted(wanted):
        host, _, port = target.partition(":")
        svc = services.get(host)
        ports = [p.get("port") for p in ((svc or {}).get("spec") or {}).get("ports") or []]
        if svc is None:
            problems.append(f"{K8S_DIR}/backends: Service {host}: expected a Service for "
                            f"kong.yml target {target}, got none")
        elif port.isdigit() and int(port) not in ports:
            problems.append(f"{K8S_DIR}/backends: Service {host}.spec.ports: expected port "
                            f"{port} (kong.yml target {target}), got {ports}")
    for vc in vault_certs(gateway):
        if not (root / vc.file).is_file():
            problems.append(f"{vc.file}: expected the cert-manager Certificate for "
                            f"{', '.join(vc.dns_names)}, got no such file")
            continue
        docs = _docs(root, vc.file)
        want = certificate_manifest(vc)["spec"]
        got = (docs[0].get("spec") or {}) if docs and isinstance(docs[0], dict) else {}
        for key in ("secretName", "dnsNames"):
            if got.get(key) != want[key]:
                problems.append(f"{vc.file}: spec.{key}: expected {want[key]!r} (kong.yml "
                                f"certificate SNIs), got {got.get(key)!r}")
    return problems


def check_manifests(root: Path) -> list[str]:
    problems: list[str] = []
    objects: list[tuple[Path, dict[str, Any]]] = []
    files = sorted(p for p in (root / K8S_DIR).rglob("*.yaml")
                   if p.relative_to(root) != HELM_VALUES)
    if not files:
        return [f"{K8S_DIR}: expected Kubernetes manifests (*.yaml), got none"]
    for path in files:
        rel = path.relative_to(root)
        try:
            docs = _docs(root, rel)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        for i, doc in enumerate(docs):
            problems += _validate_doc(rel, i, doc)
            if isinstance(doc, dict):
                objects.append((rel, doc))
    return problems + _coverage(root, objects)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def check_helm_values(root: Path) -> list[str]:
    rel = HELM_VALUES
    try:
        docs = _docs(root, rel)
    except ConfigError as exc:
        return [str(exc)]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return [f"{rel}: expected one YAML mapping of chart values, got {len(docs)} documents"]
    values: dict[str, Any] = docs[0]
    problems = [f"{rel}: {k}: expected a key of the kong/kong chart, got an unknown key"
                for k in values if k not in CHART_KEYS]
    tag = str(_get(values, "image.tag") or "")
    if not tag.startswith("3."):
        problems.append(f"{rel}: image.tag: expected a pinned Kong 3.x tag, got {tag!r}")
    min_replicas = _get(values, "autoscaling.minReplicas") if _get(values, "autoscaling.enabled") \
        else values.get("replicaCount")
    if not isinstance(min_replicas, int) or min_replicas < 2:
        problems.append(f"{rel}: replicaCount/autoscaling.minReplicas: expected >= 2, "
                        f"got {min_replicas!r}")
    for dotted, want in (("autoscaling.enabled", True), ("podDisruptionBudget.enabled", True),
                         ("env.database", "postgres"), ("status.http.enabled", True),
                         ("proxy.enabled", True), ("ingressController.enabled", False)):
        if _get(values, dotted) != want:
            problems.append(f"{rel}: {dotted}: expected {want!r}, got {_get(values, dotted)!r}")
    for dotted in ("env.pg_host", "resources.requests.cpu", "resources.requests.memory",
                   "resources.limits.memory"):
        if _get(values, dotted) in (None, ""):
            problems.append(f"{rel}: {dotted}: expected a value, got none")
    custom = sorted(p.name for p in (root / "kong/custom-plugins").iterdir() if p.is_dir()) \
        if (root / "kong/custom-plugins").is_dir() else []
    enabled = [p.strip() for p in str(_get(values, "env.plugins") or "bundled").split(",")]
    maps = {m.get("pluginName") for m in _get(values, "plugins.configMaps") or []}
    for plugin in custom:
        if plugin not in enabled:
            problems.append(f"{rel}: env.plugins: expected bundled,{plugin}, "
                            f"got {','.join(enabled)!r}")
        if plugin not in maps:
            problems.append(f"{rel}: plugins.configMaps: expected an entry with pluginName "
                            f"{plugin}, got {sorted(m for m in maps if m)}")
    from harness.model import load_gateway

    try:
        certs = vault_certs(load_gateway(root))
    except ConfigError:
        certs = []
    env = values.get("customEnv") or {}
    for vc in certs:
        for key, want_entry in custom_env_entries(vc).items():
            if env.get(key) != want_entry:
                problems.append(f"{rel}: customEnv.{key}: expected {want_entry!r} "
                                f"(kong.yml certificate {vc.secret}), got {env.get(key)!r}")
    return problems
