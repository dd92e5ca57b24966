"""TLS termination with SNI-selected certificates from Kong env-vault references (issue 5)."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.errors import ConfigError
from harness.gateway.tls import resolve_vault
from tests.gateway.dataplane_support import Upstream, gateway, gateway_from, request, run

pytestmark = pytest.mark.tls

# The production config's two certificates (env-vault refs); other TLS tests reuse them.
CERTIFICATES = """certificates:
  - id: 8c363148-96ed-53e6-be65-df7d3fe00723
    cert: "{vault://env/tls-wildcard-cert}"
    key: "{vault://env/tls-wildcard-key}"
    snis:
      - name: "*.app.example.com"
  - id: 758d5b74-2394-5f8d-815e-10c3a9ad5156
    cert: "{vault://env/tls-acme-corp-cert}"
    key: "{vault://env/tls-acme-corp-key}"
    snis:
      - name: api.acme-corp.com
"""

KONG = """
_format_version: "3.0"
""" + CERTIFICATES + """services:
  - name: svc
    host: echo
    port: 8080
    routes:
      - name: secure
        paths: [/]
        protocols: [https]
"""


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key, ca_cert, dns: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_vault_reference_names_the_env_variable_when_unset():
    # Kong env vault: tls-wildcard-cert -> TLS_WILDCARD_CERT
    with pytest.raises(ConfigError) as err:
        resolve_vault("{vault://env/tls-wildcard-cert}", "certificates[0].cert", "kong.yml", {})
    assert str(err.value) == ("kong.yml: certificates[0].cert: expected environment variable "
                              "TLS_WILDCARD_CERT (Kong env vault) holding a PEM, got unset")
    assert resolve_vault("{vault://env/tls-x}", "f", "k", {"TLS_X": "PEM"}) == "PEM"


def test_https_listener_serves_the_certificate_chosen_by_sni(tmp_path):
    ca_key, ca_cert = _ca()
    wild_cert, wild_key = _leaf(ca_key, ca_cert, "*.app.example.com")
    acme_cert, acme_key = _leaf(ca_key, ca_cert, "api.acme-corp.com")
    env = {"TLS_WILDCARD_CERT": wild_cert, "TLS_WILDCARD_KEY": wild_key,
           "TLS_ACME_CORP_CERT": acme_cert, "TLS_ACME_CORP_KEY": acme_key}
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(
        serialization.Encoding.PEM).decode())

    async def main() -> None:
        up = await Upstream().start()
        gw = gateway_from(tmp_path, KONG)
        try:
            async with gateway(gw, {("echo", 8080): ("127.0.0.1", up.port)}, https=True,
                               env=env) as srv:
                tls_port = srv.ports["https"]
                # verification succeeds only if the SNI picked the matching leaf
                r = await request(tls_port, path="/a", host="acme.app.example.com", ssl=client,
                                  server_hostname="acme.app.example.com")
                assert r.status == 200
                assert up.seen[-1].headers["x-forwarded-proto"] == "https"
                r = await request(tls_port, path="/a", host="api.acme-corp.com", ssl=client,
                                  server_hostname="api.acme-corp.com")
                assert r.status == 200
                with pytest.raises(ssl.SSLCertVerificationError):
                    await request(tls_port, path="/a", host="other.org", ssl=client,
                                  server_hostname="other.org")
                plain = await request(srv.ports["http"], path="/a")
                assert plain.status == 426
        finally:
            await up.stop()
    run(main())


def test_https_service_is_proxied_over_tls_with_sni_and_no_verification(tmp_path):
    # service.protocol https: Kong speaks TLS upstream (proxy_ssl_server_name on,
    # tls_verify off by default); the Host header omits the default port 443
    from harness.gateway.tls import _self_signed

    cert, key = _self_signed()
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda obj, name, ctx: seen_sni.append(name)  # type: ignore
    kong = """
_format_version: "3.0"
services:
  - name: svc
    protocol: https
    host: secure-backend
    port: 443
    routes:
      - name: r
        paths: [/]
"""

    async def main() -> None:
        up = await Upstream().start(ssl=server_ctx)
        gw = gateway_from(tmp_path, kong)
        try:
            async with gateway(gw, {("secure-backend", 443): ("127.0.0.1", up.port)}) as srv:
                r = await request(srv.ports["http"], path="/x")
                assert r.status == 200
                assert up.seen[-1].headers["host"] == "secure-backend"
                assert seen_sni == ["secure-backend"]
        finally:
            await up.stop()
    run(main())
