"""Every registered contract scenario case is one item of this test (see harness.pytest_plugin)."""

from harness.pytest_plugin import run_contract


def test_contract(contract_case, contract_ctx, request):
    run_contract(contract_ctx, contract_case, request)
