"""Kong's jwt plugin (priority 1450): kong-behaviour.md §2.

Token lookup, decoding and every 401 follow kong/plugins/jwt/{handler,jwt_parser}.lua.
Malformed input never raises: where Kong would crash with a Lua error on a
non-object JSON header (a 500), we answer the closest 401 instead (documented
deviation). Successful signature checks are cached per token string (bounded
LRU); exp/nbf/maximum_expiration are still checked on every request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from harness.errors import ConfigError
from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request
from harness.gateway.plugins._kong import consumer_id, kong_exit
from harness.model import Consumer
from harness.model.kong import JwtSecret
from harness.model.plugins import PLUGIN_PRIORITIES, JwtConfig

__all__ = ["JwtPlugin", "decode_token"]

_BEARER = re.compile(r"\s*[Bb]earer\s+(.+)")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
# Algorithms jwt_parser knows (3.7+); a credential may only use the model's subset.
_KNOWN_ALGS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
                         "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"})
_CACHE_SIZE = 4096


def _b64(part: str) -> bytes | None:
    """jwt_parser.base64_decode: pad, url-safe alphabet, strict decode (nil on error)."""
    rem = len(part) % 4
    if rem:
        part += "=" * (4 - rem)
    try:
        return base64.b64decode(part.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # cjson rejects NaN / Infinity


def _json(raw: bytes | None) -> Any:
    if raw is None:
        raise ValueError("not base64")
    # Text, never bytes: json.loads(bytes) guesses UTF-16/32 from the first bytes, and
    # cjson reads only bytes as they are (a UTF-16 header is invalid JSON to Kong).
    # surrogateescape keeps cjson's tolerance of invalid UTF-8 inside strings.
    return json.loads(raw.decode("utf-8", "surrogateescape"), parse_constant=_no_constants)


@dataclass(frozen=True)
class Decoded:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def decode_token(token: str) -> Decoded | str:
    """jwt_parser.decode_token: a Decoded or the error text after 'Bad token; '."""
    parts = token.split(".", 2)
    try:
        header = _json(_b64(parts[0]))
        claims = _json(_b64(parts[1])) if len(parts) > 1 else _json(None)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "invalid JSON"
    if not isinstance(header, dict):
        return "invalid alg"  # Kong: indexing a non-table (crash or nil) -> nearest 401
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _KNOWN_ALGS:
        return "invalid alg"
    if len(parts) < 3:
        return "invalid JSON"
    signature = _b64(parts[2])
    if signature is None:
        return "invalid signature"
    if not isinstance(claims, dict):
        claims = {}  # a JSON string/array has no fields in Lua either
    return Decoded(header, claims, f"{parts[0]}.{parts[1]}".encode(), signature)


@dataclass(frozen=True)
class _Credential:
    secret: JwtSecret
    consumer: Consumer
    consumer_id: str
    key: Any  # bytes (HS*) or a cryptography public key (RS*/ES*), None if absent

    def verify(self, data: bytes, sig: bytes) -> bool:
        alg = self.secret.algorithm
        digest = _HASHES[alg[2:]]()
        try:
            if alg.startswith("HS"):
                mac = hmac.new(self.key, data, digest.name).digest()
                return hmac.compare_digest(mac, sig)
            if alg.startswith("RS") and isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(sig, data, padding.PKCS1v15(), digest)
                return True
            if alg.startswith("ES") and isinstance(self.key, ec.EllipticCurvePublicKey):
                half = len(sig) // 2
                if len(sig) != {"256": 64, "384": 96}[alg[2:]]:
                    return False
                der = encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                           int.from_bytes(sig[half:], "big"))
                self.key.verify(der, data, ec.ECDSA(digest))
                return True
        except (InvalidSignature, ValueError):
            return False
        return False


def _load_credentials(consumers: list[Consumer], secret_is_base64: bool) -> dict[str, _Credential]:
    out: dict[str, _Credential] = {}
    for consumer in consumers:
        for i, s in enumerate(consumer.jwt_secrets):
            key: Any = None
            if s.algorithm.startswith("HS"):
                if s.secret is not None:
                    key = (_b64(s.secret) if secret_is_base64 else s.secret.encode())
            elif s.rsa_public_key:
                try:
                    key = serialization.load_pem_public_key(s.rsa_public_key.encode())
                except ValueError as exc:
                    raise ConfigError("kong.yml", f"consumers.{consumer.username}.jwt_secrets"
                                      f".{i}.rsa_public_key", "a valid PEM public key "
                                      "(Kong: invalid key)", str(exc)) from None
            out[s.key] = _Credential(s, consumer, consumer_id(consumer), key)
    return out


class JwtPlugin(Plugin):
    name = "jwt"
    priority = PLUGIN_PRIORITIES["jwt"]
    config: JwtConfig

    def __init__(self, config: JwtConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        self._creds = _load_credentials(list(runtime.gateway.kong.consumers),
                                        config.secret_is_base64)
        base = f'Bearer realm="{config.realm}"' if config.realm else "Bearer"
        self._www_base = base
        self._www_error = base + (', error="invalid_token"' if config.realm
                                  else ' error="invalid_token"')
        self._verified: OrderedDict[str, tuple[Decoded, _Credential]] = OrderedDict()
        self._header_names = [h.lower() for h in config.header_names]

    # -- token lookup (retrieve_tokens) ---------------------------------
    def _tokens(self, req: Request) -> set[str]:
        found: set[str] = set()
        cfg = self.config
        if cfg.uri_param_names and req.query:
            args = req.query_args()
            for name in cfg.uri_param_names:
                v = args.get(name)
                for t in (v if isinstance(v, list) else [v]):
                    if t:
                        found.add(t)
        if cfg.cookie_names:
            cookies = _cookies(req.headers.get_all("cookie"))
            for name in cfg.cookie_names:
                if cookies.get(name):
                    found.add(cookies[name])
        for name in self._header_names:
            value = req.headers.get(name)  # first value, as Kong takes token_header[1]
            if value is not None:
                m = _BEARER.search(value)
                if m and m.group(1):
                    found.add(m.group(1))
        return found

    def _fail(self, message: str | None = None, errors: dict[str, str] | None = None,
              www: str | None = None) -> Exception:
        payload: dict[str, str] = errors if errors is not None else {"message": message or ""}
        return kong_exit(401, payload, [("WWW-Authenticate", www or self._www_error)])

    async def access(self, req: Request, ctx: Ctx) -> None:
        cfg = self.config
        if not cfg.run_on_preflight and req.method == "OPTIONS":
            return
        if cfg.anonymous is not None and ctx.credential is not None:
            return  # logical OR: already authenticated by another plugin
        tokens = self._tokens(req)
        if len(tokens) != 1:
            if cfg.anonymous is not None:
                return self._anonymous(req, ctx)
            if not tokens:
                raise self._fail("Unauthorized", www=self._www_base)
            raise self._fail("Multiple tokens provided")
        token = tokens.pop()
        if cfg.anonymous is None:
            self._authenticate(req, ctx, token)
            return
        try:
            self._authenticate(req, ctx, token)
        except Exit:
            self._anonymous(req, ctx)

    def _anonymous(self, req: Request, ctx: Ctx) -> None:
        # Kong <= 3.9: a missing anonymous consumer lets the request continue without one.
        anon = self.config.anonymous
        for consumer in self.runtime.gateway.kong.consumers:
            if anon in (consumer.username, consumer_id(consumer)):
                ctx.consumer = consumer
                req.headers.set("X-Consumer-ID", consumer_id(consumer))
                _set_or_clear(req.headers, "X-Consumer-Custom-ID", consumer.custom_id)
                _set_or_clear(req.headers, "X-Consumer-Username", consumer.username)
                break
        req.headers.remove("X-Credential-Identifier")
        req.headers.set("X-Anonymous-Consumer", "true")

    def _authenticate(self, req: Request, ctx: Ctx, token: str) -> None:
        hit = self._verified.get(token)
        if hit is None:
            decoded, cred = self._verify(token)
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.popitem(last=False)
            self._verified[token] = (decoded, cred)
        else:
            self._verified.move_to_end(token)
            decoded, cred = hit
        self._check_claims(decoded.claims)
        self._set_consumer(req, ctx, cred, token)

    def _verify(self, token: str) -> tuple[Decoded, _Credential]:
        decoded = decode_token(token)
        if isinstance(decoded, str):
            raise self._fail(f"Bad token; {decoded}")
        kcn = self.config.key_claim_name
        key = decoded.claims.get(kcn)
        if key is None or key is False:
            key = decoded.header.get(kcn)
        if key is None or key is False:
            raise self._fail(f"No mandatory '{kcn}' in claims")
        if key == "":
            raise self._fail(f"Invalid '{kcn}' in claims")
        cred = self._creds.get(key) if isinstance(key, str) else None
        if cred is None:
            raise self._fail(f"No credentials found for given '{kcn}'")
        if decoded.header.get("alg") != cred.secret.algorithm:
            raise self._fail("Invalid algorithm")
        if cred.key is None:
            raise self._fail("Invalid key/secret")
        if not cred.verify(decoded.signing_input, decoded.signature):
            raise self._fail("Invalid signature")
        return decoded, cred

    def _check_claims(self, claims: dict[str, Any]) -> None:
        cfg = self.config
        now = int(time.time())  # ngx.time(): whole seconds, no leeway
        errors: dict[str, str] = {}
        for name in cfg.claims_to_verify or []:
            value: Any = claims.get(name)
            if not _is_number(value):
                errors[name] = "must be a number"
            elif name == "exp" and value <= now:
                errors[name] = "token expired"
            elif name == "nbf" and value > now:
                errors[name] = "token not valid yet"
        if errors:
            raise self._fail(errors=errors)
        if cfg.maximum_expiration > 0:
            exp = claims.get("exp")
            if exp is None or (_is_number(exp) and exp - now > cfg.maximum_expiration):
                raise self._fail(errors={"exp": "exceeds maximum allowed expiration"})

    def _set_consumer(self, req: Request, ctx: Ctx, cred: _Credential, token: str) -> None:
        consumer = cred.consumer
        ctx.consumer = consumer
        ctx.credential = cred.secret.key
        h = req.headers
        h.set("X-Consumer-ID", cred.consumer_id)
        _set_or_clear(h, "X-Consumer-Custom-ID", consumer.custom_id)
        _set_or_clear(h, "X-Consumer-Username", consumer.username)
        h.set("X-Credential-Identifier", cred.secret.key)
        h.remove("X-Anonymous-Consumer")
        ctx.authenticated_jwt_token = token
        ctx.shared["authenticated_jwt_token"] = token


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _set_or_clear(headers: Any, name: str, value: str | None) -> None:
    if value:
        headers.set(name, value)
    else:
        headers.remove(name)


def _cookies(lines: list[str]) -> dict[str, str]:
    """nginx $cookie_<name>: the first cookie of that name across Cookie headers."""
    out: dict[str, str] = {}
    for line in lines:
        for part in line.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name not in out:
                out[name] = value
    return out
