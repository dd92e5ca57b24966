"""Auth Service: issues RS256 tenant tokens and publishes its keys as JWKS.

    python -m harness.services.auth --host 127.0.0.1 --port P \
        --key auth-dev-1=stack/secrets/auth-dev-1.key.pem --key auth-dev-2=...

Two --key options = two active keys (rotation): tokens are signed with the
first (or the kid asked for), the JWKS lists both. API (common brief):

    POST /auth/token           through the gateway: tenant from X-Tenant-ID,
                               body {"username"} -> {"access_token", "token_type", "expires_in"}
    GET  /.well-known/jwks.json
    GET  /health
    POST /admin/tokens         {"tenant_id", "sub", "ttl"?, "kid"?, "claims"?} (tests)
    GET  /metrics
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from harness.services._http import HttpServer, Request, Response, json_response, run_servers
from harness.services.metrics import RequestMetrics
from harness.tokens import SigningKey, TokenMinter

__all__ = ["AuthService", "jwks", "main"]


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    out = []
    for k in keys:
        public = serialization.load_pem_public_key(k.public_pem)
        jwk = json.loads(RSAAlgorithm.to_jwk(public))  # type: ignore[arg-type]
        jwk.pop("key_ops", None)  # RFC 7517 §4.3: not together with "use"
        out.append({**jwk, "kid": k.kid, "alg": "RS256", "use": "sig"})
    return {"keys": out}


class AuthService:
    def __init__(self, minter: TokenMinter) -> None:
        self.minter = minter
        self._jwks = json.dumps(jwks(minter.keys)).encode()
        self.metrics = RequestMetrics("auth_service", {})

    def handle(self, req: Request) -> Response:
        try:
            resp = self._route(req)
        except ValueError as exc:
            resp = json_response({"message": str(exc)}, 400)
        self.metrics.observe(req.path if resp.status != 404 else "unmatched", resp.status)
        return resp

    def _route(self, req: Request) -> Response:
        m, path = req.method, req.path
        if path == "/auth/token" and m == "POST":
            tenant = req.header("x-tenant-id")
            if not tenant:
                raise ValueError("header X-Tenant-ID: expected the tenant set by the gateway, "
                                 "got nothing")
            body = req.json()
            user = body.get("username") if isinstance(body, dict) else None
            if not isinstance(user, str) or not user:
                raise ValueError(f"body.username: expected a non-empty string, got {user!r}")
            return self._token(tenant, user, None, None, {})
        if path == "/.well-known/jwks.json" and m == "GET":
            return Response(200, self._jwks)
        if path == "/health" and m == "GET":
            return json_response({"status": "ok", "kids": [k.kid for k in self.minter.keys]})
        if path == "/metrics" and m == "GET":
            return Response(200, self.metrics.render().encode(), "text/plain; version=0.0.4")
        if path == "/admin/tokens" and m == "POST":
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError(f"body: expected a JSON object, got {body!r}")
            tenant, sub = body.get("tenant_id"), body.get("sub", "user-1")
            ttl, kid, claims = body.get("ttl"), body.get("kid"), body.get("claims", {})
            if not isinstance(tenant, str) or not tenant:
                raise ValueError(f"body.tenant_id: expected a tenant id, got {tenant!r}")
            if not isinstance(sub, str):
                raise ValueError(f"body.sub: expected a string, got {sub!r}")
            if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool)):
                raise ValueError(f"body.ttl: expected seconds (int), got {ttl!r}")
            if not isinstance(claims, dict):
                raise ValueError(f"body.claims: expected an object, got {claims!r}")
            try:
                return self._token(tenant, sub, ttl, kid, claims)
            except KeyError as exc:
                raise ValueError(f"body.kid: {exc.args[0]}") from None
        return json_response({"message": f"no route {m} {path}"}, 404)

    def _token(self, tenant: str, sub: str, ttl: int | None, kid: str | None,
               claims: dict[str, Any]) -> Response:
        ttl = self.minter.default_ttl if ttl is None else ttl
        token = self.minter.mint(tenant, sub, kid=kid, ttl=ttl, **claims)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl},
                             headers=[("Cache-Control", "no-store")])


def _key(value: str) -> SigningKey:
    kid, sep, path = value.partition("=")
    if not sep or not kid or not path:
        raise argparse.ArgumentTypeError(f"expected KID=PATH, got {value!r}")
    try:
        return SigningKey.from_file(kid, Path(path))
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.services.auth")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", type=_key, action="append", required=True, metavar="KID=PATH")
    p.add_argument("--ttl", type=int, default=900, help="token lifetime, seconds (<= 3600)")
    args = p.parse_args(argv)
    service = AuthService(TokenMinter(args.key, default_ttl=args.ttl))
    run_servers([HttpServer(service.handle, args.host, args.port)], "auth-service")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
