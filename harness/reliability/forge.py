"""Hostile JWTs built by hand from a recipe (libraries refuse to make most of them).

A recipe is the `token:` mapping of a hostile-input case
(scenarios/security/hostile-inputs.yaml):

=============  ==============================================================
tenant         whose claims: a | b | suspended | other (default a)
kid            header kid (default: the first signing key); null drops it
alg            header alg (default RS256); null drops it
header         extra header fields; ``jwk: attacker`` embeds the attacker key
claims         claim overrides; "now+N" / "now-N" are relative times
drop           claims removed
tamper         claims changed AFTER signing (the signature no longer matches)
raw_header     header JSON text used as is (placeholders allowed)
raw_payload    payload JSON text used as is
encoding       text encoding of raw_header (utf-8 default, utf-16)
sign           rsa | attacker-rsa | empty | bytes:N | zeros:N | hmac:<secret>
               | hmac-public-key
shape          how segments join, default "{h}.{p}.{s}"
alphabet       url (default) | standard (+/ alphabet) | padded (= padding)
=============  ==============================================================

`forge(recipe, ctx)` returns the compact token. Placeholders (``{tenant_a}``,
``{iss}``, ``{now}``...) are filled from `ctx` before anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from harness.tokens import TokenMinter

__all__ = ["RECIPE_KEYS", "forge", "relative_time"]

RECIPE_KEYS = frozenset({"tenant", "kid", "alg", "header", "claims", "drop", "tamper",
                         "raw_header", "raw_payload", "encoding", "sign", "shape", "alphabet"})
_REL = re.compile(r"^now([+-]\d+(?:\.\d+)?)$")
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def _b64(data: bytes, alphabet: str = "url") -> str:
    if alphabet == "standard":
        return base64.b64encode(data).rstrip(b"=").decode()
    text = base64.urlsafe_b64encode(data).decode()
    return text if alphabet == "padded" else text.rstrip("=")


def relative_time(value: Any, now: int) -> Any:
    """"now-61" -> now - 61 (int, or float with a fraction); lists recursively."""
    if isinstance(value, list):
        return [relative_time(v, now) for v in value]
    if isinstance(value, str):
        m = _REL.match(value)
        if m:
            delta = float(m.group(1))
            return now + (int(delta) if delta.is_integer() else delta)
    return value


def fill(value: Any, ctx: Mapping[str, Any]) -> Any:
    """Placeholders `{name}` of `ctx` filled in strings, lists and mappings."""
    if isinstance(value, str):
        return _fill_text(value, ctx)
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    if isinstance(value, dict):
        return {fill(k, ctx): fill(v, ctx) for k, v in value.items()}
    return value


def _fill_text(text: str, ctx: Mapping[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.startswith("long:"):
            return "A" * int(key[5:])
        if key in ctx:
            return str(ctx[key])
        return m.group(0)
    return re.sub(r"\{([a-z_0-9]+(?::\d+)?)\}", sub, text)


@lru_cache(maxsize=1)
def _attacker_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _attacker_jwk() -> dict[str, str]:
    nums = _attacker_key().public_key().public_numbers()

    def enc(n: int) -> str:
        return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    return {"kty": "RSA", "e": enc(nums.e), "n": enc(nums.n), "kid": "attacker"}


def _rsa_sign(key: Any, data: bytes, alg: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algo = {"384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[-3:], hashes.SHA256())
    return bytes(key.sign(data, padding.PKCS1v15(), algo))


def _signature(sign: str, data: bytes, alg: str, minter: TokenMinter, kid: Any) -> bytes:
    if sign == "empty":
        return b""
    if sign.startswith("bytes:"):
        n = int(sign[6:])
        return bytes((i * 37 + 11) % 256 for i in range(n))
    if sign.startswith("zeros:"):
        return bytes(int(sign[6:]))
    if sign.startswith("hmac:"):
        return hmac.new(sign[5:].encode(), data, _HASHES.get(alg[-3:], hashlib.sha256)).digest()
    key_kid = kid if isinstance(kid, str) and any(k.kid == kid for k in minter.keys) else None
    if sign == "hmac-public-key":
        pem = minter.key(key_kid).public_pem
        return hmac.new(pem, data, _HASHES.get(alg[-3:], hashlib.sha256)).digest()
    if sign == "attacker-rsa":
        return _rsa_sign(_attacker_key(), data, alg)
    if sign == "rsa":
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(minter.key(key_kid).private_pem, password=None)
        return _rsa_sign(key, data, alg)
    raise ValueError(f"unknown sign method {sign!r}")


def forge(recipe: Mapping[str, Any], ctx: Mapping[str, Any], minter: TokenMinter,
          now: int | None = None) -> str:
    """The token `recipe` describes, for the tenants and hosts in `ctx`."""
    now_i = int(time.time() if now is None else now)
    ctx = {**ctx, "now": now_i, "exp": now_i + 600, "iss": minter.issuer,
           "aud": minter.audience, "kid": minter.keys[0].kid}
    r = fill(dict(recipe), ctx)
    unknown = set(r) - RECIPE_KEYS
    if unknown:
        raise ValueError(f"unknown token recipe keys {sorted(unknown)}")
    tenant_id = ctx[f"tenant_{r.get('tenant', 'a')}"]
    alg = r.get("alg", "RS256")
    kid = r.get("kid", minter.keys[0].kid)
    alphabet = r.get("alphabet", "url")

    if "raw_header" in r:
        header_bytes = str(r["raw_header"]).encode(r.get("encoding", "utf-8"))
    else:
        header: dict[str, Any] = {"typ": "JWT"}
        if alg is not None:
            header["alg"] = alg
        if kid is not None:
            header["kid"] = kid
        for k, v in dict(r.get("header", {})).items():
            header[k] = _attacker_jwk() if (k == "jwk" and v == "attacker") else v
        header_bytes = json.dumps(header, separators=(",", ":")).encode()

    if "raw_payload" in r:
        payload_bytes = str(r["raw_payload"]).encode()
    else:
        claims = minter.claims(tenant_id, "hostile-user", now=now_i)
        for k, v in dict(r.get("claims", {})).items():
            claims[k] = relative_time(v, now_i)
        for k in r.get("drop", []):
            claims.pop(k, None)
        payload_bytes = json.dumps(claims, separators=(",", ":")).encode()

    h, p = _b64(header_bytes, alphabet), _b64(payload_bytes, alphabet)
    signing_input = f"{_b64(header_bytes)}.{_b64(payload_bytes)}".encode()
    s = _b64(_signature(str(r.get("sign", "rsa")), signing_input, str(alg or "RS256"),
                        minter, kid), alphabet)
    if "tamper" in r:
        tampered = json.loads(payload_bytes)
        for k, v in dict(r["tamper"]).items():
            tampered[k] = relative_time(v, now_i)
        p = _b64(json.dumps(tampered, separators=(",", ":")).encode(), alphabet)
    return str(r.get("shape", "{h}.{p}.{s}")).replace("{h}", h).replace("{p}", p) \
        .replace("{s}", s)
