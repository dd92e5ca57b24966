"""Kong's rate-limiting plugin (priority 910): kong-behaviour.md §3.

Fixed windows aligned to UTC; policies `local` (per process, like Kong's shm
per node) and `redis` with synchronous counting (sync_rate -1): one script
INCRs every window and the decision uses the pre-increment values, so rejected
requests count too, as in Kong. Counter key:
`ratelimit:<route_id>:<service_id>:<identifier>:<window_start_ms>:<period>`.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from harness.errors import ConfigError
from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request, Response
from harness.gateway.plugins._kong import ZERO_UUID, PluginCrash, consumer_id, entity_id
from harness.gateway.plugins._redis import RedisClient, RedisError
from harness.gateway.plugins._runtime import log
from harness.model.plugins import PLUGIN_PRIORITIES, RateLimitingConfig

__all__ = ["EXPIRATION", "RateLimitingPlugin", "window_starts"]

# kong/plugins/rate-limiting/expiration.lua
EXPIRATION = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
              "month": 2592000, "year": 31536000}
_LIMIT_HDR = {p: f"X-RateLimit-Limit-{p.capitalize()}" for p in EXPIRATION}
_REMAIN_HDR = {p: f"X-RateLimit-Remaining-{p.capitalize()}" for p in EXPIRATION}

_last_starts: tuple[int, dict[str, int]] = (-1, {})


def window_starts(now_s: int) -> dict[str, int]:
    """kong/tools/timestamp.lua get_timestamps: window starts (epoch ms), UTC calendar."""
    global _last_starts
    if _last_starts[0] == now_s:
        return _last_starts[1]
    t = time.gmtime(now_s)
    day = now_s - now_s % 86400
    out = {
        "second": now_s * 1000,
        "minute": (now_s - now_s % 60) * 1000,
        "hour": (now_s - now_s % 3600) * 1000,
        "day": day * 1000,
        "month": calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)) * 1000,
        "year": calendar.timegm((t.tm_year, 1, 1, 0, 0, 0)) * 1000,
    }
    _last_starts = (now_s, out)
    return out


class _LocalCounters:
    """Kong's shm `kong_rate_limiting_counters`: one per node (here: process)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[int, float]] = {}
        self._sweep_at = 0.0

    def get(self, key: str, now: float) -> int:
        got = self.values.get(key)
        return got[0] if got is not None and got[1] > now else 0

    def incr(self, key: str, ttl: int, now: float) -> None:
        got = self.values.get(key)
        if got is None or got[1] <= now:
            self.values[key] = (1, now + ttl)
        else:
            self.values[key] = (got[0] + 1, got[1])
        if now >= self._sweep_at:  # drop expired windows now and then (bounded memory)
            self._sweep_at = now + 5
            self.values = {k: v for k, v in self.values.items() if v[1] > now}


LOCAL_COUNTERS = _LocalCounters()
_REDIS_CLIENTS: dict[tuple[Any, ...], RedisClient] = {}


def _redis_client(runtime: Any, cfg: RateLimitingConfig) -> RedisClient:
    r = cfg.redis
    if r.ssl:
        raise ConfigError("kong.yml", "plugins.rate-limiting.config.redis.ssl",
                          "false (TLS to Redis is not implemented by the reference gateway)",
                          r.ssl)
    host, port = runtime.resolve(r.host or "", r.port)
    key = (host, port, r.database, r.username, r.password, r.timeout)
    client = _REDIS_CLIENTS.get(key)
    if client is None:
        client = RedisClient(host, port, timeout=r.timeout / 1000, database=r.database,
                             username=r.username, password=r.password)
        _REDIS_CLIENTS[key] = client
    return client


