import pytest
from deploy_support import REPO

from harness.cli import main
from harness.deploy.deck import build, parse_admin_url
from harness.errors import ConfigError


def test_diff_uses_deck_1_4_flags_and_a_non_zero_exit_on_differences():
    cmd = build("diff", "http://127.0.0.1:8001/")
    assert cmd.argv() == ["deck", "diff", "-s", "kong/declarative-config/kong.yml",
                          "--kong-addr", "http://127.0.0.1:8001", "--non-zero-exit-code"]


def test_sync_passes_admin_headers_and_tags():
    cmd = build("sync", "https://kong-admin:8444", headers=["Kong-Admin-Token:s3cret"],
                select_tags=["backend"])
    assert cmd.argv("/usr/bin/deck") == [
        "/usr/bin/deck", "sync", "-s", "kong/declarative-config/kong.yml", "--kong-addr",
        "https://kong-admin:8444", "--headers", "Kong-Admin-Token:s3cret",
        "--select-tag", "backend"]


@pytest.mark.parametrize("url", ["ftp://kong:8001", "kong:8001", "http://", "http://k?x=1"])
def test_admin_urls_must_be_http_urls_and_the_error_echoes_the_value(url):
    with pytest.raises(ConfigError) as err:
        parse_admin_url(url)
    assert str(err.value).endswith(f"got {url!r}")


def test_a_header_without_a_colon_is_refused():
    with pytest.raises(ConfigError, match="expected Name:value, got 'Kong-Admin-Token'"):
        build("diff", "http://k:8001", headers=["Kong-Admin-Token"]).argv()


def test_kong_command_defaults_to_diff(capsys):
    assert main(["kong", "--admin-url", "http://127.0.0.1:8001", "--root", str(REPO),
                 "--print-argv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "deck diff -s kong/declarative-config/kong.yml --kong-addr http://127.0.0.1:8001 "
        "--non-zero-exit-code"]


def test_sync_without_apply_prints_only_the_diff(capsys):
    assert main(["kong", "sync", "--admin-url", "http://127.0.0.1:8001", "--root", str(REPO),
                 "--print-argv"]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["diff"]


def test_sync_with_apply_runs_the_diff_first_then_the_sync(capsys):
    assert main(["kong", "sync", "--apply", "--admin-url", "http://127.0.0.1:8001", "--root",
                 str(REPO), "--print-argv"]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["diff", "sync"]
