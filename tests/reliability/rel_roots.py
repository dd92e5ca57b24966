"""A copy of the repo's gateway config with one deliberate edit, for tests that run
the native stack against a weakened or differently configured gateway."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def edited_root(tmp: Path, name: str, rel: Path, old: str, new: str) -> Path:
    """tmp/name with kong/ copied (stack/ linked) and `old` replaced by `new` in rel."""
    root = tmp / name
    root.mkdir()
    shutil.copytree(ROOT / "kong", root / "kong")
    (root / "stack").symlink_to(ROOT / "stack")
    path = root / rel
    text = path.read_text()
    assert old in text, f"{rel} changed: update the test's edit ({old.strip()!r} not found)"
    path.write_text(text.replace(old, new))
    return root
