"""`harness validate` checks for the custom Lua plugins: luacheck and busted.

Imported lazily by harness.validate. Each plugin is a directory under
kong/custom-plugins/ holding handler.lua; its busted specs live in its own
spec/ directory and run with the plugin directory as working directory (so
`require "spec.helpers.x"` resolves), as in Kong's plugin template.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.validate import check, require_tool, run_tool

__all__ = ["PLUGINS_DIR", "plugin_dirs"]

PLUGINS_DIR = Path("kong/custom-plugins")

# Debian 12 packages: program -> package.
_LUACHECK = ("luacheck", "lua-check")
_BUSTED = ("busted", "lua-busted")

_BUSTED_TIMEOUT_S = 120
_TAP_FAIL = re.compile(r"^not ok \d+ - (.*)$")


def plugin_dirs(root: Path) -> list[Path]:
    """Plugin directories (those with a handler.lua), sorted by name."""
    base = root / PLUGINS_DIR
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / "handler.lua").is_file())


@check("luacheck")
def _luacheck(root: Path) -> list[str]:
    if not plugin_dirs(root):
        return []
    exe = require_tool(*_LUACHECK, purpose="linting the custom Lua plugins")
    # .luacheckrc at the root declares Kong's globals and the spec std.
    rc, out = run_tool([exe, "--no-color", "--formatter", "plain", "--codes",
                        str(PLUGINS_DIR)], root)
    if rc == 0:
        return []
    lines = [line for line in out.splitlines() if line.strip()]
    return [f"luacheck: {line}" for line in lines] or [f"luacheck exited {rc} without output"]


def _tap_failures(out: str) -> list[str]:
    """Each failed spec's name plus the `#` diagnostic lines TAP prints under it."""
    failures: list[str] = []
    in_failure = False
    for line in out.splitlines():
        match = _TAP_FAIL.match(line)
        if match:
            failures.append(match.group(1))
            in_failure = True
        elif in_failure and line.startswith("#"):
            failures[-1] += "\n    " + line.lstrip("# ").rstrip()
        else:
            in_failure = False
    return failures


@check("busted")
def _busted(root: Path) -> list[str]:
    dirs = plugin_dirs(root)
    if not dirs:
        return []
    exe = require_tool(*_BUSTED, purpose="running the Lua plugin specs")
    problems: list[str] = []
    for plugin in dirs:
        rel = plugin.relative_to(root)
        if not (plugin / "spec").is_dir():
            problems.append(f"{rel}: no spec/ directory (busted specs are required)")
            continue
        rc, out = run_tool([exe, "--output=TAP", "spec"], plugin, timeout=_BUSTED_TIMEOUT_S)
        if rc == 0:
            continue
        failures = _tap_failures(out)
        if failures:
            problems.extend(f"{rel}: busted spec failed: {name}" for name in failures)
        else:
            tail = "\n".join(out.splitlines()[-15:])
            problems.append(f"{rel}: busted exited {rc}:\n{tail}")
    return problems
