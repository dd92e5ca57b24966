"""Tenant onboarding (`harness tenant add`): edits kong/ and kubernetes/ in place.

For `harness tenant add DOMAIN --tier TIER`:
- DOMAIN `x.<base_domain>` is a subdomain tenant `x`; any other DOMAIN is a
  custom domain (the tenant id defaults to its registrable label:
  api.wayne-ent.com -> wayne-ent);
- kong/tenants.yaml gets the tenant (comments and layout kept: ruamel.yaml);
- per custom domain, kong.yml gets the host in the `tenant_hosts` anchor (all
  routes alias it) and a certificate whose PEMs are env-vault references;
  kubernetes/ gets the cert-manager Certificate and the Helm customEnv pair;
- docs/openapi.yaml and the Tenant Service seed SQL
  (kong/migrations/tenant-directory/900_seed.sql) are regenerated.
The result must load with harness.model.load_gateway; otherwise every file is
restored and the ConfigError is raised.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from harness.deploy.certificates import VaultCert, certificate_yaml, custom_env_entries
from harness.deploy.k8s_check import HELM_VALUES
from harness.errors import ConfigError
from harness.model import load_gateway

__all__ = ["Onboarding", "add_tenant", "plan_tenant"]

TENANTS = Path("kong/tenants.yaml")
KONG_YML = Path("kong/declarative-config/kong.yml")
SEED_SQL = Path("kong/migrations/tenant-directory/900_seed.sql")
HOSTS_ANCHOR = "tenant_hosts"
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass
class Onboarding:
    """What `add_tenant` will do (or did)."""

    tenant_id: str
    subdomain: str
    tier: str
    custom_domains: list[str]
    certs: list[VaultCert] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)   # relative path -> new text


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _dump(y: YAML, data: Any) -> str:
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def _host(value: str, what: str) -> str:
    host = value.strip().lower().rstrip(".")
    if not _HOST.match(host):
        raise ConfigError(what, "", "a DNS host name like api.example.com", value)
    return host


def _hosts_anchor(kong: Any) -> CommentedSeq:
    for svc in kong.get("services") or []:
        for route in svc.get("routes") or []:
            hosts = route.get("hosts")
            if isinstance(hosts, CommentedSeq) and hosts.anchor.value == HOSTS_ANCHOR:
                return hosts
    raise ConfigError(str(KONG_YML), "services[].routes[].hosts",
                      f"a hosts list anchored &{HOSTS_ANCHOR}", "none")


def plan_tenant(root: Path, domain: str, tier: str, *, tenant_id: str | None = None,
                name: str | None = None, custom_domains: tuple[str, ...] = (),
                status: str = "active") -> Onboarding:
    gw = load_gateway(root)
    if tier not in gw.tiers.tiers:
        raise ConfigError("--tier", "", f"one of {sorted(gw.tiers.tiers)}", tier)
    base = gw.tenants.base_domain
    host = _host(domain, "DOMAIN")
    extra = [_host(d, "--custom-domain") for d in custom_domains]
    if host.endswith("." + base) and host.count(".") == base.count(".") + 1:
        subdomain, customs = host.split(".", 1)[0], extra
    elif host.endswith("." + base) or host == base:
        raise ConfigError("DOMAIN", "", f"<name>.{base} or a custom domain", host)
    else:
        customs = [host, *extra]
        subdomain = tenant_id or host.split(".")[-2]
    tid = tenant_id or subdomain
    if not _ID.match(tid) or not _ID.match(subdomain):
        raise ConfigError("--id", "", "a lower-case DNS label like wayne-ent", tid)
    if any(t.id == tid for t in gw.tenants.tenants):
        raise ConfigError(str(TENANTS), "tenants[].id", "a new tenant id", tid)
    taken = gw.tenants_by_host
    for h in [f"{subdomain}.{base}", *customs]:
        if h in taken:
            raise ConfigError(str(TENANTS), "tenants[]", f"a host no tenant uses ({h})",
                              f"{h} of tenant {taken[h].id}", raw_got=True)
        if h != f"{subdomain}.{base}" and h.endswith("." + base):
            raise ConfigError("--custom-domain", "", f"a domain outside {base}", h)
    plan = Onboarding(tid, subdomain, tier, customs)
    y = _yaml()

    tenants = y.load((root / TENANTS).read_text())
    entry = CommentedMap()
    entry["id"] = tid
    entry["name"] = name or tid.replace("-", " ").title()
    entry["subdomain"] = subdomain
    seq = CommentedSeq(customs)
    seq.fa.set_flow_style()
    entry["custom_domains"] = seq
    entry["tier"] = tier
    entry["status"] = status
    tenants["tenants"].append(entry)
    plan.files[TENANTS] = _dump(y, tenants)
    if not customs:
        return plan

    kong = y.load((root / KONG_YML).read_text())
    anchor = _hosts_anchor(kong)
    used = {c.cert.split("/")[-1][:-len("-cert}")] for c in gw.kong.certificates}
    values = y.load((root / HELM_VALUES).read_text())
    for host_name in customs:
        anchor.append(host_name)
        label = host_name.split(".")[-2]
        secret, n = f"tls-{label}", 2
        while secret in used:
            secret, n = f"tls-{label}-{n}", n + 1
        used.add(secret)
        vc = VaultCert(secret, (host_name,))
        cert = CommentedMap()
        cert["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kong-certificate:{host_name}"))
        cert["cert"] = DoubleQuotedScalarString(f"{{vault://env/{secret}-cert}}")
        cert["key"] = DoubleQuotedScalarString(f"{{vault://env/{secret}-key}}")
        snis = CommentedSeq([CommentedMap(name=host_name)])
        cert["snis"] = snis
        kong["certificates"].append(cert)
        plan.certs.append(vc)
        plan.files[vc.file] = certificate_yaml(vc)
        env = values.setdefault("customEnv", CommentedMap())
        for key, val in custom_env_entries(vc).items():
            env[key] = val
    plan.files[KONG_YML] = _dump(y, kong)
    plan.files[HELM_VALUES] = _dump(y, values)
    return plan


def add_tenant(root: Path, domain: str, tier: str, **kw: Any) -> Onboarding:
    """Plan, write, check with the model, regenerate the OpenAPI document."""
    from harness.openapi import OPENAPI_FILE, render_openapi

    plan = plan_tenant(root, domain, tier, **kw)
    backup = {rel: (root / rel).read_text() if (root / rel).exists() else None
              for rel in [*plan.files, OPENAPI_FILE, SEED_SQL]}
    try:
        for rel, text in plan.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        gateway = load_gateway(root)
        generated = {OPENAPI_FILE: render_openapi(gateway)}
        if (root / SEED_SQL).exists():
            from harness.services.tenant_sql import seed_sql

            generated[SEED_SQL] = seed_sql(gateway.tenants)
        for rel, text in generated.items():
            (root / rel).write_text(text)
            plan.files[rel] = text
    except Exception:
        for rel, old in backup.items():
            if old is None:
                (root / rel).unlink(missing_ok=True)
            else:
                (root / rel).write_text(old)
        raise
    return plan
