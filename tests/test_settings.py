"""Settings precedence: defaults < file < environment < CLI flags; errors name the source."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.settings import Settings, add_settings_arguments, load_settings


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_settings_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_apply_without_file_environment_or_flags(tmp_path):
    s = load_settings(_args("--settings", str(_empty(tmp_path))), environ={})
    assert (s.replicas, s.prometheus, s.redis_port) == (1, False, 0)
    assert s.timeouts.stop_grace == 2.0


def _empty(tmp_path: Path) -> Path:
    f = tmp_path / "h.toml"
    f.write_text("")
    return f


def test_file_beats_defaults_environment_beats_file_and_flags_beat_environment(tmp_path):
    f = tmp_path / "harness.toml"
    f.write_text('[harness]\nreplicas = 2\nprometheus = true\nredis_port = 7000\n'
                 '[harness.timeouts]\nhttp = 9\n')
    env = {"HARNESS_REPLICAS": "3", "HARNESS_TIMEOUT_HTTP": "4"}
    s = load_settings(_args("--settings", str(f)), environ=env)
    assert (s.replicas, s.prometheus, s.redis_port, s.timeouts.http) == (3, True, 7000, 4.0)
    s = load_settings(_args("--settings", str(f), "--replicas", "5", "--no-prometheus"),
                      environ=env)
    assert (s.replicas, s.prometheus) == (5, False)


def test_relative_run_dir_is_taken_from_the_repo_root(tmp_path):
    s = load_settings(_args("--settings", str(_empty(tmp_path)), "--run-dir", "x/run"),
                      environ={})
    assert s.run_dir == Settings().root / "x" / "run"


def test_bad_environment_value_names_variable_expected_and_got(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(_args("--settings", str(_empty(tmp_path))),
                      environ={"HARNESS_REPLICAS": "two"})
    assert str(info.value) == "environment: HARNESS_REPLICAS: expected an integer >= 0, got 'two'"


def test_unknown_file_key_names_file_and_key(tmp_path):
    f = tmp_path / "harness.toml"
    f.write_text("replcas = 2\n")
    with pytest.raises(ConfigError, match=r"harness.toml: replcas: expected one of \["):
        load_settings(_args("--settings", str(f)), environ={})


def test_zero_replicas_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="replicas: expected an integer >= 1, got 0"):
        load_settings(_args("--settings", str(_empty(tmp_path)), "--replicas", "0"), environ={})
