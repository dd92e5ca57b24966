"""The harness's pytest plugin: targets, fixtures, and contract scenarios as pytest items.

Registered from the repository's conftest.py. It adds

* `--target native|compose|url` (env HARNESS_TARGET; default native) and, for
  url targets, `--proxy-url`, `--proxy-tls-url`, `--ca-file`,
  `--prometheus-url`, `--status-url`, `--token-key KID=PATH`;
* session fixtures `gateway` (the typed model), `target` (a
  harness.target.Target: native brings the native stack up for the session
  and down after; compose uses the compose launcher and skips without a
  Docker engine; url uses an existing deployment) and `contract_ctx`;
* the one parametrising hook: a test function taking `contract_case` gets one
  item per (scenario, case) of the registry (scenarios/contract/*.py), marked
  with the scenario's feature markers, and skipped with a reason naming the
  feature when the target does not support it;
* the conformance report (reports/<version>/<target>/conformance-*.json +
  JUnit XML), written when collection ends (marked incomplete) and again at
  the end of the run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from harness.contracts.batch import Batches
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import Timeouts
from harness.contracts.features import TARGET_FEATURES, Capability, Feature
from harness.contracts.scenario import Case, Scenario, load_scenarios
from harness.model import Gateway, load_gateway
from harness.target import Target

__all__ = ["REPORT_KEY", "pytest_addoption"]

TARGETS = ("native", "compose", "url")
REPORT_KEY = pytest.StashKey[Path]()
_RECORDER_KEY = pytest.StashKey["_Recorder"]()
_BATCHES = Batches()


# -- options -------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness", "gateway conformance (harness)")
    g.addoption("--target", choices=TARGETS, default=os.environ.get("HARNESS_TARGET", "native"),
                help="system under test: native (default; starts the native stack), compose "
                     "(docker compose stack), url (an existing deployment). Env HARNESS_TARGET")
    g.addoption("--proxy-url", default=os.environ.get("HARNESS_PROXY_URL"),
                help="url target: the gateway's plain HTTP proxy URL")
    g.addoption("--proxy-tls-url", default=os.environ.get("HARNESS_PROXY_TLS_URL"),
                help="url target: the gateway's HTTPS proxy URL (SNI set per request)")
    g.addoption("--ca-file", default=os.environ.get("HARNESS_CA_FILE"),
                help="url target: CA bundle that signed the gateway's certificates")
    g.addoption("--prometheus-url", default=os.environ.get("HARNESS_PROMETHEUS_URL"),
                help="url target: Prometheus scraping the gateway")
    g.addoption("--status-url", default=os.environ.get("HARNESS_STATUS_URL"),
                help="url target: the gateway status listener (/metrics)")
    g.addoption("--token-key", action="append", default=[], metavar="KID=PATH",
                help="url target: a signing key the gateway trusts (repeatable); "
                     "default: the dev keys of stack/secrets/")
    g.addoption("--replicas", type=int, default=int(os.environ.get("HARNESS_REPLICAS", "2")),
                help="native target: gateway replicas to start (default 2)")
    g.addoption("--prometheus", action=argparse.BooleanOptionalAction, default=True,
                help="native target: also start Prometheus when installed (default on)")
    g.addoption("--report-dir", default=os.environ.get("HARNESS_REPORT_DIR", "reports"),
                help="where conformance reports go (default reports/)")
    g.addoption("--no-report", action="store_true", help="do not write a conformance report")


def _root(config: pytest.Config) -> Path:
    return Path(str(config.rootpath))


# -- collection: scenarios become items ------------------------------------------

_SCENARIOS: dict[str, tuple[Gateway, list[tuple[Scenario, Case]]]] = {}


def contract_items(root: Path) -> tuple[Gateway, list[tuple[Scenario, Case]]]:
    """The model and every (scenario, case) of scenarios/contract/, cached per root."""
    key = str(root)
    if key not in _SCENARIOS:
        gw = load_gateway(root)
        # Reliability scenarios (security/, faults/) register into the same registry.
        for sub in ("contract", "security", "faults"):
            if (root / "scenarios" / sub).is_dir():
                registry = load_scenarios(root / "scenarios" / sub)
        pairs = [(sc, case) for sc in sorted(registry.values(), key=lambda s: s.short_name)
                 for case in sc.expand(gw)]
        _SCENARIOS[key] = (gw, pairs)
    return _SCENARIOS[key]


def _unsupported(scenario: Scenario, kind: str) -> list[Feature]:
    return sorted((f for f in scenario.features if f not in TARGET_FEATURES[kind]),
                  key=lambda f: f.value)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "contract_case" not in metafunc.fixturenames:
        return
    kind = metafunc.config.getoption("--target")
    _, pairs = contract_items(_root(metafunc.config))
    params = []
    for sc, case in pairs:
        marks: list[Any] = [getattr(pytest.mark, f.value) for f in sorted(
            sc.features, key=lambda f: f.value)]
        if sc.slow:
            marks.append(pytest.mark.slow)
        if metafunc.config.pluginmanager.hasplugin("timeout"):
            marks.append(pytest.mark.timeout(sc.timeout_s))
        missing = _unsupported(sc, kind)
        if missing:
            marks.append(pytest.mark.skip(
                reason=f"skipping {sc.short_name}: target {kind} does not support "
                       f"{', '.join(f.value for f in missing)}"))
        params.append(pytest.param((sc, case), id=f"{sc.short_name}/{case.name}", marks=marks))
    metafunc.parametrize("contract_case", params)


# -- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="session")
def gateway(request: pytest.FixtureRequest) -> Gateway:
    """The typed model of kong.yml + tiers + tenants of this repository."""
    return load_gateway(_root(request.config))


@pytest.fixture(scope="session")
def contract_timeouts() -> Timeouts:
    """Contract time limits; the shared knobs come from the harness settings."""
    try:
        from harness.settings import load_settings
    except ImportError:
        return Timeouts()
    st = load_settings().timeouts
    return Timeouts(request=st.http, max_time_to_consistency=max(st.convergence, 10.0),
                    poll_interval=st.convergence_interval)


def _native_target(config: pytest.Config, gw: Gateway,
                   factory: pytest.TempPathFactory) -> Iterator[Target]:
    if importlib.util.find_spec("harness.stack.native") is None:
        pytest.skip("native stack not in the tree yet (harness.stack.native is missing)")
    if importlib.util.find_spec("harness.gateway.__main__") is None:
        pytest.skip("reference gateway not in the tree yet (harness.gateway.__main__ is "
                    "missing), so the native stack has no gateway to test")
    from harness.settings import load_settings
    from harness.stack.native import NativeStack, target_from_state

    # A run directory of its own: a developer's `harness up` stack (or another
    # session's) is never touched. Not pytest's tmp_path: its parents are mode
    # 700 and PostgreSQL runs as the `postgres` user.
    run_dir = Path(tempfile.mkdtemp(prefix="harness-contracts-"))
    want_prom = config.getoption("--prometheus")
    settings = load_settings().with_overrides(
        run_dir=run_dir, replicas=config.getoption("--replicas"),
        prometheus=bool(want_prom) and shutil.which("prometheus") is not None,
        gateway_http_port=0, gateway_https_port=0, gateway_status_port=0)
    # The stack lives only as long as this pytest process: a watcher stops it
    # even when pytest is SIGKILLed (issue 8, harness hygiene).
    stack = NativeStack(settings, gateway=gw, reap_with_launcher=True)
    try:
        stack.start()
        target = target_from_state(run_dir)
        access_log = _access_log(run_dir, gw)
        if access_log is not None:
            target.extra["access_log"] = str(access_log)
        yield target
    finally:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def _access_log(run_dir: Path, gw: Gateway) -> Path | None:
    """Where the reference gateway writes file-log's path (placed under its log dir)."""
    for sp in gw.plugins:
        if sp.name == "file-log":
            return run_dir / "logs" / Path(str(getattr(sp.plugin.config, "path", ""))).name
    return None


