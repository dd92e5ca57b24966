"""Minting real RS256 JWTs the way the Auth Service does, for scenarios and load users.

The Auth Service signs with the same dev keys (stack/secrets/); against a
deployed target, point `TokenMinter` at that deployment's signing key or use
the Auth Service's /admin/tokens endpoint instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "SigningKey", "TokenMinter", "dev_minter"]

DEFAULT_ISSUER = "https://auth.app.example.com"
DEFAULT_AUDIENCE = "api.app.example.com"
_SECRETS = Path(__file__).resolve().parent.parent / "stack" / "secrets"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes

    @classmethod
    def from_file(cls, kid: str, path: Path) -> SigningKey:
        return cls(kid, path.read_bytes())

    @cached_property
    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class TokenMinter:
    """Signs tenant tokens. `claims()` builds the standard claim set; `mint()` signs it."""

    keys: list[SigningKey]
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    default_ttl: int = 900
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def key(self, kid: str | None = None) -> SigningKey:
        if kid is None:
            return self.keys[0]
        for k in self.keys:
            if k.kid == kid:
                return k
        raise KeyError(f"no signing key with kid {kid!r} (have {[k.kid for k in self.keys]})")

    def claims(self, tenant_id: str, sub: str = "user-1", *, ttl: int | None = None,
               now: float | None = None, tier: str | None = None, **extra: Any) -> dict[str, Any]:
        now_i = int(time.time() if now is None else now)
        out: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "tenant_id": tenant_id,
            "iat": now_i,
            "nbf": now_i,
            "exp": now_i + (self.default_ttl if ttl is None else ttl),
            "jti": uuid.uuid4().hex,
        }
        if tier is not None:
            out["tier"] = tier
        out.update(extra)
        return out

    def sign(self, claims: dict[str, Any], *, kid: str | None = None,
             headers: dict[str, Any] | None = None) -> str:
        key = self.key(kid)
        loaded = self._loaded.get(key.kid)
        if loaded is None:
            from cryptography.hazmat.primitives import serialization

            from cryptography.hazmat.primitives.asymmetric import rsa

            loaded = serialization.load_pem_private_key(key.private_pem, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"signing key {key.kid}: expected an RSA private key (RS256), "
                                 f"got {type(loaded).__name__}")
            self._loaded[key.kid] = loaded
        hdr = {"kid": key.kid, **(headers or {})}
        return jwt.encode(claims, loaded, algorithm="RS256", headers=hdr)

    def mint(self, tenant_id: str, sub: str = "user-1", *, kid: str | None = None,
             ttl: int | None = None, **extra: Any) -> str:
        return self.sign(self.claims(tenant_id, sub, ttl=ttl, **extra), kid=kid)


def dev_minter(secrets_dir: Path | None = None) -> TokenMinter:
    """The minter for the native and compose stacks (dev keys in stack/secrets/)."""
    d = secrets_dir or _SECRETS
    keys = [SigningKey.from_file(f"auth-dev-{i}", d / f"auth-dev-{i}.key.pem") for i in (1, 2)]
    return TokenMinter(keys)
