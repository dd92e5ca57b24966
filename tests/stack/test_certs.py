"""Local CA and leaf certificates for the SNIs of kong.yml."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from harness.errors import ConfigError
from harness.model import load_gateway
from harness.stack.certs import env_var_of, generate

ROOT = Path(__file__).resolve().parents[2]


def test_vault_reference_maps_to_kong_env_vault_variable():
    assert env_var_of("{vault://env/tls-acme-corp-cert}", "c") == "TLS_ACME_CORP_CERT"
    with pytest.raises(ConfigError, match=r'expected "\{vault://env/<name>\}"'):
        env_var_of("-----BEGIN CERTIFICATE-----", "certificates[x].cert")


def test_every_certificate_of_kong_yml_gets_a_cert_and_key_for_its_snis(tmp_path):
    gw = load_gateway(ROOT)
    tls = generate(gw, tmp_path)
    for cert in gw.kong.certificates:
        pem = tls.env[env_var_of(cert.cert, "")]
        leaf = x509.load_pem_x509_certificate(pem.encode())
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert sans.value.get_values_for_type(x509.DNSName) == [s.name for s in cert.snis]
        assert "PRIVATE KEY" in tls.env[env_var_of(cert.key, "")]


def test_a_tls_client_trusting_the_ca_accepts_the_leaf_for_its_sni(tmp_path):
    gw = load_gateway(ROOT)
    tls = generate(gw, tmp_path)
    cert = next(c for c in gw.kong.certificates if any(s.name == "api.acme-corp.com"
                                                       for s in c.snis))
    crt, key = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    crt.write_text(tls.env[env_var_of(cert.cert, "")])
    key.write_text(tls.env[env_var_of(cert.key, "")])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(crt, key)
    client = ssl.create_default_context(cafile=str(tls.ca_file))
    a, b = ssl.MemoryBIO(), ssl.MemoryBIO()
    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_obj = server.wrap_bio(a, b, server_side=True)
    c_obj = client.wrap_bio(c_in, c_out, server_hostname="api.acme-corp.com")
    for _ in range(10):  # bounded handshake pump between the two in-memory ends
        for obj in (c_obj, s_obj):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        a.write(c_out.read())
        c_in.write(b.read())
    c_obj.do_handshake()
    assert c_obj.getpeercert()["subjectAltName"] == (("DNS", "api.acme-corp.com"),)
