"""cert-manager Certificates and Kong env-vault wiring for kong.yml's certificates.

kong.yml names each certificate's PEMs as env-vault references
("{vault://env/tls-acme-corp-cert}"). In Kubernetes, cert-manager writes a TLS
Secret per certificate and the Helm values map its keys to those variables:

    kong.yml cert "{vault://env/tls-acme-corp-cert}"  ->  Secret tls-acme-corp (tls.crt)
    Helm customEnv.tls_acme_corp_cert                 ->  env TLS_ACME_CORP_CERT

One function per direction, so the renderer (`harness tenant add`) and the
check (`harness validate`) agree by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.model import Gateway

__all__ = [
    "CERT_DIR",
    "CLUSTER_ISSUER",
    "VaultCert",
    "certificate_manifest",
    "certificate_yaml",
    "custom_env_entries",
    "vault_certs",
]

CERT_DIR = Path("kubernetes/cert-manager/certificates")
CLUSTER_ISSUER = "letsencrypt-prod"
NAMESPACE = "gateway"
_REF = re.compile(r"^\{vault://env/([a-z0-9-]+)-(cert|key)\}$")


@dataclass(frozen=True)
class VaultCert:
    """One kong.yml certificate seen from Kubernetes."""

    secret: str              # tls-acme-corp (cert-manager Secret and Certificate name)
    dns_names: tuple[str, ...]

    @property
    def cert_var(self) -> str:
        return f"{self.secret}-cert".upper().replace("-", "_")

    @property
    def key_var(self) -> str:
        return f"{self.secret}-key".upper().replace("-", "_")

    @property
    def file(self) -> Path:
        return CERT_DIR / f"{self.secret}.yaml"


def vault_certs(gateway: Gateway) -> list[VaultCert]:
    out = []
    for cert in gateway.kong.certificates:
        m_cert, m_key = _REF.match(cert.cert), _REF.match(cert.key)
        where = f"certificates[{cert.id}]"
        if m_cert is None or m_cert.group(2) != "cert":
            raise ConfigError("kong.yml", f"{where}.cert", '"{vault://env/<name>-cert}"',
                              cert.cert)
        if m_key is None or m_key.group(2) != "key" or m_key.group(1) != m_cert.group(1):
            raise ConfigError("kong.yml", f"{where}.key",
                              f'"{{vault://env/{m_cert.group(1)}-key}}"', cert.key)
        out.append(VaultCert(m_cert.group(1), tuple(s.name for s in cert.snis)))
    return out


def certificate_manifest(vc: VaultCert) -> dict[str, Any]:
    """The cert-manager Certificate issuing `vc`'s Secret (wildcards need DNS-01)."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": vc.secret, "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/part-of": "api-gateway",
                                "app.kubernetes.io/component": "tls"}},
        "spec": {
            "secretName": vc.secret,
            "dnsNames": list(vc.dns_names),
            "issuerRef": {"name": CLUSTER_ISSUER, "kind": "ClusterIssuer",
                          "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h",
            "renewBefore": "720h",
        },
    }


def custom_env_entries(vc: VaultCert) -> dict[str, dict[str, Any]]:
    """Helm `customEnv` entries (the chart upper-cases keys) for `vc`."""
    return {
        vc.cert_var.lower(): {"valueFrom": {"secretKeyRef": {"name": vc.secret,
                                                             "key": "tls.crt"}}},
        vc.key_var.lower(): {"valueFrom": {"secretKeyRef": {"name": vc.secret,
                                                            "key": "tls.key"}}},
    }


def certificate_yaml(vc: VaultCert) -> str:
    """The file text of `vc`'s Certificate (kubernetes/cert-manager/certificates/)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    head = (f"# Issued by cert-manager into Secret {vc.secret}; Kong reads it as\n"
            f"# {vc.cert_var} / {vc.key_var} (kong.yml env-vault references).\n")
    return head + yaml.dump(certificate_manifest(vc), Dumper=_Dumper, sort_keys=False)
