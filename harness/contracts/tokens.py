"""Token mutations for the JWT contracts: a valid token and each way of breaking one.

Each mutation is minted at send time (exp/nbf relative to now) from the
target's `TokenMinter`, so the same case works against any target that can
mint tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jwt

from harness.contracts.expect import TokenSpec
from harness.tokens import TokenMinter

__all__ = ["MUTATIONS", "mint"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return (_b64(json.dumps(header, separators=(",", ":")).encode()) + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode()))


@lru_cache(maxsize=1)
def _stranger_key() -> Any:
    """An RSA key nobody trusts (bad-signature tokens); generated once per process."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


Mint = Callable[[TokenMinter, TokenSpec, int], str]


def _valid(m: TokenMinter, s: TokenSpec, now: int) -> str:
    return m.sign(m.claims(s.tenant_id, s.sub, now=now), kid=s.kid)


def _claims(**changes: Any) -> Mint:
    def make(m: TokenMinter, s: TokenSpec, now: int) -> str:
        claims = m.claims(s.tenant_id, s.sub, now=now)
        for key, value in changes.items():
            if callable(value):
                claims[key] = value(now)
            elif value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return m.sign(claims, kid=s.kid)
    return make


def _bad_signature(m: TokenMinter, s: TokenSpec, now: int) -> str:
    kid = m.key(s.kid).kid
    return jwt.encode(m.claims(s.tenant_id, s.sub, now=now), _stranger_key(),
                      algorithm="RS256", headers={"kid": kid})


def _tampered(m: TokenMinter, s: TokenSpec, now: int) -> str:
    # A genuine signature over other claims: the payload is swapped afterwards.
    head, _, sig = _valid(m, s, now).split(".")
    forged = m.claims(s.tenant_id, "someone-else", now=now)
    return f"{head}.{_unsigned({}, forged).split('.')[1]}.{sig}"


def _alg_none(m: TokenMinter, s: TokenSpec, now: int) -> str:
    return _unsigned({"alg": "none", "typ": "JWT", "kid": m.key(s.kid).kid},
                     m.claims(s.tenant_id, s.sub, now=now)) + "."


def _hs256_public_key(m: TokenMinter, s: TokenSpec, now: int) -> str:
    # The classic key-confusion attack: HMAC keyed with the RSA public key PEM.
    key = m.key(s.kid)
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": key.kid},
                              m.claims(s.tenant_id, s.sub, now=now))
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _header(**changes: Any) -> Mint:
    def make(m: TokenMinter, s: TokenSpec, now: int) -> str:
        key = m.key(s.kid)
        from cryptography.hazmat.primitives import serialization

        loaded: Any = serialization.load_pem_private_key(key.private_pem, password=None)
        headers = {"kid": key.kid, **changes}
        headers = {k: v for k, v in headers.items() if v is not None}
        token: str = jwt.encode(m.claims(s.tenant_id, s.sub, now=now), loaded,
                                algorithm="RS256", headers=headers)
        return token
    return make


MUTATIONS: dict[str, Mint] = {
    "valid": _valid,
    "expired": _claims(exp=lambda now: now - 60, iat=lambda now: now - 120,
                       nbf=lambda now: now - 120),
    "nbf-future": _claims(nbf=lambda now: now + 600, exp=lambda now: now + 900),
    "exceeds-max-exp": _claims(exp=lambda now: now + 7200),
    "bad-signature": _bad_signature,
    "tampered-payload": _tampered,
    "alg-none": _alg_none,
    "hs256-public-key": _hs256_public_key,
    "unknown-kid": _header(kid="not-a-known-key"),
    "no-kid": _header(kid=None),
    "wrong-issuer": _claims(iss="https://evil.example.com"),
    "wrong-audience": _claims(aud="someone-else.example.com"),
    "garbage": lambda m, s, now: "not.a.jwt",
}


def mint(minter: TokenMinter, spec: TokenSpec, now: float | None = None) -> str:
    """The token `spec` describes, minted now."""
    try:
        make = MUTATIONS[spec.mutation]
    except KeyError:
        raise KeyError(f"unknown token mutation {spec.mutation!r}; known: "
                       f"{sorted(MUTATIONS)}") from None
    return make(minter, spec, int(time.time() if now is None else now))
