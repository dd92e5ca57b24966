"""Helpers of the deployment tests (imported by name: tests have no packages)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIRS = ("kong", "kubernetes", "monitoring", "stack", "docs")


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact occurrence (the test fails loudly if the text moved)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected one {old!r}"
    path.write_text(text.replace(old, new))
