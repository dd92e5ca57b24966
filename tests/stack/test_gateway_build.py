"""The mypyc build of the reference gateway: which build a launcher runs, and that it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.errors import ConfigError, StackError
from harness.stack import gateway_build as gb
from harness.stack.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pkg_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "harness"
    shutil.copytree(gb.package_dir(), dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
    return dest


def test_digest_changes_with_any_file_and_not_otherwise(pkg_copy):
    before = gb.digest(pkg_copy)
    assert gb.digest(pkg_copy) == before
    assert gb.digest(pkg_copy) == gb.digest()   # the copy has the same files as the package
    lua = pkg_copy / "gateway" / "lua" / "pdk.lua"
    lua.write_text(lua.read_text() + "\n")
    after_lua = gb.digest(pkg_copy)
    assert after_lua != before                  # not only Python files count
    (pkg_copy / "new_module.py").write_text("")
    assert gb.digest(pkg_copy) not in (before, after_lua)


def test_compiled_modules_are_the_gateways_but_main_and_the_protocol_module(pkg_copy):
    mods = gb.compiled_modules(pkg_copy)
    assert "gateway/handler.py" in mods and "gateway/plugins/jwt.py" in mods
    assert "gateway/lua/vm.py" in mods
    assert "gateway/__main__.py" not in mods and "gateway/plugins/_runtime.py" not in mods
    assert all(m.startswith("gateway/") and m.endswith(".py") for m in mods)


def test_an_unknown_mode_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(gb.ENV, "fast")
    with pytest.raises(ConfigError) as err:
        gb.gateway_launch()
    assert str(err.value) == ("environment HARNESS_GATEWAY_BUILD: expected auto | interpreted | "
                              "compiled, got 'fast'")


def test_without_a_current_build_auto_interprets_and_compiled_refuses(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_GATEWAY_BUILD_DIR", str(tmp_path))
    (tmp_path / "0123456789abcdef0123").mkdir()          # another tree's build
    (tmp_path / "0123456789abcdef0123" / "BUILT").write_text("")
    launch = gb.gateway_launch("auto")
    assert launch == gb.GatewayLaunch([sys.executable, "-m", "harness.gateway"], {},
                                      "interpreted")
    assert launch.argv == [sys.executable, "-m", "harness.gateway"]
    with pytest.raises(StackError, match="run `harness build-gateway`"):
        gb.gateway_launch("compiled")


def test_a_current_build_is_named_to_the_process(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_GATEWAY_BUILD_DIR", str(tmp_path))
    here = tmp_path / gb.digest()
    here.mkdir()
    assert gb.gateway_launch("auto").build == "interpreted"   # no stamp: an unfinished build
    (here / "BUILT").write_text("")
    launch = gb.gateway_launch("auto")
    assert launch.build == "mypyc"
    assert launch.argv == ["env", f"HARNESS_GATEWAY_BUILD_PATH={here}", sys.executable, "-m",
                           "harness.gateway"]
    assert gb.gateway_launch("interpreted").build == "interpreted"


def test_installing_a_build_that_another_process_installed_keeps_theirs(tmp_path):
    dest, ours = tmp_path / "abc", tmp_path / ".tmp-abc-1"
    for d, who in ((dest, "theirs"), (ours, "ours")):
        d.mkdir()
        (d / "BUILT").write_text(who)
    gb.install(ours, dest)
    assert (dest / "BUILT").read_text() == "theirs" and not ours.exists()
    fresh = tmp_path / ".tmp-def-1"
    fresh.mkdir()
    (fresh / "BUILT").write_text("ours")
    gb.install(fresh, tmp_path / "def")
    assert (tmp_path / "def" / "BUILT").read_text() == "ours"


def test_the_build_serves_requests_and_says_it_is_compiled(tmp_path):
    """The real build (scripts/bootstrap makes it): one process, a Kong 404 and its log line."""
    if gb.current_build() is None:
        pytest.skip("no mypyc build for this source tree: `harness build-gateway` makes one "
                    "(scripts/bootstrap does)")
    launch = gb.gateway_launch("compiled")
    http, status = free_port(), free_port()
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*launch.argv, "--root", str(REPO), "--http-port", str(http),
                                 "--status-port", str(status), "--log-dir", str(tmp_path)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{status}/status", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        req = urllib.request.Request(f"http://127.0.0.1:{http}/", headers={"Host": "nobody.test"})
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(req, timeout=5)
        assert got.value.code == 404
        body = json.loads(got.value.read())
        assert body["message"] == "no Route matched with those values" and body["request_id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "(kong/3.9.1, mypyc build)" in log.read_text()


def test_up_says_which_build_its_gateways_run_and_reports_name_it():
    """HARNESS_GATEWAY_BUILD reaches `harness up`'s gateways, its output and the target."""
    from harness.stack.native import NativeStack, target_from_state

    # Not pytest's tmp_path: its parents are mode 700 and PostgreSQL runs as `postgres`.
    run_dir = Path(tempfile.mkdtemp(prefix="harness-build-test-"))
    env = {**os.environ, gb.ENV: "interpreted", "HARNESS_PROMETHEUS": "false"}
    cmd = [sys.executable, "-m", "harness"]
    try:
        up = subprocess.run([*cmd, "up", "--run-dir", str(run_dir)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr
        assert "reference gateway: interpreted (no mypyc build" in up.stdout
        assert target_from_state(run_dir).gateway_version == "3.9.1 (emulated)"
        assert "interpreted build)" in (run_dir / "logs" / "gateway-1.log").read_text()
    finally:
        NativeStack.attach(run_dir).stop()
        shutil.rmtree(run_dir, ignore_errors=True)
