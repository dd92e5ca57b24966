"""`harness gateway` = `python -m harness.gateway`: run the reference gateway in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ConfigError


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def _resolve(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    from harness.gateway.app import parse_resolve

    try:
        return parse_resolve(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f"expected NAME:PORT=IP:REALPORT (e.g. user-1:8080=127.0.0.1:40123), got {text!r}"
        ) from None


def add_arguments(p: argparse.ArgumentParser, name: str = "gateway") -> None:
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--http-port", type=_port, default=8000, help="proxy port, HTTP (0 = any)")
    p.add_argument("--https-port", type=_port, default=None,
                   help="proxy port, HTTPS (needs the certificate env variables of kong.yml)")
    p.add_argument("--status-port", type=_port, default=8100, help="status API port")
    p.add_argument("--log-dir", type=Path, default=Path(".harness/run/logs"),
                   help="where logs (file-log, error log) are written")
    p.add_argument("--replica-id", type=int, default=0, help="replica number (labels, logs)")
    p.add_argument("--resolve", type=_resolve, action="append", default=[],
                   metavar="NAME:PORT=IP:REALPORT",
                   help="map an upstream host:port of kong.yml to a local address (repeatable)")
    p.add_argument("--bind", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--allow-missing-plugins", action="store_true",
                   help="warn (instead of failing) when a plugin of kong.yml has no "
                        "implementation; not Kong behaviour")
    p.add_argument("--no-plugins", action="store_true",
                   help="run no plugin at all (data-plane benchmarks only; not Kong behaviour)")


def run(args: argparse.Namespace) -> int:
    from harness.gateway.app import GatewayOptions, run as serve

    opts = GatewayOptions(root=args.root.resolve(), http_port=args.http_port,
                          https_port=args.https_port, status_port=args.status_port,
                          log_dir=args.log_dir, replica_id=args.replica_id,
                          resolve=dict(args.resolve), bind=args.bind,
                          strict_plugins=not args.allow_missing_plugins, no_plugins=args.no_plugins)
    return serve(opts)
