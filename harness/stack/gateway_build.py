"""The reference gateway compiled by mypyc (`harness build-gateway`), and how launchers run it.

Most of the gateway's CPU time is CPython interpreting the gateway's own code. mypyc (part of
mypy) compiles the `harness.gateway` modules, unchanged, to C extensions: about 30 % fewer
instructions per request and 1.3-1.4x the throughput (docs/reference-gateway-performance.md).

A build is `harness/gateway` with the compiled modules beside their sources, in
`.harness/gateway-build/<digest>/` next to the package. <digest> hashes every file of the
package and the Python and mypy versions, so an edit anywhere gives a new digest: a launcher
runs a build only when it was made from exactly the files it would otherwise interpret, never
a stale one. A process runs the build when HARNESS_GATEWAY_BUILD_PATH names it
(harness/__init__.py puts it first on the package's path); the gateway processes that the
launchers start get it when the build is current. Tests that import `harness.gateway`
in-process run the interpreted code; scripts/test runs the gateway's tests once more against
the build.

HARNESS_GATEWAY_BUILD chooses: `auto` (default: the build when current, else interpreted),
`interpreted`, or `compiled` (a launcher fails when there is no current build).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]

import harness
from harness.errors import ConfigError, StackError
from harness.gateway import KONG_VERSION

__all__ = ["GatewayLaunch", "build", "build_root", "compiled_modules", "current_build",
           "digest", "gateway_launch", "gateway_version"]

ENV = "HARNESS_GATEWAY_BUILD"
PATH_ENV = "HARNESS_GATEWAY_BUILD_PATH"   # read by harness/__init__.py
MODES = ("auto", "interpreted", "compiled")
# Not compiled: __main__ (`python -m` needs a code object) and plugins/_runtime (a
# runtime-checkable Protocol, which mypyc cannot compile). Neither is on the hot path.
_NOT_COMPILED = {"gateway/__main__.py", "gateway/plugins/_runtime.py"}
_STAMP = "BUILT"
_SKIP = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "build")


def package_dir() -> Path:
    return Path(harness.__file__).resolve().parent


def build_root() -> Path:
    """Where builds live: $HARNESS_GATEWAY_BUILD_DIR, else .harness/gateway-build beside
    the package (the repository root in a checkout)."""
    override = os.environ.get("HARNESS_GATEWAY_BUILD_DIR")
    return Path(override) if override else package_dir().parent / ".harness" / "gateway-build"


def _files(pkg: Path) -> list[Path]:
    return sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".so", ".pyc"))


def _mypy_version() -> str:
    try:
        return metadata.version("mypy")
    except metadata.PackageNotFoundError:
        return "none"


def digest(pkg: Path | None = None) -> str:
    """A hash of every file of the package (path and bytes), Python's and mypy's versions."""
    pkg = pkg or package_dir()
    h = hashlib.sha256(f"{sys.version}\0{_mypy_version()}\0".encode())
    for p in _files(pkg):
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def compiled_modules(pkg: Path | None = None) -> list[str]:
    """The package-relative paths of the modules a build compiles."""
    pkg = pkg or package_dir()
    return [rel for p in _files(pkg / "gateway") if p.suffix == ".py"
            and (rel := p.relative_to(pkg).as_posix()) not in _NOT_COMPILED]


def current_build(pkg: Path | None = None) -> Path | None:
    """The build made from exactly these files, or None."""
    d = build_root() / digest(pkg)
    return d if (d / _STAMP).is_file() else None


def build(progress: Callable[[str], None] = print) -> Path:
    """Compile the gateway (about 90 s on two cores) unless a current build exists; return
    its directory. The build is made in a temporary directory and renamed into place, so an
    interrupted build leaves nothing that a launcher would run."""
    pkg = package_dir()
    key = digest(pkg)
    root = build_root()
    dest = root / key
    if (dest / _STAMP).is_file():
        progress(f"gateway build is current: {dest}")
        return dest
    try:
        import mypyc  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        raise StackError("harness build-gateway needs mypyc, which comes with mypy: "
                         "pip install -e '.[test]'") from None
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(pkg, tmp / "harness", ignore=_SKIP)
    modules = compiled_modules(pkg)
    progress(f"compiling {len(modules)} modules of harness.gateway with mypyc "
             f"(about 90 s on two cores) into {dest}")
    started = time.monotonic()
    log = tmp / "mypyc.log"
    try:
        with open(log, "wb") as out:
            # No configuration file in the copy: mypyc type-checks with mypy's defaults.
            proc = subprocess.run([sys.executable, "-m", "mypyc",
                                   *[f"harness/{m}" for m in modules]],
                                  cwd=tmp, stdout=out, stderr=subprocess.STDOUT, check=False,
                                  env={**os.environ, "MYPYC_OPT_LEVEL": "3"})
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise StackError(f"mypyc failed (exit {proc.returncode}); the end of {log}:\n{tail}")
        shutil.rmtree(tmp / "build", ignore_errors=True)   # C sources and objects
        # Only harness.gateway stays: the rest was copied for mypyc to type-check against,
        # and is imported from the tree itself (which the digest ties the build to).
        for entry in (tmp / "harness").iterdir():
            if entry.name != "gateway":
                (shutil.rmtree if entry.is_dir() else Path.unlink)(entry)
        (tmp / _STAMP).write_text(f"digest {key}\npython {sys.version.split()[0]}\n"
                                  f"mypy {_mypy_version()}\nmodules {len(modules)}\n")
        install(tmp, dest)
    except BaseException:
        if not (dest / _STAMP).is_file():
            progress(f"gateway build failed; its files are kept in {tmp}")
        raise
    for other in root.iterdir():   # one build per checkout is enough
        if other.name == key:
            continue
        if other.name.startswith(".tmp-"):   # an interrupted build's, once its process is gone
            pid = other.name.rsplit("-", 1)[-1]
            if pid.isdigit() and psutil.pid_exists(int(pid)):
                continue
        shutil.rmtree(other, ignore_errors=True)
    progress(f"built in {time.monotonic() - started:.0f} s: {dest}")
    return dest


def gateway_version(build: str | None) -> str:
    """The reports' gateway version: which build ran tells two runs' figures apart."""
    return f"{KONG_VERSION} (emulated{', mypyc' if build == 'mypyc' else ''})"


def install(tmp: Path, dest: Path) -> None:
    """Rename a finished build into place. Another process may have installed the same
    build meanwhile (two bootstraps at once): then its build stays and ours goes."""
    try:
        os.replace(tmp, dest)
    except OSError:
        if not (dest / _STAMP).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class GatewayLaunch:
    """How to start the reference gateway: `command` (up to `-m harness.gateway`) with the
    variables `env` added, and which build that runs ("mypyc" or "interpreted")."""

    command: list[str]
    env: dict[str, str]
    build: str

    @property
    def argv(self) -> list[str]:
        """The command with its variables as one argv: env(1) execs Python in place (same
        pid), so a launcher that restarts a process from its recorded argv needs nothing
        else to start the same build."""
        if not self.env:
            return list(self.command)
        return ["env", *[f"{k}={v}" for k, v in self.env.items()], *self.command]


def gateway_launch(mode: str | None = None) -> GatewayLaunch:
    """The command for a reference gateway process, per HARNESS_GATEWAY_BUILD."""
    mode = mode if mode is not None else os.environ.get(ENV, "auto")
    if mode not in MODES:
        raise ConfigError(f"environment {ENV}", "", " | ".join(MODES), mode)
    found = current_build() if mode != "interpreted" else None
    base = [sys.executable, "-m", "harness.gateway"]
    if found is None:
        if mode == "compiled":
            raise StackError(f"{ENV}=compiled, but there is no gateway build for this source "
                             "tree (an edit makes the last one stale): run "
                             "`harness build-gateway`")
        return GatewayLaunch(base, {}, "interpreted")
    return GatewayLaunch(base, {PATH_ENV: str(found)}, "mypyc")   # read by harness/__init__
