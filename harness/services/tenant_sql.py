"""SQL of the tenant directory: the migrations in kong/migrations/tenant-directory/
and the seed generated from the model's TenantDirectory (never a second copy).

`python -m harness.services.tenant_sql --write` regenerates 900_seed.sql;
tests/services/test_tenant_sql.py fails when the committed seed drifts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.model import Tenant, TenantDirectory, load_gateway

__all__ = ["MIGRATIONS_DIR", "SEED_FILE", "migration_files", "seed_rows", "seed_sql"]

_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = _ROOT / "kong" / "migrations" / "tenant-directory"
SEED_FILE = "900_seed.sql"

TenantRow = tuple[str, str, str, str, str]


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Schema files in apply order (the generated seed excluded)."""
    return sorted(p for p in directory.glob("*.sql") if p.name != SEED_FILE)


def seed_rows(directory: TenantDirectory) -> tuple[list[TenantRow], list[tuple[str, str]]]:
    tenants = [(t.id, t.name, t.subdomain, t.tier, str(t.status)) for t in directory.tenants]
    domains = [(d.lower(), t.id) for t in directory.tenants for d in t.custom_domains]
    return tenants, domains


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _tenant_values(t: Tenant) -> str:
    return "(" + ", ".join(_lit(v) for v in (t.id, t.name, t.subdomain, t.tier, t.status)) + ")"


def seed_sql(directory: TenantDirectory, source: str = "kong/tenants.yaml") -> str:
    """The seed as SQL (for the compose stack's postgres init and for review)."""
    lines = [f"-- GENERATED from {source} by `python -m harness.services.tenant_sql --write`.",
             "-- Do not edit: tests/services/test_tenant_sql.py checks it stays in sync.",
             "BEGIN;",
             "DELETE FROM tenant_domains;",
             "DELETE FROM tenants;",
             "INSERT INTO directory_settings (key, value) VALUES "
             f"('base_domain', {_lit(directory.base_domain)})",
             "  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;"]
    if directory.tenants:
        lines.append("INSERT INTO tenants (id, name, subdomain, tier, status) VALUES")
        lines.append(",\n".join("  " + _tenant_values(t) for t in directory.tenants) + ";")
    _, domains = seed_rows(directory)
    if domains:
        lines.append("INSERT INTO tenant_domains (domain, tenant_id) VALUES")
        lines.append(",\n".join(f"  ({_lit(d)}, {_lit(t)})" for d, t in domains) + ";")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.services.tenant_sql")
    p.add_argument("--root", type=Path, default=_ROOT)
    p.add_argument("--write", action="store_true", help=f"write {SEED_FILE} (else print it)")
    args = p.parse_args(argv)
    text = seed_sql(load_gateway(args.root).tenants)
    if args.write:
        (args.root / "kong" / "migrations" / "tenant-directory" / SEED_FILE).write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
