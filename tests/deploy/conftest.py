"""Fixtures of the deployment tests: a scratch copy of the repository's config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deploy_support import CONFIG_DIRS, REPO


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """kong/, kubernetes/, monitoring/, stack/ and docs/ copied to a temp root
    (symlinks kept, so stack/prometheus/rules still points at the copy)."""
    for d in CONFIG_DIRS:
        shutil.copytree(REPO / d, tmp_path / d, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path
