"""A local CA and one leaf certificate per certificate of kong.yml, for its SNIs.

kong.yml references certificates as Kong env-vault secrets
("{vault://env/tls-wildcard-cert}" = environment variable TLS_WILDCARD_CERT);
`generate` returns those variables with PEM text, and writes the CA so
clients can trust the gateway (Target.ca_file).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import ConfigError
from harness.model import Gateway

__all__ = ["TlsMaterial", "env_var_of", "generate", "load_tls_env"]

_VAULT = re.compile(r"^\{vault://env/([A-Za-z0-9_-]+)\}$")


def env_var_of(reference: str, where: str) -> str:
    """"{vault://env/tls-wildcard-cert}" -> "TLS_WILDCARD_CERT" (Kong's env vault rule)."""
    m = _VAULT.match(reference)
    if m is None:
        raise ConfigError("kong.yml", where, '"{vault://env/<name>}"', reference)
    return m.group(1).upper().replace("-", "_")


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path
    env: dict[str, str]          # TLS_..._CERT / TLS_..._KEY -> PEM text
    snis: dict[str, list[str]]   # certificate id -> its SNIs


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "harness native stack")])


def generate(gateway: Gateway, out_dir: Path, days: int = 30) -> TlsMaterial:
    out_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = _key()
    ca_name = _name("harness local CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    ca_file = out_dir / "ca.pem"
    ca_file.write_text(ca_pem)
    env: dict[str, str] = {}
    snis: dict[str, list[str]] = {}
    for i, cert in enumerate(gateway.kong.certificates):
        where = f"certificates[{cert.id}]"
        cert_var = env_var_of(cert.cert, f"{where}.cert")
        key_var = env_var_of(cert.key, f"{where}.key")
        names = [s.name for s in cert.snis] or [f"cert-{i}.invalid"]
        key = _key()
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        leaf = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
        # The chain (leaf + CA) so clients that only trust the CA can verify.
        env[cert_var] = leaf_pem + ca_pem
        env[key_var] = _pem_key(key)
        (out_dir / f"{cert.id}.crt.pem").write_text(leaf_pem + ca_pem)
        (out_dir / f"{cert.id}.key.pem").write_text(env[key_var])
        snis[cert.id] = names
    return TlsMaterial(ca_file, env, snis)


def load_tls_env(gateway: Gateway, out_dir: Path) -> dict[str, str]:
    """The TLS_* variables again from the files `generate` wrote (to restart a gateway)."""
    env: dict[str, str] = {}
    for cert in gateway.kong.certificates:
        where = f"certificates[{cert.id}]"
        env[env_var_of(cert.cert, f"{where}.cert")] = (out_dir / f"{cert.id}.crt.pem").read_text()
        env[env_var_of(cert.key, f"{where}.key")] = (out_dir / f"{cert.id}.key.pem").read_text()
    return env
