"""Running hostile-input cases: render bytes, send raw, check, count what reached a backend.

One `HostileEnv` per session holds what every case shares: two fresh tenants
(A, B) created through the Tenant Service admin API so no other scenario's
rate-limit counters are touched (seeded tenants as fallback on a url target),
their valid tokens, a loopback "SSRF canary" listener that must never be
called (jku/x5u cases), and the stubs' counters.

Each case gets a nonce that appears in every path it sends, so "the backend
never sees it" is read from the stubs' `by_path` counters for that nonce,
whatever route, service or smuggled request the bytes turned into.

Response checks go through the contract suite's one comparator
(`harness.contracts.compare`); what it does not cover (no 5xx, no hang,
connection closed, backend counts, SSRF canary, minted-token tenant) is
checked here and reported the same way: "expected … got …".
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.contracts.compare import compare
from harness.contracts.expect import Captured, Expected, ExpectedResponse, ExpectedUpstream
from harness.contracts.expect import Request as CRequest
from harness.model import Gateway
from harness.rawhttp import RawExchange, RawResponse, exchange
from harness.reliability.corpus import _UNSET, Expect, HostileCase, ReqSpec
from harness.reliability.forge import fill, forge
from harness.target import Target

__all__ = ["CaseOutcome", "HostileEnv", "SsrfCanary", "run_hostile_case"]

TIMEOUT_S = 5.0   # every case answers well within the services' 5 s read timeout


class SsrfCanary:
    """A loopback listener that counts connections; jku/x5u cases must leave it at 0."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hits = 0
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ssrf-canary")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


@dataclass
class HostileEnv:
    target: Target
    gateway: Gateway
    vars: dict[str, Any]
    stub_admins: list[str]              # base URLs of the stubs' admin APIs
    canary: SsrfCanary
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5, trust_env=False))
    tally: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.canary.close()
        self.http.close()

    def backend_hits(self, nonce: str) -> int:
        """Requests whose path carries `nonce`, summed over every stub instance."""
        total = 0
        for base in self.stub_admins:
            doc = self.http.get(base + "/counters").json()
            total += sum(n for p, n in doc.get("by_path", {}).items() if nonce in p)
        return total

    def address(self, tls: bool) -> tuple[str, int]:
        url = self.target.proxy_tls_url if tls else self.target.proxy_url
        parts = urlsplit(url or "")
        return parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)

    def tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.target.ca_file)
                                         if self.target.ca_file else None)
        ctx.check_hostname = False      # SNI/Host mismatches are the point of these cases
        return ctx


def _homograph(label: str) -> str:
    """`label` with its first Latin a/c/e/o/p swapped for the Cyrillic look-alike, A-label."""
    swap = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440"}
    for i, ch in enumerate(label):
        if ch in swap:
            return (label[:i] + swap[ch] + label[i + 1:]).encode("idna").decode()
    return "xn--" + label


def _mixed_case(host: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(host))


def env_vars(gateway: Gateway, target: Target, a: tuple[str, str], b: tuple[str, str],
             canary_url: str) -> dict[str, Any]:
    """Placeholder values of the corpus for tenants a=(id, host) and b=(id, host)."""
    tenants = gateway.tenants.tenants
    other = next(t for t in tenants if t.custom_domains and t.id not in (a[0], b[0])
                 and t.status == "active")
    suspended = next(t for t in tenants if t.status != "active")
    base = gateway.tenants.base_domain
    tier_b = _tier_of(gateway, b[0])
    label, _, rest = a[1].partition(".")
    return {
        "tenant_a": a[0], "host_a": a[1], "tenant_b": b[0], "host_b": b[1],
        "tenant_other": other.id, "custom_other": other.custom_domains[0],
        "tenant_suspended": suspended.id, "host_suspended": gateway.tenants.host_of(suspended),
        "base": base, "ssrf_url": canary_url,
        "tenant_a_upper": a[0].upper(), "host_a_mixed": _mixed_case(a[1]),
        "idn_homograph": f"{_homograph(label)}.{rest}",
        "limit_b_minute": gateway.tier_limits(tier_b).get("minute", ""),
        "token_a": target.minter.mint(a[0], "hostile-user", ttl=1800),
        "token_b": target.minter.mint(b[0], "hostile-user", ttl=1800),
        "tier_a": _tier_of(gateway, a[0]), "tier_b": tier_b,
    }


