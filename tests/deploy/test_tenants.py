import pytest
import yaml
from deploy_support import REPO

from harness.cli import main
from harness.deploy.k8s_check import check_helm_values, check_manifests
from harness.deploy.tenants import KONG_YML, TENANTS, add_tenant, plan_tenant
from harness.errors import ConfigError
from harness.model import load_gateway
from harness.openapi import OPENAPI_FILE, render_openapi


def test_a_custom_domain_tenant_reaches_every_route_with_its_own_certificate(repo_copy):
    add_tenant(repo_copy, "api.wayne-ent.com", "pro", name="Wayne Enterprises")
    gw = load_gateway(repo_copy)
    tenant = gw.tenants_by_host["api.wayne-ent.com"]
    assert (tenant.id, tenant.tier, tenant.subdomain) == ("wayne-ent", "pro", "wayne-ent")
    assert gw.tenants_by_host["wayne-ent.app.example.com"] is tenant
    assert all("api.wayne-ent.com" in v.route.hosts for v in gw.routes)
    (cert,) = [c for c in gw.kong.certificates if c.snis[0].name == "api.wayne-ent.com"]
    assert (cert.cert, cert.key) == ("{vault://env/tls-wayne-ent-cert}",
                                     "{vault://env/tls-wayne-ent-key}")
    manifest = yaml.safe_load(
        (repo_copy / "kubernetes/cert-manager/certificates/tls-wayne-ent.yaml").read_text())
    assert manifest["spec"]["dnsNames"] == ["api.wayne-ent.com"]
    assert check_manifests(repo_copy) == [] and check_helm_values(repo_copy) == []
    assert (repo_copy / OPENAPI_FILE).read_text() == render_openapi(gw)


def test_onboarding_only_appends_and_keeps_comments_and_layout(repo_copy):
    before = {rel: (repo_copy / rel).read_text().splitlines() for rel in (TENANTS, KONG_YML)}
    add_tenant(repo_copy, "portal.wayne-ent.com", "basic")
    for rel, old in before.items():
        new = (repo_copy / rel).read_text().splitlines()
        it = iter(new)
        assert all(line in it for line in old), f"{rel}: an existing line changed"
        assert len(new) > len(old)
    assert "  - id: wayne-ent" in (repo_copy / TENANTS).read_text()
    assert "custom_domains: [portal.wayne-ent.com]" in (repo_copy / TENANTS).read_text()


def test_a_subdomain_tenant_touches_only_the_directory_and_generated_files(repo_copy):
    plan = add_tenant(repo_copy, "newco.app.example.com", "enterprise")
    assert set(map(str, plan.files)) == {"kong/tenants.yaml", "docs/openapi.yaml",
                                         "kong/migrations/tenant-directory/900_seed.sql"}
    assert "'newco'" in (repo_copy / "kong/migrations/tenant-directory/900_seed.sql").read_text()
    assert load_gateway(repo_copy).tenants_by_host["newco.app.example.com"].tier == "enterprise"


@pytest.mark.parametrize(("domain", "tier", "message"), [
    ("newco.app.example.com", "platinum",
     "--tier: expected one of ['basic', 'enterprise', 'pro'], got 'platinum'"),
    ("api.acme-corp.com", "pro",
     "kong/tenants.yaml: tenants[]: expected a host no tenant uses (api.acme-corp.com), got "
     "api.acme-corp.com of tenant acme"),
    ("acme.app.example.com", "pro", "kong/tenants.yaml: tenants[].id: expected a new tenant id, "
     "got 'acme'"),
    ("a.b.app.example.com", "pro",
     "DOMAIN: expected <name>.app.example.com or a custom domain, got 'a.b.app.example.com'"),
    ("not a host", "pro",
     "DOMAIN: expected a DNS host name like api.example.com, got 'not a host'"),
])
def test_bad_onboarding_requests_are_refused_with_the_reason(domain, tier, message):
    with pytest.raises(ConfigError) as err:
        plan_tenant(REPO, domain, tier)
    assert str(err.value) == message


def test_tenant_add_cli_dry_run_writes_nothing(repo_copy, capsys):
    before = (repo_copy / TENANTS).read_text()
    assert main(["tenant", "add", "api.wayne-ent.com", "--tier", "pro", "--root",
                 str(repo_copy), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+  - id: wayne-ent" in out and "+          - api.wayne-ent.com" in out
    assert (repo_copy / TENANTS).read_text() == before


def test_tenant_add_cli_reports_bad_input_as_an_error(repo_copy, capsys):
    assert main(["tenant", "add", "x.app.example.com", "--tier", "gold", "--root",
                 str(repo_copy)]) == 2
    assert "--tier: expected one of" in capsys.readouterr().err
