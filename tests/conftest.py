"""Set-up shared by the unit tests."""

from __future__ import annotations

import pytest

from harness.gateway import build


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # scripts/test runs tests/gateway once more with the mypyc build imported in-process.
    # A test that replaces a method of a gateway class to inject a fault cannot work there:
    # compiled callers call the compiled method directly. The interpreted run covers it.
    if build() != "mypyc":
        return
    skip = pytest.mark.skip(reason="patches a method of a gateway class, which the code "
                                   "compiled by mypyc does not see (the interpreted run "
                                   "covers this test)")
    for item in items:
        if item.get_closest_marker("patches_gateway"):
            item.add_marker(skip)
