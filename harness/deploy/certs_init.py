"""The compose stack's init job: TLS material for Kong's env vault, log directory.

`python -m harness.deploy.certs_init --root /app --out /certs [--log-dir D --log-owner U:G]`

Writes the local CA (`ca.pem`, for clients) and one file per environment
variable Kong's env vault reads (`env/TLS_WILDCARD_CERT`, ...; names from the
"{vault://env/...}" references of kong.yml). The Kong container's entrypoint
(stack/kong/with-tls-env.sh) exports each file as a variable of that name, since
env files cannot carry multi-line PEM text portably.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.model import load_gateway
from harness.stack.certs import generate

__all__ = ["main", "write_env_files"]


def write_env_files(root: Path, out: Path) -> list[str]:
    """Generate certificates for kong.yml's SNIs; return the variable names written."""
    material = generate(load_gateway(root), out)
    env_dir = out / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for stale in env_dir.iterdir():
        stale.unlink()
    for name, pem in sorted(material.env.items()):
        (env_dir / name).write_text(pem)
        (env_dir / name).chmod(0o644)  # the kong user (uid 1000) must read them
    return sorted(material.env)


def _chown(path: Path, owner: str) -> None:
    uid, _, gid = owner.partition(":")
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, int(uid), int(gid or uid))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.deploy.certs_init")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root")
    p.add_argument("--out", type=Path, required=True, help="directory for ca.pem and env/")
    p.add_argument("--log-dir", type=Path, help="Kong log directory to create and chown")
    p.add_argument("--log-owner", default="1000:1000", help="uid:gid of the kong user")
    args = p.parse_args(argv)
    try:
        names = write_env_files(args.root, args.out)
        if args.log_dir is not None:
            _chown(args.log_dir, args.log_owner)
    except (HarnessError, OSError) as exc:
        print(f"certs-init: error: {exc}", file=sys.stderr)
        return 1
    print(f"certs-init: wrote {args.out / 'ca.pem'} and {len(names)} env files: "
          + ", ".join(names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
