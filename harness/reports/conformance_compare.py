"""`harness report compare OLD NEW` for two conformance reports: case by case, what changed.

A release's SRE question is "what does this gateway config do differently from the last
one": cases that passed and now fail are regressions (exit code 1), as is a new report
cut short (`incomplete`). Also listed, not regressions: cases fixed, newly skipped (a skip
can hide a failure, so it is shown with its reason), added and removed cases, and cases
that got much slower. The identities (config hash, gateway, harness version, git
revision) are printed first, so a reader knows what was compared. Works on the typed
reports (`ConformanceReport.from_json`), never on their text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.reports.conformance import SCHEMA_VERSION, CaseResult, ConformanceReport

__all__ = ["CaseChange", "ConformanceDiff", "compare_conformance", "is_conformance_report",
           "load_conformance", "render_conformance_diff"]

# A case is "slower" when it took both this many times and this many seconds more.
SLOWER_FACTOR = 2.0
SLOWER_ABS_S = 1.0


@dataclass(frozen=True)
class CaseChange:
    case: str                      # "scenario/case"
    kind: str                      # regression | fixed | now-skipped | unskipped | added |
    #                                removed | slower
    old: str | None                # outcome (or duration for "slower")
    new: str | None
    message: str = ""              # the new failure / skip reason

    @property
    def regression(self) -> bool:
        return self.kind == "regression"


@dataclass
class ConformanceDiff:
    identity: list[tuple[str, str, str]] = field(default_factory=list)   # field, old, new
    changes: list[CaseChange] = field(default_factory=list)
    unchanged: int = 0
    new_incomplete: bool = False
    old_incomplete: bool = False

    @property
    def regressions(self) -> list[CaseChange]:
        return [c for c in self.changes if c.regression]

    @property
    def failed(self) -> bool:
        return bool(self.regressions) or self.new_incomplete


def is_conformance_report(path: Path) -> bool:
    """Whether `path` holds a conformance report (else it is taken for a load report)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("conformance/")


def load_conformance(path: Path) -> ConformanceReport:
    """The typed report; a bad file is a ConfigError naming the file and the field."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, "", "a readable conformance report", exc.strerror or str(exc),
                          raw_got=True) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(where, f"line {exc.lineno}", "JSON", exc.msg, raw_got=True) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        raise ConfigError(where, "schema", repr(SCHEMA_VERSION),
                          doc.get("schema") if isinstance(doc, dict) else type(doc).__name__)
    try:
        return ConformanceReport.from_json(doc)
    except KeyError as exc:
        raise ConfigError(where, str(exc.args[0]), "a field of conformance/v1", "missing",
                          raw_got=True) from None
    except TypeError as exc:   # an unknown or missing dataclass field
        raise ConfigError(where, "", "the fields of conformance/v1", str(exc),
                          raw_got=True) from None


def _key(r: CaseResult) -> str:
    return f"{r.scenario}/{r.case}"


def compare_conformance(old: ConformanceReport, new: ConformanceReport) -> ConformanceDiff:
    diff = ConformanceDiff(old_incomplete=old.incomplete, new_incomplete=new.incomplete)
    for name, a, b in (
        ("target", old.target.kind, new.target.kind),
        ("gateway", f"{old.target.gateway_impl} {old.target.gateway_version}",
         f"{new.target.gateway_impl} {new.target.gateway_version}"),
        ("config hash", old.target.config_hash, new.target.config_hash),
        ("git revision", old.target.git_revision, new.target.git_revision),
        ("harness", old.harness_version, new.harness_version),
        ("started", old.started_at, new.started_at),
    ):
        diff.identity.append((name, a, b))
    before = {_key(r): r for r in old.results}
    after = {_key(r): r for r in new.results}
    for key in sorted(before.keys() | after.keys()):
        o, n = before.get(key), after.get(key)
        if o is None and n is not None:
            diff.changes.append(CaseChange(key, "added", None, n.outcome, n.message))
        elif n is None and o is not None:
            # An incomplete new run did not reach it: not a removal.
            if not new.incomplete:
                diff.changes.append(CaseChange(key, "removed", o.outcome, None))
        elif o is not None and n is not None:
            kind = _transition(o.outcome, n.outcome)
            if kind is None and n.duration_s > max(o.duration_s * SLOWER_FACTOR,
                                                   o.duration_s + SLOWER_ABS_S):
                diff.changes.append(CaseChange(key, "slower", f"{o.duration_s:.2f} s",
                                               f"{n.duration_s:.2f} s"))
            elif kind is None:
                diff.unchanged += 1
            else:
                diff.changes.append(CaseChange(key, kind, o.outcome, n.outcome, n.message))
    return diff


def _transition(old: str, new: str) -> str | None:
    if old == new:
        return None
    if new == "failed":
        return "regression"        # from passed, or from skipped: it runs now, and fails
    if new == "passed":
        return "fixed" if old == "failed" else "unskipped"
    return "now-skipped"


_ORDER = ("regression", "now-skipped", "removed", "fixed", "unskipped", "added", "slower")
_TITLES = {"regression": "REGRESSIONS (passed or skipped before, failed now)",
           "now-skipped": "now skipped (a skip can hide a failure)",
           "removed": "removed cases", "fixed": "fixed", "unskipped": "run again (were skipped)",
           "added": "added cases",
           "slower": f"slower (> {SLOWER_FACTOR:g}x and > +{SLOWER_ABS_S:g} s)"}


def render_conformance_diff(diff: ConformanceDiff, old_path: Path, new_path: Path) -> str:
    lines = [f"old: {old_path}", f"new: {new_path}"]
    width = max(len(n) for n, _, _ in diff.identity)
    for name, a, b in diff.identity:
        mark = "   <- changed" if name != "started" else ""
        lines.append(f"  {name:<{width}}  {a}  ->  {b}{mark}" if a != b
                     else f"  {name:<{width}}  {a}")
    if diff.old_incomplete:
        lines.append("note: the OLD report is incomplete (its run was cut short)")
    if diff.new_incomplete:
        lines.append("REGRESSION: the NEW report is incomplete (its run was cut short)")
    for kind in _ORDER:
        rows = [c for c in diff.changes if c.kind == kind]
        if not rows:
            continue
        lines.append(f"{_TITLES[kind]}: {len(rows)}")
        for c in rows:
            why = f"  ({c.message})" if c.message and kind != "slower" else ""
            lines.append(f"  {c.case}: {c.old or '-'} -> {c.new or '-'}{why}")
    lines.append(f"unchanged: {diff.unchanged}; regressions: {len(diff.regressions)}"
                 f"{' + incomplete run' if diff.new_incomplete else ''}")
    return "\n".join(lines) + "\n"
