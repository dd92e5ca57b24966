"""`harness tenant add DOMAIN --tier TIER [--custom-domain D]...`: onboard a tenant."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    sub = p.add_subparsers(dest="tenant_action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a tenant (subdomain or custom domain)",
                         description="DOMAIN is <name>.<base_domain> for a subdomain tenant, "
                                     "or a custom domain (certificate via cert-manager).")
    add.add_argument("domain", metavar="DOMAIN")
    add.add_argument("--tier", required=True, help="tier of kong/tiers.yaml")
    add.add_argument("--custom-domain", action="append", default=[], metavar="D",
                     help="another custom domain of the tenant (repeatable)")
    add.add_argument("--id", dest="tenant_id", help="tenant id (default: from DOMAIN)")
    add.add_argument("--name", help="display name (default: from the id)")
    add.add_argument("--status", choices=["active", "suspended"], default="active")
    add.add_argument("--root", type=Path, default=Path("."), help="repository root")
    add.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")


def run(args: argparse.Namespace) -> int:
    from harness.deploy.tenants import add_tenant, plan_tenant

    root = args.root.resolve()
    kw = {"tenant_id": args.tenant_id, "name": args.name,
          "custom_domains": tuple(args.custom_domain), "status": args.status}
    if args.dry_run:
        plan = plan_tenant(root, args.domain, args.tier, **kw)
        for rel, text in plan.files.items():
            old = (root / rel).read_text().splitlines(True) if (root / rel).exists() else []
            print("".join(difflib.unified_diff(old, text.splitlines(True), f"a/{rel}",
                                               f"b/{rel}")), end="")
        print("(dry run: nothing written; docs/openapi.yaml would be regenerated)")
        return 0
    plan = add_tenant(root, args.domain, args.tier, **kw)
    print(f"tenant {plan.tenant_id} ({plan.tier}): {plan.subdomain} + "
          f"{', '.join(plan.custom_domains) or 'no custom domain'}")
    for rel in plan.files:
        print(f"  updated {rel}")
    if plan.certs:
        print("Next: kubectl apply -f " + " -f ".join(str(c.file) for c in plan.certs)
              + "; helm upgrade (customEnv changed); harness kong sync --apply")
    else:
        print("Next: harness kong sync --apply (the Tenant Service picks the tenant up "
              "from its directory seed or POST /admin/tenants)")
    return 0
