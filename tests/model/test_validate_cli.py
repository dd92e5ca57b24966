"""Acceptance: breaking the repository config makes `harness validate` exit
non-zero with a message naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
KONG = "kong/declarative-config/kong.yml"
TENANTS = "kong/tenants.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel in (KONG, "kong/tiers.yaml", TENANTS):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def _break(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}: the repository config changed"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_validate_passes_on_the_unchanged_config(repo, capsys):
    assert main(["validate", "--root", str(repo), "--only", "model"]) == 0
    assert "ok    model" in capsys.readouterr().out


@pytest.mark.parametrize(("rel", "old", "new", "message"), [
    pytest.param(KONG, "    retries: 2\n", "    retries: 2\n    retry: 2\n",
                 f"{KONG}: services[user-service].retry: expected one of the known keys",
                 id="unknown key"),
    pytest.param(KONG, "\nconsumers:\n",
                 "\nroutes:\n  - name: orphan\n    service: ghost-service\n    paths: [/ghost]\n"
                 "\nconsumers:\n",
                 f"{KONG}: routes[orphan].service: expected the name of a service (",
                 id="route to a missing service"),
    pytest.param(TENANTS, "    tier: basic\n", "    tier: platinum\n",
                 f"{TENANTS}: tenants[umbrella].tier: expected a tier of ",
                 id="tenant on an unknown tier"),
])
def test_validate_fails_naming_file_and_field(repo, capsys, rel, old, new, message):
    _break(repo, rel, old, new)
    assert main(["validate", "--root", str(repo), "--only", "model"]) == 1
    captured = capsys.readouterr()
    assert f"FAIL  model: {repo}/{message}" in captured.out
    assert "0 passed, 1 failed" in captured.err
