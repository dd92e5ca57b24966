"""The committed seed SQL stays generated from kong/tenants.yaml through the model."""

from __future__ import annotations

from harness.model import TenantDirectory, load_gateway
from harness.services.tenant import normalize_host
from harness.services.tenant_sql import MIGRATIONS_DIR, SEED_FILE, migration_files, seed_sql


def test_committed_seed_matches_the_tenant_directory_of_the_model():
    gw = load_gateway(MIGRATIONS_DIR.parents[2])
    committed = (MIGRATIONS_DIR / SEED_FILE).read_text()
    assert committed == seed_sql(gw.tenants), (
        f"{SEED_FILE} is stale: run `python -m harness.services.tenant_sql --write`")


def test_every_seeded_tenant_and_custom_domain_appears_in_the_seed():
    gw = load_gateway(MIGRATIONS_DIR.parents[2])
    text = seed_sql(gw.tenants)
    for t in gw.tenants.tenants:
        assert f"('{t.id}', " in text
        for d in t.custom_domains:
            assert f"('{d}', '{t.id}')" in text


def test_seed_quotes_names_with_apostrophes():
    d = TenantDirectory.model_validate({"_format_version": "1", "base_domain": "x.example",
                                        "tenants": [{"id": "oh", "name": "O'Hara", "subdomain":
                                                     "oh", "tier": "basic"}]})
    assert "'O''Hara'" in seed_sql(d)


def test_migrations_exclude_the_generated_seed_and_apply_in_name_order():
    names = [p.name for p in migration_files()]
    assert names == sorted(names) and SEED_FILE not in names and names


def test_host_normalisation_drops_case_port_and_trailing_dot():
    assert normalize_host("API.Acme-Corp.COM.:8443") == "api.acme-corp.com"
    assert normalize_host("acme.app.example.com") == "acme.app.example.com"
