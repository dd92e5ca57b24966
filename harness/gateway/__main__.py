"""`python -m harness.gateway ...`: see harness/cli/gateway_cmd.py for the flags."""

from __future__ import annotations

import argparse
import sys

from harness.cli import gateway_cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.gateway",
                                     description="Kong 3.9-compatible reference gateway")
    gateway_cmd.add_arguments(parser)
    return gateway_cmd.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
