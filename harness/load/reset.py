"""Fresh rate-limit windows before a load run on a controllable target.

Kong's rate-limiting plugin (policy redis) keeps its counters in Redis under
`ratelimit:<route_id>:<service_id>:<identifier>:<window_start_ms>:<period>`;
the hour/day windows outlive a run, so a noisy-neighbour flood would exhaust a
basic tenant's hourly quota and make the next smoke run fail its limited-ratio
SLO. When the harness owns the stack, those keys are deleted before the run
(and the report says so); on a URL target nothing is touched and the report
says the counters may carry over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.model import Gateway
from harness.model.plugins import RateLimitingPlugin, RedisConfig

if TYPE_CHECKING:
    from harness.target import Target

__all__ = ["KEY_PATTERN", "reset_rate_limits"]

KEY_PATTERN = "ratelimit:*"
_MAX_KEYS = 1_000_000     # a bound on the scan: a shared Redis with more is not ours to sweep


def _redis_databases(gateway: Gateway) -> tuple[dict[int, RedisConfig], bool]:
    """Database -> Redis settings of the redis-policy rate-limiting plugins, and whether
    any uses `local`."""
    dbs: dict[int, RedisConfig] = {}
    local = False
    for sp in gateway.plugins:
        plugin = sp.plugin
        if not isinstance(plugin, RateLimitingPlugin) or not plugin.enabled:
            continue
        if plugin.config.policy == "redis":
            dbs.setdefault(plugin.config.redis.database, plugin.config.redis)
        else:
            local = True
    return dbs, local


def reset_rate_limits(target: Target, gateway: Gateway) -> str:
    """Delete the rate-limit counters of the target's Redis; a sentence for the report."""
    dbs, local = _redis_databases(gateway)
    note = (" (policy local counters live in the gateway process and are not reset)"
            if local else "")
    if not dbs:
        return "rate-limit counters not reset: no rate-limiting plugin uses policy redis" + note
    if target.stack is None:
        return ("rate-limit counters not reset: the target is not controllable, so counters "
                "of earlier runs may carry over" + note)
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        ep = target.stack.endpoint("redis")
    except Exception as exc:  # noqa: BLE001  (a stack without Redis is reported, not fatal)
        return f"rate-limit counters not reset: no Redis endpoint ({exc})" + note
    deleted = 0
    try:
        for db, cfg in sorted(dbs.items()):
            # Host and port from the stack (kong.yml names `redis:6379`); the rest from kong.yml.
            client = redis.Redis(host=ep.host, port=ep.port, db=db,
                                 username=cfg.username, password=cfg.password,
                                 socket_timeout=5, socket_connect_timeout=5,
                                 retry=Retry(NoBackoff(), 0))   # fail fast, say why
            try:
                batch: list[bytes] = []
                for i, key in enumerate(client.scan_iter(KEY_PATTERN, count=1000)):
                    if i >= _MAX_KEYS:
                        break
                    batch.append(key)
                    if len(batch) >= 1000:
                        deleted += int(client.delete(*batch))
                        batch = []
                if batch:
                    deleted += int(client.delete(*batch))
            finally:
                client.close()
    except Exception as exc:  # noqa: BLE001  (the run goes on; the report shows why)
        return (f"rate-limit counters NOT reset ({type(exc).__name__}: {exc}); counters of "
                "earlier runs may carry over" + note)
    where = ", ".join(str(d) for d in sorted(dbs))
    return (f"rate-limit counters reset: {deleted} Redis keys {KEY_PATTERN} "
            f"deleted ({ep.host}:{ep.port} db {where})" + note)
