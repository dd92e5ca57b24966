"""TLS termination: certificates from Kong env-vault references, chosen by SNI.

`{vault://env/tls-wildcard-cert}` is Kong's env vault: the PEM comes from the
environment variable TLS_WILDCARD_CERT (upper-case, '-' -> '_'). SNI
selection follows Kong's certificate phase: exact name, then the wildcard
with the first label replaced (`*.example.com`, one level), then a suffix
wildcard (`example.*`); no match -> Kong's default self-signed certificate.
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness.errors import ConfigError
from harness.model import Gateway

__all__ = ["SniContexts", "build_sni_contexts", "resolve_vault"]

_VAULT = re.compile(r"^\{vault://env/([A-Za-z0-9_\-]+)\}$")


def resolve_vault(value: str, field: str, file: str,
                  env: Mapping[str, str] | None = None) -> str:
    """A literal PEM, or the env variable a `{vault://env/name}` reference names."""
    env = os.environ if env is None else env
    m = _VAULT.match(value.strip())
    if m is None:
        if "{vault://" in value:
            raise ConfigError(file, field, "a vault reference of the form {vault://env/<name>}",
                              value)
        return value
    var = m.group(1).upper().replace("-", "_")
    got = env.get(var)
    if not got:
        raise ConfigError(file, field, f"environment variable {var} (Kong env vault) "
                          "holding a PEM", "unset" if got is None else "empty", raw_got=True)
    return got


def _context(cert_pem: str, key_pem: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    # load_cert_chain only reads files; keep the PEMs in a private temp dir briefly.
    with tempfile.TemporaryDirectory(prefix="harness-gw-tls-") as tmp:
        c, k = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        c.write_text(cert_pem)
        k.write_text(key_pem)
        os.chmod(k, 0o600)
        ctx.load_cert_chain(c, k)
    return ctx


def _self_signed() -> tuple[str, str]:
    """Kong's default certificate stand-in: self-signed, CN=localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


class SniContexts:
    """SNI name -> SSLContext, with Kong's lookup order."""

    def __init__(self, by_name: dict[str, ssl.SSLContext], default: ssl.SSLContext) -> None:
        self.by_name = by_name
        self.default = default
        self.default.sni_callback = self._callback

    def select(self, server_name: str | None) -> ssl.SSLContext:
        if not server_name:
            return self.default
        name = server_name.lower()
        ctx = self.by_name.get(name)
        if ctx is not None:
            return ctx
        dot = name.find(".")
        if dot > 0:
            ctx = self.by_name.get("*" + name[dot:])
            if ctx is not None:
                return ctx
        last = name.rfind(".")
        if last > 0:
            ctx = self.by_name.get(name[:last] + ".*")
            if ctx is not None:
                return ctx
        return self.default

    def _callback(self, sslobj: ssl.SSLObject, server_name: str | None,
                  _ctx: ssl.SSLContext) -> None:
        chosen = self.select(server_name)
        if chosen is not self.default:
            sslobj.context = chosen


def build_sni_contexts(gateway: Gateway, env: Mapping[str, str] | None = None) -> SniContexts:
    file = str(gateway.kong_file)
    by_name: dict[str, ssl.SSLContext] = {}
    for i, cert in enumerate(gateway.kong.certificates):
        where = f"certificates[{i}]"
        cert_pem = resolve_vault(cert.cert, f"{where}.cert", file, env)
        key_pem = resolve_vault(cert.key, f"{where}.key", file, env)
        try:
            ctx = _context(cert_pem, key_pem)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(file, f"{where}.cert", "a PEM certificate and matching key",
                              str(exc), raw_got=True) from None
        for sni in cert.snis:
            by_name[sni.name.lower()] = ctx
    return SniContexts(by_name, _context(*_self_signed()))
