"""The conformance report: a typed, versioned document (JSON + JUnit XML beside it).

Path: reports/<harness-version>/<target>/conformance-<UTC timestamp>.json and
.xml. A run writes the report once when collection ends (marked
`incomplete`) and again when it finishes, so a run cut short leaves a report
that says so. Schema in reports/README.md; compare reports with
`ConformanceReport.from_json`, never on text.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from harness.contracts.features import PROFILES, Feature, profile_of
from harness.reports.io import atomic_write_bytes, atomic_write_json

__all__ = [
    "CaseResult",
    "ConformanceReport",
    "SCHEMA_VERSION",
    "TargetIdentity",
    "build_report",
    "git_revision",
    "load_report",
    "register_section",
    "report_paths",
    "write_report",
]

SCHEMA_VERSION = "conformance/v1"
Outcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class TargetIdentity:
    kind: str                   # native | compose | url
    gateway_impl: str
    gateway_version: str
    config_hash: str
    git_revision: str
    proxy_url: str = ""


@dataclass(frozen=True)
class CaseResult:
    scenario: str
    case: str
    features: tuple[str, ...]
    tiers: tuple[str, ...]
    outcome: Outcome
    duration_s: float
    message: str = ""           # failure mismatch or skip reason


@dataclass
class Statistics:
    passed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class Part:
    """core or extended part of a profile (as Gateway API reports)."""

    result: Literal["success", "partial", "failure", "empty"] = "empty"
    statistics: Statistics = field(default_factory=Statistics)
    failed_tests: list[str] = field(default_factory=list)
    skipped_tests: list[str] = field(default_factory=list)
    supported_features: list[str] = field(default_factory=list)
    unsupported_features: list[str] = field(default_factory=list)


@dataclass
class ProfileReport:
    name: str
    summary: str
    core: Part
    extended: Part


@dataclass
class ConformanceReport:
    schema: str
    harness_version: str
    started_at: str
    finished_at: str | None
    incomplete: bool
    target: TargetIdentity
    duration_s: float
    cases_total: int
    cases_run: int
    profiles: list[ProfileReport]
    results: list[CaseResult]
    figures: dict[str, float]
    summary: str
    sections: dict[str, Any] = field(default_factory=dict)   # see register_section
    # every contract case of the suite, selected or not (0: a report from before this
    # field): cases_total below it means a -k/-m subset was run
    suite_cases: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ConformanceReport:
        if doc.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"report schema: expected {SCHEMA_VERSION!r}, "
                             f"got {doc.get('schema')!r}")

        def part(d: dict[str, Any]) -> Part:
            return Part(**{**d, "statistics": Statistics(**d["statistics"])})

        return cls(**{
            **doc,
            "target": TargetIdentity(**doc["target"]),
            "profiles": [ProfileReport(p["name"], p["summary"], part(p["core"]),
                                       part(p["extended"])) for p in doc["profiles"]],
            "results": [CaseResult(**{**r, "features": tuple(r["features"]),
                                      "tiers": tuple(r["tiers"])}) for r in doc["results"]],
        })


# Extension point: another suite (e.g. harness.reliability.figures) adds a named
# section computed from the case results and figures; None leaves it out.
SectionBuilder = Callable[[list[CaseResult], dict[str, float]], "dict[str, Any] | None"]
_SECTIONS: dict[str, SectionBuilder] = {}


def register_section(name: str, builder: SectionBuilder) -> None:
    """Have every report built from now on carry `sections[name] = builder(results, figures)`."""
    _SECTIONS[name] = builder


def git_revision(root: Path) -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev or "unknown") + ("-dirty" if dirty.strip() else "")


def _part(results: list[CaseResult], features: frozenset[Feature],
          unsupported: set[str]) -> Part:
    mine = [r for r in results if set(r.features) & {f.value for f in features}]
    p = Part(supported_features=sorted(f.value for f in features if f.value not in unsupported),
             unsupported_features=sorted(f.value for f in features if f.value in unsupported))
    for r in mine:
        name = f"{r.scenario}/{r.case}"
        if r.outcome == "passed":
            p.statistics.passed += 1
        elif r.outcome == "failed":
            p.statistics.failed += 1
            p.failed_tests.append(name)
        else:
            p.statistics.skipped += 1
            p.skipped_tests.append(name)
    s = p.statistics
    p.result = ("failure" if s.failed else "partial" if s.skipped else
                "success" if s.passed else "empty")
    return p


def build_report(*, harness_version: str, started_at: datetime, target: TargetIdentity,
                 results: list[CaseResult], cases_total: int, figures: dict[str, float],
                 finished: bool, unsupported: set[str] | None = None,
                 suite_cases: int = 0) -> ConformanceReport:
    unsupported = unsupported or set()
    profiles = []
    for prof in PROFILES:
        core = _part(results, prof.core, unsupported)
        ext = _part(results, prof.extended, unsupported)
        total = core.statistics.passed + ext.statistics.passed
        profiles.append(ProfileReport(
            prof.name,
            f"core {core.result}, extended {ext.result}: {total} passed, "
            f"{core.statistics.failed + ext.statistics.failed} failed, "
            f"{core.statistics.skipped + ext.statistics.skipped} skipped",
            core, ext))
    now = datetime.now(timezone.utc)
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "skipped")}
    incomplete = not finished or len(results) < cases_total
    summary = (f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} "
               f"skipped of {cases_total} cases" + (" (INCOMPLETE run)" if incomplete else ""))
    return ConformanceReport(
        schema=SCHEMA_VERSION, harness_version=harness_version,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=now.isoformat(timespec="seconds") if finished else None,
        incomplete=incomplete, target=target,
        duration_s=round((now - started_at).total_seconds(), 3),
        cases_total=cases_total, cases_run=len(results), profiles=profiles,
        results=results, figures=dict(sorted(figures.items())), summary=summary,
        sections={name: sec for name, b in sorted(_SECTIONS.items())
                  if (sec := b(results, figures)) is not None},
        suite_cases=suite_cases)


def report_paths(report_dir: Path, harness_version: str, target_kind: str,
                 started_at: datetime) -> tuple[Path, Path]:
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    base = Path(report_dir) / harness_version / target_kind / f"conformance-{stamp}"
    return base.with_suffix(".json"), base.with_suffix(".xml")


def _junit(report: ConformanceReport) -> bytes:
    counts = {o: sum(r.outcome == o for r in report.results)
              for o in ("passed", "failed", "skipped")}
    suite = ET.Element("testsuite", {
        "name": f"conformance-{report.target.kind}", "tests": str(len(report.results)),
        "failures": str(counts["failed"]), "errors": "0", "skipped": str(counts["skipped"]),
        "time": f"{report.duration_s:.3f}", "timestamp": report.started_at})
    props = ET.SubElement(suite, "properties")
    for k, v in asdict(report.target).items():
        ET.SubElement(props, "property", {"name": f"target.{k}", "value": str(v)})
    ET.SubElement(props, "property", {"name": "incomplete", "value": str(report.incomplete)})
    for r in report.results:
        tc = ET.SubElement(suite, "testcase", {"classname": f"contract.{r.scenario}",
                                                "name": r.case, "time": f"{r.duration_s:.3f}"})
        if r.outcome == "failed":
            ET.SubElement(tc, "failure", {"message": r.message.splitlines()[0]
                                          if r.message else "failed"}).text = r.message
        elif r.outcome == "skipped":
            ET.SubElement(tc, "skipped", {"message": r.message})
    out: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return out


def write_report(report: ConformanceReport, json_path: Path, xml_path: Path) -> Path:
    """Write both files atomically; return the JSON path."""
    atomic_write_json(json_path, report.to_json())
    atomic_write_bytes(xml_path, _junit(report))
    return json_path


def load_report(path: Path) -> ConformanceReport:
    return ConformanceReport.from_json(json.loads(Path(path).read_text()))

