"""Tenant Service: the PostgreSQL-backed tenant directory.

    python -m harness.services.tenant --host 127.0.0.1 --port P \
        --dsn postgresql://postgres@127.0.0.1:5432/postgres [--seed kong/tenants.yaml]

At start it applies kong/migrations/tenant-directory/*.sql in order and, with
--seed, loads the tenant directory from that file through harness.model (the
same SQL as the committed 900_seed.sql). API (common brief):

    GET   /v1/tenants/resolve?host=H   200 tenant | 404 {"message": "unknown host"}
    GET   /v1/tenant                   the tenant named by X-Tenant-ID (set by the gateway)
    GET   /health                      200 when PostgreSQL answers, else 503
    GET   /admin/tenants               every tenant
    POST  /admin/tenants               add one (same rules as kong/tenants.yaml)
    PATCH /admin/tenants/{id}          {"tier"?, "status"?}
    POST  /admin/reset                 reload the seed
    GET   /metrics                     Prometheus text
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import psycopg
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.model import Gateway, Tenant, load_gateway
from harness.services._http import HttpServer, Request, Response, json_response, run_servers
from harness.services.metrics import RequestMetrics
from harness.services.tenant_sql import migration_files, seed_sql

__all__ = ["TenantService", "main", "normalize_host"]

_SELECT = """
SELECT t.id, t.name, t.tier, t.status, t.subdomain,
       COALESCE(array_agg(d.domain ORDER BY d.domain) FILTER (WHERE d.domain IS NOT NULL),
                '{}') AS custom_domains