def _compose_target(config: pytest.Config) -> Iterator[Target]:
    if shutil.which("docker") is None or not Path("/var/run/docker.sock").exists():
        pytest.skip("compose target: no Docker engine answers here "
                    "(docker CLI or /var/run/docker.sock missing)")
    if importlib.util.find_spec("harness.stack.compose") is None:
        pytest.skip("compose target: harness.stack.compose is not in the tree yet")
    from harness.stack import compose

    stack, target = compose.start_for_tests(root=_root(config))
    try:
        yield target
    finally:
        stack.stop()


def _url_target(config: pytest.Config) -> Target:
    from harness.tokens import SigningKey, TokenMinter, dev_minter

    proxy = config.getoption("--proxy-url")
    if not proxy:
        raise pytest.UsageError("--target url needs --proxy-url (or HARNESS_PROXY_URL)")
    keys = []
    for spec in config.getoption("--token-key"):
        kid, sep, path = spec.partition("=")
        if not sep or not kid or not Path(path).is_file():
            raise pytest.UsageError(f"--token-key: expected KID=PATH of a PEM private key, "
                                    f"got {spec!r}")
        keys.append(SigningKey.from_file(kid, Path(path)))
    ca = config.getoption("--ca-file")
    return Target(kind="url", proxy_url=proxy, minter=TokenMinter(keys) if keys else dev_minter(),
                  proxy_tls_url=config.getoption("--proxy-tls-url"),
                  ca_file=Path(ca) if ca else None,
                  status_url=config.getoption("--status-url"),
                  prometheus_url=config.getoption("--prometheus-url"))


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, gateway: Gateway,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The system under test for this session (started once, stopped at the end)."""
    kind = request.config.getoption("--target")
    if kind == "native":
        yield from _native_target(request.config, gateway, tmp_path_factory)
    elif kind == "compose":
        yield from _compose_target(request.config)
    else:
        yield _url_target(request.config)


@pytest.fixture(scope="session")
def contract_ctx(request: pytest.FixtureRequest, target: Target, gateway: Gateway,
                 contract_timeouts: Timeouts) -> Iterator[ScenarioContext]:
    from harness.contracts.client import GatewayClient

    ctx = ScenarioContext(target, gateway, GatewayClient(target, contract_timeouts),
                          contract_timeouts)
    rec = request.config.stash.get(_RECORDER_KEY, None)
    if rec is not None:
        rec.target = target
        rec.figures = ctx.figures
    try:
        yield ctx
    finally:
        ctx.close()


def run_contract(ctx: ScenarioContext, contract_case: tuple[Scenario, Case],
                 request: pytest.FixtureRequest | None = None) -> None:
    """The body of every contract item (called by scenarios/test_contracts.py).

    Cases of a concurrent scenario run together at its first item (see
    harness.contracts.batch); the case's own time goes to the report.
    """
    scenario, case = contract_case
    missing: list[Capability] = sorted(scenario.requires - ctx.capabilities,
                                       key=lambda c: c.value)
    if missing:
        pytest.skip(f"skipping {scenario.short_name}: target {ctx.target.kind} does not "
                    f"offer {', '.join(c.value for c in missing)}")
    outcome = _BATCHES.run(scenario, ctx, case)
    if request is not None:
        request.node.user_properties.append(("case_elapsed_s", round(outcome.elapsed_s, 4)))
    if outcome.error is not None:
        raise outcome.error


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Plan the concurrent batches from the items that will really run."""
    pairs = []
    for item in session.items:
        cs = getattr(item, "callspec", None)
        if cs is None or "contract_case" not in cs.params:
            continue
        if any(m.name in ("skip", "skipif") for m in item.iter_markers()):
            continue
        pairs.append(cs.params["contract_case"])
    _BATCHES.plan(pairs)


