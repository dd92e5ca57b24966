from cryptography import x509
from deploy_support import REPO

from harness.deploy.certificates import vault_certs
from harness.deploy.certs_init import main
from harness.model import load_gateway


def test_one_env_file_per_vault_variable_of_kong_yml_and_the_ca(tmp_path):
    assert main(["--root", str(REPO), "--out", str(tmp_path)]) == 0
    expected = {v for vc in vault_certs(load_gateway(REPO)) for v in (vc.cert_var, vc.key_var)}
    assert {p.name for p in (tmp_path / "env").iterdir()} == expected
    leaf = x509.load_pem_x509_certificate((tmp_path / "env/TLS_ACME_CORP_CERT").read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.acme-corp.com"]
    assert (tmp_path / "env/TLS_WILDCARD_KEY").read_text().startswith("-----BEGIN PRIVATE KEY")
    assert (tmp_path / "ca.pem").is_file()


def test_a_rerun_replaces_stale_env_files(tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "env/TLS_OLD_CERT").write_text("x")
    assert main(["--root", str(REPO), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "env/TLS_OLD_CERT").exists()
