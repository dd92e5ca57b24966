import yaml
from deploy_support import REPO, edit

from harness.deploy.k8s_check import HELM_VALUES, check_helm_values, check_manifests

STUBS = "kubernetes/backends/stubs.yaml"


def test_the_repository_manifests_validate_against_the_kubernetes_schemas():
    assert check_manifests(REPO) == []


def test_an_unknown_field_in_a_deployment_fails_naming_the_file(repo_copy):
    docs = list(yaml.safe_load_all((repo_copy / STUBS).read_text()))
    docs[0]["spec"]["template"]["spec"]["containers"][0]["restartPolicyy"] = "Always"
    (repo_copy / STUBS).write_text(yaml.safe_dump_all(docs))
    problems = check_manifests(repo_copy)
    assert len(problems) == 1
    assert problems[0].startswith(f"{STUBS}: document 0 (Deployment user-1): "
                                  "spec.template.spec.containers.0: Additional properties")
    assert "restartPolicyy" in problems[0]


def test_a_wrong_type_fails_naming_the_file_and_the_field(repo_copy):
    edit(repo_copy / "kubernetes/load/locust.yaml", "  replicas: 4\n", "  replicas: four\n")
    problems = check_manifests(repo_copy)
    assert problems == ["kubernetes/load/locust.yaml: document 3 (Deployment locust-worker): "
                        "spec.replicas: 'four' is not of type 'integer', 'null'"]


def test_a_certificate_without_dns_names_fails_naming_the_file(repo_copy):
    path = repo_copy / "kubernetes/cert-manager/certificates/tls-stark.yaml"
    edit(path, "  dnsNames:\n    - api.stark.dev\n", "")
    problems = check_manifests(repo_copy)
    assert ("kubernetes/cert-manager/certificates/tls-stark.yaml: document 0 (Certificate "
            "tls-stark).spec.dnsNames: expected a value, got none") in problems
    assert any(p.startswith("kubernetes/cert-manager/certificates/tls-stark.yaml: spec.dnsNames:"
                            " expected ['api.stark.dev']") for p in problems)


def test_a_missing_service_for_a_kong_yml_target_is_reported(repo_copy):
    docs = list(yaml.safe_load_all((repo_copy / STUBS).read_text()))
    kept = [d for d in docs if d and d["metadata"]["name"] != "crm-1"]
    (repo_copy / STUBS).write_text(yaml.safe_dump_all(kept))
    assert check_manifests(repo_copy) == [
        "kubernetes/backends: Service crm-1: expected a Service for kong.yml target "
        "crm-1:8080, got none"]


def test_the_helm_values_set_what_the_gateway_needs():
    assert check_helm_values(REPO) == []


def test_helm_values_with_an_unknown_key_or_one_replica_fail_naming_the_file(repo_copy):
    edit(repo_copy / HELM_VALUES, "replicaCount: 3\n", "replicaCount: 3\nreplicas: 3\n")
    edit(repo_copy / HELM_VALUES, "  minReplicas: 3\n", "  minReplicas: 1\n")
    assert check_helm_values(repo_copy) == [
        f"{HELM_VALUES}: replicas: expected a key of the kong/kong chart, got an unknown key",
        f"{HELM_VALUES}: replicaCount/autoscaling.minReplicas: expected >= 2, got 1"]


def test_helm_values_must_map_every_kong_yml_certificate_to_its_env_vault_variable(repo_copy):
    edit(repo_copy / HELM_VALUES, "  tls_stark_key:\n    valueFrom:\n      secretKeyRef:\n"
         "        name: tls-stark\n        key: tls.key\n", "")
    problems = check_helm_values(repo_copy)
    assert len(problems) == 1
    assert problems[0].startswith(f"{HELM_VALUES}: customEnv.tls_stark_key: expected")
    assert problems[0].endswith("(kong.yml certificate tls-stark), got None")


def test_helm_values_without_the_custom_plugin_configmap_fail(repo_copy):
    edit(repo_copy / HELM_VALUES, "    - pluginName: tenant-context\n", "    - pluginName: other\n")
    assert check_helm_values(repo_copy) == [
        f"{HELM_VALUES}: plugins.configMaps: expected an entry with pluginName tenant-context, "
        "got ['other']"]
