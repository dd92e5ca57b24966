"""The `harness` command line: a thin layer over library calls.

Each sub-command lives in its own module under harness.cli, imported only
when used, so a missing optional extra (locust, docker) only affects the
commands that need it and says which extra to install.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence

from harness.errors import HarnessError

__all__ = ["main"]

# command -> (module, one-line help). Modules define add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("harness.cli.validate_cmd", "static checks of the gateway config (no stack)"),
    "up": ("harness.cli.stack_cmd", "start the native stack"),
    "down": ("harness.cli.stack_cmd", "stop the native stack and free its ports"),
    "status": ("harness.cli.stack_cmd", "show the health of every service of the stack"),
    "logs": ("harness.cli.stack_cmd", "print the log of one service"),
    "check": ("harness.cli.check_cmd", "main job: stack up, contract suite, report"),
    "load": ("harness.cli.load_cmd", "run a Locust load profile with SLO gates"),
    "report": ("harness.cli.report_cmd", "compare reports and show trends"),
    "openapi": ("harness.cli.openapi_cmd", "generate docs/openapi.yaml from kong.yml"),
    "kong": ("harness.cli.kong_cmd", "decK diff/sync against a running Kong"),
    "tenant": ("harness.cli.tenant_cmd", "onboard tenants"),
    "gateway": ("harness.cli.gateway_cmd", "run the reference gateway in the foreground"),
    "build-gateway": ("harness.cli.build_cmd", "compile the reference gateway with mypyc "
                      "(launchers run the build while it matches the sources)"),
}

_EXTRAS = {"locust": "load", "hdrh": "load", "matplotlib": "load", "docker": "deploy",
           "testcontainers": "deploy", "kubernetes_validate": "deploy",
           "openapi_spec_validator": "deploy"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # Suggest the closest known flag or command, as Locust does.
        words = [w for w in message.replace(",", " ").split() if w.startswith("-")]
        choices = [a for act in self._actions for a in act.option_strings]
        hint = ""
        for w in words:
            close = difflib.get_close_matches(w.split("=")[0], choices, n=1)
            if close:
                hint = f" (did you mean {close[0]}?)"
                break
        super().error(message + hint)


def _build(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = _Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    modules: dict[str, object] = {}
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == wanted:
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                top = (exc.name or "").split(".")[0]
                if top in _EXTRAS:
                    raise HarnessError(f"`harness {name}` needs the optional extra: "
                                       f"pip install 'harness[{_EXTRAS[top]}]' ({exc.name} "
                                       "is missing)") from None
                if (exc.name or "").startswith("harness"):
                    raise HarnessError(f"`harness {name}` is not available in this "
                                       f"version ({exc.name} is missing)") from None
                raise
            mod.add_arguments(p, name)
            modules[name] = mod
    if wanted and wanted not in COMMANDS:
        close = difflib.get_close_matches(wanted, list(COMMANDS), n=1)
        parser.error(f"unknown command {wanted!r}" + (f" (did you mean {close[0]}?)" if close
                                                       else ""))
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, modules = _build(argv)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return int(modules[args.command].run(args))  # type: ignore[attr-defined]
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