def _tier_of(gateway: Gateway, tenant_id: str) -> str:
    try:
        return gateway.tenant(tenant_id).tier
    except KeyError:
        # A fresh tenant: its id is "<label>-<tier>-<hex>" (ScenarioContext.fresh_tenant).
        return next(t for t in gateway.tiers.tiers if f"-{t}-" in tenant_id)


# -- rendering ---------------------------------------------------------------

def _headers(spec: ReqSpec, auth: str | None, v: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [("Host", fill(spec.host, v))]
    if auth is not None:
        out.append(("Authorization", fill(auth, v)))
    for h in spec.headers:
        if isinstance(h, str):           # "{junk:N}"
            n = int(h[6:-1])
            out += [(f"X-Junk-{i}", f"junk-{i}") for i in range(n)]
        else:
            out.append((fill(h[0], v), fill(h[1], v)))
    body = fill(spec.body, v)
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in out):
        out.append(("Content-Length", str(len(body.encode()))))
    return out


def _structured(spec: ReqSpec, auth: str | None, v: Mapping[str, Any]) -> bytes:
    line = f"{spec.method} {fill(spec.target, v)} {spec.version}\r\n"
    head = "".join(f"{k}: {val}\r\n" for k, val in _headers(spec, auth, v))
    body: bytes = fill(spec.body, v).encode()
    return (line + head + "\r\n").encode("utf-8") + body


def render(case: HostileCase, v: Mapping[str, Any]) -> list[bytes]:
    """The bytes of every request of `case`, in sending order."""
    if case.raw_bytes is not None:
        return [fill(case.raw_bytes, v).encode("utf-8")]
    if case.raw is not None:
        text = "\r\n".join(fill(line, v) for line in case.raw) + "\r\n\r\n"
        return [text.encode("utf-8") + fill(case.request.body, v).encode()]
    blobs = [_structured(case.request, case.auth_value, v)]
    for t in case.then:
        auth = case.auth_value if t.auth is _UNSET else (None if t.auth is None else str(t.auth))
        blobs.append(_structured(t, auth, v))
    return blobs


# -- checking ----------------------------------------------------------------

@dataclass
class CaseOutcome:
    case: HostileCase
    exchange: RawExchange
    backend_hits: int
    mismatch: str | None
    five_xx: bool = False
    hang: bool = False


def _captured(case: HostileCase, sent: bytes, resp: RawResponse, elapsed: float,
              v: Mapping[str, Any]) -> Captured:
    req = CRequest(method=case.request.method, host=fill(case.request.host, v),
                   path=fill(case.request.target, v)[:200], raw=True)
    first_lines = sent.split(b"\r\n\r\n")[0].decode("utf-8", "replace")
    sent_headers = tuple((k.strip(), val.strip()) for k, _, val in
                         (ln.partition(":") for ln in first_lines.split("\r\n")[1:]))
    return Captured(req, sent_headers, resp.status, tuple(resp.headers), resp.body, elapsed)


def _expected(exp: Expect, v: Mapping[str, Any], proxied: bool) -> Expected:
    response = ExpectedResponse(
        status=exp.status, headers={k: fill(val, v) for k, val in exp.headers.items()},
        absent_headers=exp.headers_absent,
        json=fill(dict(exp.body), v) if exp.body is not None else None,
        json_extra_keys=frozenset({"request_id"}))
    up = exp.upstream
    if not proxied or exp.backend == "never":
        return Expected(CRequest(), response, upstream=None,
                        upstream_optional=exp.backend != "never")
    headers = {k: fill(str(val), v) for k, val in dict(up.get("headers", {})).items()}
    for key, header in (("tenant", "x-tenant-id"), ("tier", "x-tenant-tier")):
        if key in up:
            headers[header] = str(v[f"{key}_{up[key]}" if key == "tier" else f"tenant_{up[key]}"])
    return Expected(CRequest(), response, ExpectedUpstream(
        service=up.get("service"), path=fill(up["path"], v) if "path" in up else None,
        headers=headers, absent_headers=tuple(up.get("absent", ()))))


def _extra_upstream(exp: Expect, cap: Captured) -> str | None:
    echo = cap.echo
    if echo is None:
        return None
    for name in exp.upstream.get("present", ()):
        if echo.header(name) is None:
            return f"expected upstream header {name} to be present, got absent"
    for name, bad in dict(exp.upstream.get("not_values", {})).items():
        if echo.header(name) == bad:
            return f"expected upstream header {name} not to be the client's {bad!r}, got it"
    return None


