"""The luacheck and busted checks of `harness validate`, run with the real
Debian tools against the real plugin and against broken copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.lua.checks import plugin_dirs
from harness.validate import CheckResult, run_checks

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_REL = Path("kong/custom-plugins/tenant-context")

pytestmark = pytest.mark.skipif(
    not (shutil.which("luacheck") and shutil.which("busted")),
    reason="needs the Debian packages lua-check and lua-busted (scripts/bootstrap installs them)",
)


def _only(root: Path, name: str) -> CheckResult:
    (result,) = run_checks(root, only=[name])
    return result


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "kong/custom-plugins", tmp_path / "kong/custom-plugins")
    shutil.copy(ROOT / ".luacheckrc", tmp_path / ".luacheckrc")
    return tmp_path


def test_finds_tenant_context_as_a_plugin():
    assert [p.name for p in plugin_dirs(ROOT)] == ["tenant-context"]


@pytest.mark.parametrize("name", ["luacheck", "busted"])
def test_the_repository_plugins_pass(name):
    result = _only(ROOT, name)
    assert result.ok, result.problems or result.missing


def test_luacheck_reports_file_line_and_code_of_a_warning(repo_copy):
    handler = repo_copy / PLUGIN_REL / "handler.lua"
    lines = handler.read_text().splitlines()
    lines.insert(12, "local leftover = 1")
    handler.write_text("\n".join(lines) + "\n")
    result = _only(repo_copy, "luacheck")
    assert result.problems == [
        "luacheck: kong/custom-plugins/tenant-context/handler.lua:13:7: (W211) "
        "unused variable 'leftover'"
    ]


def test_busted_reports_each_failing_spec_by_name(repo_copy):
    handler = repo_copy / PLUGIN_REL / "handler.lua"
    handler.write_text(handler.read_text().replace('"Tenant suspended"', '"Suspended"'))
    result = _only(repo_copy, "busted")
    assert len(result.problems) == 2
    first = result.problems[0]
    assert first.startswith(
        "kong/custom-plugins/tenant-context: busted spec failed: tenant-context access "
        "tenant resolution answers 403 Tenant suspended for a suspended tenant")
    assert "Suspended" in first  # the diagnostic lines follow the name


def test_busted_requires_specs_for_every_plugin(repo_copy):
    shutil.rmtree(repo_copy / PLUGIN_REL / "spec")
    result = _only(repo_copy, "busted")
    assert result.problems == [
        "kong/custom-plugins/tenant-context: no spec/ directory (busted specs are required)"
    ]


def test_a_tree_without_custom_plugins_passes_both_checks(tmp_path):
    assert _only(tmp_path, "luacheck").ok
    assert _only(tmp_path, "busted").ok


@pytest.mark.parametrize(("name", "package"), [("luacheck", "lua-check"),
                                               ("busted", "lua-busted")])
def test_a_missing_tool_names_the_debian_package(monkeypatch, tmp_path, name, package):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = _only(ROOT, name)
    assert result.problems == []
    assert result.missing is not None
    assert f"apt-get install {package}" in result.missing
