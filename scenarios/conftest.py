"""Scenario-scoped resources of the contract items (scenarios/test_contracts.py).

A scenario's cases are consecutive pytest items; what they share (the fault gateways
of harness.reliability.fault_gateway.SHARED, for the scenario SHARED.owner, possibly
started during the scenario before it) lives until the next item belongs to another
scenario, or the run ends, and no longer: it would otherwise probe the stubs under
every later scenario."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from harness.reliability.fault_gateway import SHARED


def _scenario(item: pytest.Item | None) -> str | None:
    cs = getattr(item, "callspec", None)
    pair = cs.params.get("contract_case") if cs is not None else None
    return str(pair[0].short_name) if pair is not None else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    # Closed before the item's own teardown (at the end, the stack's), which runs even
    # when an at_end check fails; that failure is then the item's teardown error.
    failed: Exception | None = None
    if nextitem is None or _scenario(nextitem) != SHARED.owner:
        try:
            SHARED.close()
        except Exception as exc:          # noqa: BLE001 - raised after the teardown
            failed = exc
    result = yield
    if failed is not None:
        raise failed
    return result