# -- the conformance report ------------------------------------------------------

class _Recorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = datetime.now(timezone.utc)
        self.t0 = time.monotonic()
        self.items: dict[str, tuple[Scenario, Case]] = {}
        self.results: dict[str, Any] = {}
        self.target: Target | None = None
        self.figures: dict[str, float] = {}
        self.paths: tuple[Path, Path] | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            cs = getattr(item, "callspec", None)
            if cs is not None and "contract_case" in cs.params:
                self.items[item.nodeid] = cs.params["contract_case"]
        if self.items:
            self.write(finished=False)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.items:
            return
        from harness.reports.conformance import CaseResult

        sc, case = self.items[report.nodeid]
        if report.when == "call" or (report.when == "setup" and not report.passed) or \
                (report.when == "teardown" and report.failed):
            outcome = ("passed" if report.passed else "skipped" if report.skipped else "failed")
            prev = self.results.get(report.nodeid)
            if prev is not None and prev.outcome == "failed":
                return
            xfail = getattr(report, "wasxfail", None)
            if report.skipped and xfail is not None:
                msg = f"expected failure: {xfail}"   # an open finding (xfail)
            elif report.skipped:
                lr = report.longrepr
                msg = lr[2] if isinstance(lr, tuple) else str(lr)
                msg = msg.removeprefix("Skipped: ")
            elif report.failed:
                crash = getattr(report.longrepr, "reprcrash", None)
                msg = str(crash.message if crash is not None else report.longreprtext)
            else:
                msg = ""
            own = dict(report.user_properties).get("case_elapsed_s")
            took = float(own) if isinstance(own, (int, float)) else report.duration
            self.results[report.nodeid] = CaseResult(
                sc.short_name, case.name, tuple(sorted(f.value for f in sc.features)),
                case.tiers or sc.tiers, outcome, round(took, 4), msg)  # type: ignore[arg-type]

    def write(self, finished: bool) -> Path | None:
        # --collect-only runs no case: a report of 0 results would only clutter reports/,
        # which SREs compare release after release (the summary line says so instead).
        if self.config.getoption("--no-report") or not self.items or \
                self.config.option.collectonly:
            return None
        import harness
        from harness.reports.conformance import (
            TargetIdentity,
            build_report,
            git_revision,
            report_paths,
            write_report,
        )

        root = _root(self.config)
        kind = self.config.getoption("--target")
        gw, suite = contract_items(root)
        gw_hash = gw.config_hash
        t = self.target
        ident = TargetIdentity(kind=kind, gateway_impl=t.gateway_impl if t else "unknown",
                               gateway_version=t.gateway_version if t else "unknown",
                               config_hash=gw_hash, git_revision=git_revision(root),
                               proxy_url=t.proxy_url if t else "")
        unsupported = {f.value for f in Feature if f not in TARGET_FEATURES[kind]}
        report = build_report(harness_version=harness.__version__, started_at=self.started,
                              target=ident, results=list(self.results.values()),
                              cases_total=len(self.items), figures=self.figures,
                              finished=finished, unsupported=unsupported,
                              suite_cases=len(suite))
        if self.paths is None:
            rd = Path(self.config.getoption("--report-dir"))
            self.paths = report_paths(rd if rd.is_absolute() else root / rd,
                                      harness.__version__, kind, self.started)
        path = write_report(report, *self.paths)
        self.config.stash[REPORT_KEY] = path
        return path

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        self.write(finished=not interrupted)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        path = self.config.stash.get(REPORT_KEY, None)
        if path is not None:
            terminalreporter.write_line(f"conformance report: {path}")
        elif self.items and self.config.option.collectonly:
            terminalreporter.write_line(f"conformance report: not written (--collect-only; "
                                        f"{len(self.items)} contract cases collected)")


def pytest_configure(config: pytest.Config) -> None:
    rec = _Recorder(config)
    config.stash[_RECORDER_KEY] = rec
    config.pluginmanager.register(rec, "harness-conformance-recorder")
