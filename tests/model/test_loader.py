"""The strict loader: one bad fixture per failure mode, each asserting the
exact message (file, dotted field path, expected, got).

tests/fixtures/config/valid/ is a minimal valid trio; each directory under
tests/fixtures/config/invalid/ holds the one file that differs from it plus
expected.txt with the message. The trio is laid out like the repository
(kong/declarative-config/kong.yml, kong/tiers.yaml, kong/tenants.yaml) in a
temporary root, so messages carry the repository-relative file names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.model import load_gateway

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/config"
VALID = FIXTURES / "valid"
INVALID = FIXTURES / "invalid"
LAYOUT = {
    "kong.yml": "kong/declarative-config/kong.yml",
    "tiers.yaml": "kong/tiers.yaml",
    "tenants.yaml": "kong/tenants.yaml",
}
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())


def _lay_out(root: Path, case: Path | None) -> None:
    for name, rel in LAYOUT.items():
        src = case / name if case is not None and (case / name).exists() else VALID / name
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)


def test_every_invalid_case_replaces_exactly_one_file_and_states_its_message():
    assert len(CASES) >= 20
    for name in CASES:
        files = sorted(p.name for p in (INVALID / name).iterdir())
        assert len(files) == 2 and "expected.txt" in files, (name, files)
        assert (set(files) - {"expected.txt"}) <= set(LAYOUT), (name, files)


def test_the_valid_fixture_loads(tmp_path, monkeypatch):
    _lay_out(tmp_path, None)
    monkeypatch.chdir(tmp_path)
    gw = load_gateway(".")
    assert [v.route.name for v in gw.routes] == ["users", "auth-token"]
    assert sorted(gw.tenants_by_host) == ["acme.app.example.com", "api.acme-corp.com",
                                          "hooli.app.example.com"]
    assert gw.tier_limits("pro") == {"minute": 120, "hour": 3000}


@pytest.mark.parametrize("case", CASES)
def test_an_invalid_config_fails_with_the_exact_message(case, tmp_path, monkeypatch):
    _lay_out(tmp_path, INVALID / case)
    monkeypatch.chdir(tmp_path)
    expected = (INVALID / case / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    with pytest.raises(ConfigError) as info:
        load_gateway(".")
    assert str(info.value) == expected


def test_a_config_error_carries_its_parts(tmp_path, monkeypatch):
    _lay_out(tmp_path, INVALID / "tenant-on-unknown-tier")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_gateway(".")
    err = info.value
    assert (err.file, err.path, err.got) == ("kong/tenants.yaml", "tenants[hooli].tier", "gold")


def test_a_missing_file_is_a_config_error_naming_it(tmp_path, monkeypatch):
    _lay_out(tmp_path, None)
    (tmp_path / "kong/tiers.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^kong/tiers.yaml: expected a readable file, got "):
        load_gateway(".")


def test_the_repository_config_loads():
    gw = load_gateway(Path(__file__).resolve().parents[2])
    assert gw.tenant_context is not None
    assert gw.tenant_context.public_routes == ["auth-token", "auth-jwks"]
