"""The fault gateway's config: kong.yml with one service's read timeout shortened, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import StackError
from harness.model import load_gateway
from harness.reliability.fault_gateway import shortened_root

ROOT = Path(__file__).resolve().parents[2]


def test_shortened_root_changes_only_the_named_services_read_timeout(tmp_path):
    original = load_gateway(ROOT)
    derived = shortened_root(ROOT, tmp_path, "user-service", 1000)
    before = {s.name: s for s in original.kong.services}
    after = {s.name: s for s in derived.kong.services}
    assert after["user-service"].read_timeout == 1000
    assert after["user-service"].model_copy(update={"read_timeout": 5000}) == \
        before["user-service"].model_copy(update={"read_timeout": 5000})
    assert {n: s for n, s in after.items() if n != "user-service"} == \
        {n: s for n, s in before.items() if n != "user-service"}
    assert derived.kong.upstreams == original.kong.upstreams


def test_shortened_root_names_an_unknown_service(tmp_path):
    with pytest.raises(StackError, match="no service 'nope-service'"):
        shortened_root(ROOT, tmp_path, "nope-service", 1000)
