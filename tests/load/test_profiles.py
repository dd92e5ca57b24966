from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.profiles import USER_KINDS, load_profiles

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_catalogue_has_every_profile_the_issue_names(gateway):
    cat = load_profiles(ROOT / "scenarios/load/profiles.yaml")
    assert {"smoke", "ramp", "spike", "soak", "breaker", "noisy-neighbour"} <= set(cat.profiles)
    routes = {r.name for r in gateway.routes}
    assert {m.route for m in cat.mix} <= routes
    assert cat.profile("soak").duration <= 300  # bounded


def test_noisy_neighbour_floods_only_in_its_middle_stage():
    cat = load_profiles(ROOT / "scenarios/load/profiles.yaml")
    counts = [s.counts() or {} for s in cat.profile("noisy-neighbour").stages]
    assert [c.get("flood", 0) > 0 for c in counts] == [False, True, False]
    assert all(c.get("enterprise", 0) > 0 for c in counts)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "profiles.yaml"
    p.write_text('_format_version: "1"\nmix:\n  - {name: a, route: users}\nflood_mix: [a]\n'
                 + body)
    return p


def test_an_unknown_key_names_file_field_and_known_keys(tmp_path):
    p = _write(tmp_path, "profiles:\n  x:\n    description: d\n    stages:\n"
                         "      - {duration: 1, users: 1, spwan_rate: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_profiles(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: profiles.x.stages[0].spwan_rate: expected one of the known keys")
    assert "spawn_rate" in msg


def test_a_user_kind_outside_the_tiers_is_refused(tmp_path):
    p = _write(tmp_path, "profiles:\n  x:\n    description: d\n    stages:\n"
                         "      - {duration: 1, users: {gold: 2}}\n")
    with pytest.raises(ConfigError, match=r"expected user kinds among .*got 'gold'"):
        load_profiles(p)
    assert "gold" not in USER_KINDS


def test_a_fault_event_after_the_end_of_the_profile_is_refused(tmp_path):
    p = _write(tmp_path, "profiles:\n  x:\n    description: d\n    stages:\n"
                         "      - {duration: 5, users: 1}\n"
                         "    events:\n      - {at: 9, instance: user-1, faults: {status: 503}}\n")
    with pytest.raises(ConfigError, match="event times within the profile's 5 s, got 9"):
        load_profiles(p)


def test_an_unknown_profile_name_lists_the_known_ones():
    cat = load_profiles(ROOT / "scenarios/load/profiles.yaml")
    with pytest.raises(ConfigError, match=r"profiles.nope: expected one of the profiles \["):
        cat.profile("nope")
