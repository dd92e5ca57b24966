#!/bin/sh
# Entrypoint wrapper of the Kong containers (stack/docker-compose.yml).
# Exports every file of /certs/env (or $CERTS_ENV_DIR) as an environment variable of the same name
# (TLS_WILDCARD_CERT, ...: PEM text written by the certs-init job), which
# Kong's env vault resolves for kong.yml's "{vault://env/...}" references;
# then runs the given command (the image's own entrypoint).
set -eu
dir="${CERTS_ENV_DIR:-/certs/env}"
if [ -d "$dir" ]; then
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    case "$name" in
      *[!A-Z0-9_]*) echo "with-tls-env: skipping $f (not an env variable name)" >&2; continue ;;
    esac
    export "$name=$(cat "$f")"
  done
fi
exec "$@"
