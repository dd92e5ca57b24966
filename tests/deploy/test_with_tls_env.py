"""stack/kong/with-tls-env.sh, the Kong containers' entrypoint wrapper, run with sh."""

import shutil
import subprocess

import pytest
from deploy_support import REPO

SCRIPT = REPO / "stack/kong/with-tls-env.sh"
pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh")

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\nline two\n-----END CERTIFICATE-----\n"


def _run(env_dir, *cmd):
    return subprocess.run(["sh", str(SCRIPT), *cmd], env={"CERTS_ENV_DIR": str(env_dir),
                                                           "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=10)


def test_each_file_becomes_an_environment_variable_with_its_multi_line_pem(tmp_path):
    (tmp_path / "TLS_ACME_CORP_CERT").write_text(PEM)
    (tmp_path / "TLS_ACME_CORP_KEY").write_text("key\n")
    proc = _run(tmp_path, "sh", "-c", 'printf "%s|%s" "$TLS_ACME_CORP_CERT" "$TLS_ACME_CORP_KEY"')
    assert proc.returncode == 0, proc.stderr
    # $(cat) drops the final newline only; the PEM lines survive intact
    assert proc.stdout == PEM.rstrip("\n") + "|key"


def test_files_that_are_not_variable_names_are_skipped_with_a_message(tmp_path):
    (tmp_path / "ca.pem").write_text(PEM)
    proc = _run(tmp_path, "sh", "-c", "echo ran")
    assert proc.returncode == 0 and proc.stdout == "ran\n"
    assert "skipping" in proc.stderr and "ca.pem" in proc.stderr


def test_the_command_runs_even_without_a_certs_directory(tmp_path):
    proc = _run(tmp_path / "missing", "sh", "-c", "exit 7")
    assert proc.returncode == 7