class RateLimitingPlugin(Plugin):
    name = "rate-limiting"
    priority = PLUGIN_PRIORITIES["rate-limiting"]
    config: RateLimitingConfig

    def __init__(self, config: RateLimitingConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        self._limits = list(config.limits().items())  # smallest window first
        self._ttls = [EXPIRATION[p] for p, _ in self._limits]
        # The plugin entity's own scope (unscoped / consumer-scoped: zero UUIDs).
        self.route_id = ZERO_UUID
        self.service_id = ZERO_UUID
        self._redis = _redis_client(runtime, config) if config.policy == "redis" else None
        # Keys (and the Redis command carrying them) per identifier, for the current
        # second only: under load most requests of a second share their identifier.
        self._keys_second = -1
        self._keys_of: dict[str, tuple[list[str], bytes | None]] = {}
        self._limit_texts = [(_LIMIT_HDR[p], str(limit), _REMAIN_HDR[p])
                             for p, limit in self._limits]

    def _identifier(self, req: Request, ctx: Ctx) -> str:
        by = self.config.limit_by
        ident: str | None = None
        if by == "header":
            ident = req.headers.get(self.config.header_name or "")
        elif by == "consumer":
            ident = consumer_id(ctx.consumer) if ctx.consumer else ctx.credential
        elif by == "credential":
            ident = ctx.credential
        elif by == "service":
            if ctx.route is not None:
                svc = ctx.route.service
                ident = entity_id("services", svc.name, svc.id)
        elif by == "path":
            if req.path == self.config.path:
                ident = req.path
        return ident or req.client_ip

    def _keys(self, ident: str, now_s: int) -> tuple[list[str], bytes | None]:
        if now_s != self._keys_second:
            self._keys_second, self._keys_of = now_s, {}
        got = self._keys_of.get(ident)
        if got is None:
            starts = window_starts(now_s)
            prefix = f"ratelimit:{self.route_id}:{self.service_id}:{ident}:"
            keys = [f"{prefix}{starts[p]}:{p}" for p, _ in self._limits]
            payload = (self._redis.incr_windows_payload(keys, self._ttls)
                       if self._redis is not None else None)
            got = (keys, payload)
            if len(self._keys_of) < 4096:   # bounded: clients choose identifiers
                self._keys_of[ident] = got
        return got

    async def _usage(self, keys: list[str], payload: bytes | None) -> list[int]:
        if self._redis is not None:
            return await self._redis.incr_windows(keys, self._ttls, payload)
        now = time.monotonic()
        return [LOCAL_COUNTERS.get(k, now) for k in keys]

    async def access(self, req: Request, ctx: Ctx) -> None:
        cfg = self.config
        now_s = int(time.time())  # ngx.time()
        keys, payload = self._keys(self._identifier(req, ctx), now_s)
        try:
            usages = await self._usage(keys, payload)
        except RedisError as exc:
            if not cfg.fault_tolerant:
                raise PluginCrash(f"rate-limiting: failed to get usage: {exc}") from exc
            log.error("rate-limiting: failed to get usage: %s", exc)
            return  # fault tolerant: proxied, no rate-limit headers at all
        stop: str | None = None
        remaining_of: list[int] = []
        for (period, limit), used in zip(self._limits, usages):
            remaining = limit - used
            remaining_of.append(remaining)
            if remaining <= 0:
                stop = period  # the last exceeded window, in window order
        if stop is None and self._redis is None:
            now = time.monotonic()
            for key, ttl in zip(keys, self._ttls):
                LOCAL_COUNTERS.incr(key, ttl, now)

        headers: list[tuple[str, str]] = []
        best: tuple[int, int, int] | None = None  # remaining, window, limit
        reset = 1
        starts = window_starts(now_s)
        for (period, limit), remaining, (limit_hdr, limit_text, remain_hdr) in zip(
                self._limits, remaining_of, self._limit_texts):
            if stop is None or stop == period:
                remaining -= 1
            remaining = max(0, remaining)
            window = EXPIRATION[period]
            if best is None or remaining < best[0] or (remaining == best[0] and window > best[1]):
                best = (remaining, window, limit)
                reset = max(1, window - (now_s * 1000 - starts[period]) // 1000)
            headers.append((limit_hdr, limit_text))
            headers.append((remain_hdr, str(remaining)))
        assert best is not None
        headers += [("RateLimit-Limit", str(best[2])), ("RateLimit-Remaining", str(best[0])),
                    ("RateLimit-Reset", str(reset))]
        if cfg.hide_client_headers:
            headers = []
        if stop is not None:
            headers.append(("Retry-After", str(reset)))
            raise Exit.error(cfg.error_code, cfg.error_message, headers)
        if headers:
            ctx.plugin.setdefault(self.name, {})["headers"] = headers

    def header_filter(self, req: Request, resp: Response, ctx: Ctx) -> None:
        mine = ctx.plugin.get(self.name)
        if mine is not None:
            headers = mine.get("headers")
            if headers:
                resp.headers.set_many(headers, [name.lower() for name, _ in headers])