FROM tenants t LEFT JOIN tenant_domains d ON d.tenant_id = t.id
"""
_COLUMNS = ("id", "name", "tier", "status", "subdomain", "custom_domains")


def normalize_host(host: str) -> str:
    """Lower-case, no port, no trailing dot: how Host headers are compared."""
    host = host.strip().lower()
    if host.startswith("["):
        return host
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host.rstrip(".")


class _Pool:
    """A handful of async connections; a broken one is replaced on next use."""

    def __init__(self, dsn: str, size: int = 4) -> None:
        self.dsn = dsn
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any] | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = await self._idle.get()
        try:
            for attempt in (1, 2):
                fresh = conn is None or conn.closed
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                                connect_timeout=2)
                try:
                    cur = await conn.execute(sql, params)  # type: ignore[arg-type, unused-ignore]
                    return await cur.fetchall() if cur.description else []
                except psycopg.OperationalError:
                    await conn.close()
                    conn = None
                    # A pooled connection may have died with a PostgreSQL restart:
                    # retry once on a fresh one before reporting the directory down.
                    if fresh or attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            self._idle.put_nowait(conn)


class TenantService:
    def __init__(self, dsn: str, gateway: Gateway | None) -> None:
        self.dsn = dsn
        self.gateway = gateway
        self.pool = _Pool(dsn)
        self.metrics = RequestMetrics("tenant_service", {})

    async def migrate(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            for path in migration_files():
                await conn.execute(path.read_text().encode())
            if self.gateway is not None:
                await conn.execute(seed_sql(self.gateway.tenants).encode())

    # -- HTTP ------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        try:
            resp = await self._route(req)
        except psycopg.OperationalError as exc:
            resp = json_response({"message": "tenant directory unavailable",
                                  "detail": str(exc).strip()[:200]}, 503)
        except ValueError as exc:
            resp = json_response({"message": str(exc)}, 400)
        self.metrics.observe(req.path if resp.status != 404 else "unmatched", resp.status)
        return resp

    async def _route(self, req: Request) -> Response:
        m, path = req.method, req.path
        if path == "/v1/tenants/resolve" and m == "GET":
            hosts = parse_qs(req.raw_query).get("host")
            if not hosts:
                raise ValueError("query host: expected a host name, got nothing")
            tenant = await self.resolve(hosts[0])
            return json_response(tenant) if tenant else _unknown("unknown host")
        if path == "/v1/tenant" and m == "GET":
            tid = req.header("x-tenant-id")
            if not tid:
                raise ValueError("header X-Tenant-ID: expected a tenant id, got nothing")
            tenant = await self.get(tid)
            return json_response(tenant) if tenant else _unknown("unknown tenant")
        if path == "/health" and m == "GET":
            await self.pool.fetch("SELECT 1")
            return json_response({"status": "ok"})
        if path == "/metrics" and m == "GET":
            return Response(200, self.metrics.render().encode(), "text/plain; version=0.0.4")
        if path == "/admin/tenants":
            if m == "GET":
                rows = await self.pool.fetch(_SELECT + " GROUP BY t.id ORDER BY t.id")
                return json_response({"tenants": [await self._row(r) for r in rows]})
            if m == "POST":
                return await self.add(req.json())
        if path.startswith("/admin/tenants/") and m == "PATCH":
            return await self.patch(path.removeprefix("/admin/tenants/"), req.json())
        if path == "/admin/reset" and m == "POST":
            if self.gateway is None:
                raise ValueError("reset: the service was started without --seed")
            await self.pool.fetch(seed_sql(self.gateway.tenants))
            return json_response({"status": "reset",
                                  "tenants": len(self.gateway.tenants.tenants)})
        return json_response({"message": f"no route {m} {path}"}, 404)

    async def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(_COLUMNS, row, strict=True))

    async def base_domain(self) -> str:
        rows = await self.pool.fetch(
            "SELECT value FROM directory_settings WHERE key = 'base_domain'")
        return str(rows[0][0]) if rows else ""

    async def resolve(self, host: str) -> dict[str, Any] | None:
        host = normalize_host(host)
        base = await self.base_domain()
        sub = host[: -len(base) - 1] if base and host.endswith("." + base) else None
        rows = await self.pool.fetch(
            _SELECT + " WHERE (%s::text IS NOT NULL AND t.subdomain = %s) OR t.id IN "
            "(SELECT tenant_id FROM tenant_domains WHERE domain = %s) GROUP BY t.id",
            (sub, sub, host))
        return await self._row(rows[0]) if rows else None

    async def get(self, tenant_id: str) -> dict[str, Any] | None:
        rows = await self.pool.fetch(_SELECT + " WHERE t.id = %s GROUP BY t.id", (tenant_id,))
        return await self._row(rows[0]) if rows else None

    def _check_tier(self, tier: str, field: str) -> None:
        if self.gateway is not None and tier not in self.gateway.tiers.tiers:
            raise ValueError(f"{field}: expected a tier of kong/tiers.yaml "
                             f"({', '.join(self.gateway.tiers.tiers)}), got {tier!r}")

    async def add(self, body: Any) -> Response:
        try:
            tenant = Tenant.model_validate(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "tenant"
            raise ValueError(f"tenant.{where}: {err['msg']}, got {err.get('input')!r}") from None
        self._check_tier(tenant.tier, "tenant.tier")
        if await self.get(tenant.id):
            return json_response({"message": f"tenant {tenant.id!r} exists"}, 409)
        for host in [tenant.subdomain, *tenant.custom_domains]:
            taken = await self.pool.fetch(
                "SELECT id FROM tenants WHERE subdomain = %s UNION "
                "SELECT tenant_id FROM tenant_domains WHERE domain = %s", (host, host))
            if taken:
                return json_response({"message": f"{host!r} is already claimed by tenant "
                                                 f"{taken[0][0]!r}"}, 409)
        await self.pool.fetch(
            "INSERT INTO tenants (id, name, subdomain, tier, status) VALUES (%s,%s,%s,%s,%s)",
            (tenant.id, tenant.name, tenant.subdomain, tenant.tier, tenant.status))
        for d in tenant.custom_domains:
            await self.pool.fetch("INSERT INTO tenant_domains (domain, tenant_id) VALUES (%s,%s)",
                                  (d, tenant.id))
        return json_response(await self.get(tenant.id), 201)

    async def patch(self, tenant_id: str, body: Any) -> Response:
        if not isinstance(body, dict) or not body or set(body) - {"tier", "status"}:
            raise ValueError(f"patch: expected an object with tier and/or status, got {body!r}")
        if "tier" in body:
            if not isinstance(body["tier"], str):
                raise ValueError(f"patch.tier: expected a tier name, got {body['tier']!r}")
            self._check_tier(body["tier"], "patch.tier")
        if "status" in body and body["status"] not in ("active", "suspended"):
            raise ValueError(f"patch.status: expected 'active' or 'suspended', "
                             f"got {body['status']!r}")
        sets = ", ".join(f"{k} = %s" for k in sorted(body))
        rows = await self.pool.fetch(
            f"UPDATE tenants SET {sets}, updated_at = now() WHERE id = %s RETURNING id",
            (*[body[k] for k in sorted(body)], tenant_id))
        if not rows:
            return _unknown("unknown tenant")
        return json_response(await self.get(tenant_id))


def _unknown(message: str) -> Response:
    return json_response({"message": message}, 404)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.services.tenant")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dsn", required=True)
    p.add_argument("--seed", type=Path, help="tenant directory YAML to load (kong/tenants.yaml)")
    p.add_argument("--root", type=Path, help="repo root for kong.yml/tiers (default: seed/..)")
    args = p.parse_args(argv)
    gateway = None
    if args.seed is not None:
        root = args.root or args.seed.resolve().parent.parent
        try:
            gateway = load_gateway(root, tenants=args.seed)
        except ConfigError as exc:
            print(f"tenant-service: error: {exc}", file=sys.stderr)
            return 2
    service = TenantService(args.dsn, gateway)
    run_servers([HttpServer(service.handle, args.host, args.port)], "tenant-service",
                setup=service.migrate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
