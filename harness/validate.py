"""`harness validate`: static checks that need no running stack.

Each check is a small function registered in CHECKS; later features add
theirs here. A check returns a list of problems (empty = pass) or raises
ToolMissing when the external program it needs is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError, HarnessError, ToolMissing

__all__ = ["CHECKS", "CheckResult", "check", "require_tool", "run_checks", "run_tool"]


@dataclass
class CheckResult:
    name: str
    problems: list[str] = field(default_factory=list)
    missing: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.missing is None


CheckFn = Callable[[Path], list[str]]
CHECKS: list[tuple[str, CheckFn]] = []


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a validation check under a short name."""

    def deco(fn: CheckFn) -> CheckFn:
        CHECKS.append((name, fn))
        return fn

    return deco


def require_tool(program: str, package: str, purpose: str = "") -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(program, package, purpose)
    return path


def run_tool(argv: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


@check("model")
def _model(root: Path) -> list[str]:
    from harness.model import load_gateway

    try:
        load_gateway(root)
    except ConfigError as exc:
        return [str(exc)]
    return []


@check("deck")
def _deck(root: Path) -> list[str]:
    deck = require_tool("deck", "deck", "validating kong.yml")
    rc, out = run_tool([deck, "validate", "-s", "kong/declarative-config/kong.yml"], root)
    return [] if rc == 0 else [f"kong/declarative-config/kong.yml: deck validate failed:\n{out}"]


def _load_extra_checks() -> None:
    # Modules that register more checks when imported (kept lazy: each may pull
    # optional dependencies).
    import importlib

    for mod in ("harness.lua.checks", "harness.deploy.checks", "harness.openapi",
                "harness.contracts.policy"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod and not (exc.name and mod.startswith(exc.name)):
                raise


def run_checks(root: Path, only: list[str] | None = None) -> list[CheckResult]:
    _load_extra_checks()
    results = []
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        res = CheckResult(name)
        try:
            res.problems = fn(root)
        except ToolMissing as exc:
            res.missing = str(exc)
        except HarnessError as exc:
            res.problems = [str(exc)]
        results.append(res)
    return results
