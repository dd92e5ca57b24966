"""External programs of the native stack, found on PATH (or PostgreSQL's versioned
bin directory), or a ToolMissing naming the Debian package."""

from __future__ import annotations

import glob
import os
import pwd
import shutil

from harness.errors import ToolMissing

__all__ = ["postgres_user", "require", "require_pg"]


def require(program: str, package: str, purpose: str = "") -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(program, package, purpose)
    return path


def require_pg(program: str) -> str:
    """initdb/postgres: Debian keeps them in /usr/lib/postgresql/<v>/bin, off PATH."""
    path = shutil.which(program)
    if path is not None:
        return path
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), reverse=True):
        if os.access(candidate, os.X_OK):
            return candidate
    raise ToolMissing(program, "postgresql", "the Tenant Service's PostgreSQL")


def postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: use the Debian `postgres` account then."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ToolMissing("postgres (system user)", "postgresql",
                          "running PostgreSQL as non-root") from None
    return "postgres"