def _minted_tenant(resp: RawResponse) -> str | None:
    try:
        token = json.loads(resp.body)["access_token"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("tenant_id"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def _check_response(case: HostileCase, exp: Expect, sent: bytes, resp: RawResponse,
                    elapsed: float, v: Mapping[str, Any]) -> str | None:
    cap = _captured(case, sent, resp, elapsed, v)
    if resp.status >= 500 and resp.status not in exp.status:
        return (f"expected never a 5xx, got {resp.status} "
                f"(body {resp.body[:200]!r})")
    proxied = 200 <= resp.status < 300 and cap.echo is not None
    mismatch = compare(_expected(exp, v, proxied), cap)
    if mismatch is not None:
        return mismatch.message
    if proxied:
        extra = _extra_upstream(exp, cap)
        if extra:
            return extra
    if exp.minted_tenant is not None and resp.status < 300:
        got = _minted_tenant(resp)
        want = v[f"tenant_{exp.minted_tenant}"]
        if got != want:
            return f"expected the minted token's tenant_id to be {want!r}, got {got!r}"
    return None


def run_hostile_case(case: HostileCase, env: HostileEnv) -> CaseOutcome:
    """Send the case's bytes once and judge the result (never raises on gateway behaviour)."""
    nonce = uuid.uuid4().hex[:12]
    v: dict[str, Any] = {**env.vars, "nonce": nonce, "path": f"/api/users/h-{nonce}"}
    if case.token is not None:
        v["token"] = forge(case.token, v, env.target.minter)
    blobs = render(case, v)
    tls = case.request.tls
    host, port = env.address(tls)
    expected_n = max(1, len(case.expect.responses) or len(blobs))
    canary_before = env.canary.hits
    ex = exchange(host, port, blobs, expect=expected_n, timeout=TIMEOUT_S,
                  linger=1.0 if case.expect.closed else 0.05,
                  tls=env.tls_context() if tls else None,
                  server_hostname=fill(case.request.sni or case.request.host, v) if tls else None)
    hits = env.backend_hits(nonce) if env.stub_admins else 0
    out = CaseOutcome(case, ex, hits, None)
    exps = case.expect.responses or (case.expect,)
    # "Never a 5xx" means never an unexpected one: a row may name a 5xx as the
    # right answer (nginx's 501 for an unknown Transfer-Encoding).
    allowed = {s for e in exps for s in e.status}
    out.five_xx = any(r.status >= 500 and r.status not in allowed for r in ex.responses)
    if ex.error == "timeout" and len(ex.responses) < len(exps):
        out.hang = True
        out.mismatch = (f"expected an answer within {TIMEOUT_S:.0f} s, got none "
                        f"(a hang; {len(ex.responses)} of {len(exps)} responses)")
    elif len(ex.responses) < len(exps):
        out.mismatch = (f"expected {len(exps)} response(s), got {len(ex.responses)} "
                        f"({ex.error or 'connection closed'}; leftover {ex.leftover[:120]!r})")
    else:
        for i, (exp, resp) in enumerate(zip(exps, ex.responses)):
            sent = blobs[i] if i < len(blobs) else blobs[-1]
            msg = _check_response(case, exp, sent, resp, ex.elapsed_ms, v)
            if msg:
                out.mismatch = (f"response {i + 1}: " if len(exps) > 1 else "") + msg
                break
    top = case.expect
    if out.mismatch is None and top.closed and not ex.closed:
        out.mismatch = "expected the gateway to close the connection, got it kept open"
    if out.mismatch is None and top.max_ms is not None and ex.elapsed_ms > top.max_ms:
        out.mismatch = f"expected an answer within {top.max_ms:.0f} ms, got {ex.elapsed_ms:.0f} ms"
    never = top.backend == "never" and all(e.backend == "never" for e in exps)
    if out.mismatch is None and never and hits:
        out.mismatch = f"expected the backend never to see it, got {hits} request(s) at the stubs"
    if out.mismatch is None and env.canary.hits > canary_before:
        out.mismatch = (f"expected no outbound request to {env.vars['ssrf_url']}, got "
                        f"{env.canary.hits - canary_before}")
    return out
