"""Hostile inputs (hostile-inputs.md §1 JWT attacks, §2 tenant isolation): one item per case.

The cases are data: hostile-inputs.yaml beside this file (one entry per
attack). Every case checks its status and body, that no stub saw it (unless
the row says otherwise), never a 5xx and never a hang. Cases with a
`finding:` line are expected failures that fail once the gateway fixes them.
Items are named `hostile-inputs/<case id>`, so a weakened gateway fails the
matching cases by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts import INDEPENDENT
from harness.contracts.context import ScenarioContext
from harness.contracts.features import Capability, Feature
from harness.contracts.scenario import Case, Scenario, register
from harness.errors import ContractMismatch
from harness.reliability.corpus import load_corpus
from harness.reliability.session import hostile_env, record_outcome

CORPUS = Path(__file__).with_name("hostile-inputs.yaml")


def _cases(gateway: object) -> list[Case]:
    return [Case(name=c.id, params={"case": c}) for c in load_corpus(CORPUS)]


def _run(ctx: ScenarioContext, case: Case) -> None:
    hc = case.params["case"]
    if hc.requires == "tls" and Capability.TLS_PROXY not in ctx.capabilities:
        pytest.skip(f"skipping {hc.id}: target {ctx.target.kind} does not offer tls-proxy")
    if hc.requires == "h2":
        pytest.skip(f"skipping {hc.id}: the gateway's listeners speak HTTP/1.1 only (no h2)")
    env = hostile_env(ctx)
    from harness.reliability.hostile import run_hostile_case

    outcome = run_hostile_case(hc, env)
    record_outcome(ctx, env, outcome)
    if hc.finding:
        if outcome.mismatch is not None:
            pytest.xfail(f"open finding: {hc.finding}")
        raise ContractMismatch(f"{hc.id}: the open finding {hc.finding!r} no longer "
                               "reproduces; remove its `finding:` line from the corpus")
    if outcome.mismatch is not None:
        raise ContractMismatch(f"{hc.id} ({hc.row}):\n{outcome.mismatch}")


register(Scenario(
    short_name="hostile-inputs",
    description="JWT attacks and tenant-isolation attacks of hostile-inputs.md §1-§2, "
                "sent byte-exact; the backend never sees them",
    features=frozenset({Feature.SECURITY}),
    cases=_cases,
    run=_run,
    concurrency=INDEPENDENT,
))
