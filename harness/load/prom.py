"""Server-side figures for the run's window from Prometheus, beside the client's own.

Queries the Kong metrics of the prometheus plugin (kong-behaviour.md):
requests per route and code, request/Kong/upstream latency p95, upstream
target health over time. A large client/server disagreement is flagged: it
means either side miscounts (lost responses, a second client, a wrong scrape).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.reports.load import Comparison, Figures, PrometheusFigures

__all__ = ["compare_counts", "correlate"]

# Relative disagreement above which a figure is flagged (after ignoring small counts).
TOLERANCE = 0.10
MIN_COUNT = 20
# Seconds after the run's end before querying, so at least one scrape saw the final counters
# (the native stack scrapes every 2 s).
SCRAPE_MARGIN_S = 4.5


def _key(row: dict[str, Any]) -> tuple[str, str]:
    m = row["metric"]
    return m.get("route", "?"), m.get("code", "?")


def compare_counts(client: Mapping[str, Figures], server: Mapping[str, Mapping[str, float]]
                   ) -> list[Comparison]:
    out = []
    for route, fig in sorted(client.items()):
        codes = server.get(route)
        srv_total = sum(codes.values()) if codes else None
        srv_429 = codes.get("429", 0.0) if codes else None
        for what, mine, theirs in ((f"{route} requests", fig.requests, srv_total),
                                   (f"{route} 429s", fig.statuses.get("429", 0), srv_429)):
            flagged = theirs is None and mine >= MIN_COUNT
            if theirs is not None and max(mine, theirs) >= MIN_COUNT:
                flagged = abs(mine - theirs) / max(mine, theirs) > TOLERANCE
            out.append(Comparison(what=what, client=float(mine),
                                  server=None if theirs is None else round(theirs, 1),
                                  flagged=flagged))
    return out


def _vector(prom: Any, query: str, at: float) -> list[dict[str, Any]]:
    from datetime import datetime, timezone

    result: list[dict[str, Any]] = prom.custom_query(
        query=query, params={"time": datetime.fromtimestamp(at, timezone.utc).isoformat()})
    return result


def correlate(url: str | None, start: float, end: float,
              client_routes: Mapping[str, Figures]) -> PrometheusFigures:
    if not url:
        return PrometheusFigures(available=False, error="no Prometheus for this target")
    try:
        from prometheus_api_client import PrometheusConnect

        from urllib3.util.retry import Retry

        # One quick retry: a missing Prometheus must not hold up the report.
        prom = PrometheusConnect(url=url, disable_ssl=True, timeout=5,
                                 retry=Retry(total=1, backoff_factor=0.1))
        window = f"{max(int(end - start) + 1, 2)}s"
        # Counts: the counters after the run minus before it (exact, unlike increase()'s
        # extrapolation). Wait for a scrape after the end first.
        time.sleep(max(0.0, end + SCRAPE_MARGIN_S - time.time()))
        at = time.time()
        before = {_key(r): float(r["value"][1]) for r in _vector(
            prom, "sum by (route, code) (kong_http_requests_total)", start - 0.5)}
        by_route: dict[str, dict[str, float]] = {}
        for row in _vector(prom, "sum by (route, code) (kong_http_requests_total)", at):
            route, code = _key(row)
            delta = float(row["value"][1]) - before.get((route, code), 0.0)
            by_route.setdefault(route, {})[code] = max(delta, 0.0)
        lat: dict[str, dict[str, float]] = {}
        for name in ("request", "kong", "upstream"):
            q = (f"histogram_quantile(0.95, sum by (le, route) "
                 f"(rate(kong_{name}_latency_ms_bucket[{window}])))")
            for row in _vector(prom, q, at):
                value = float(row["value"][1])
                if value == value:   # NaN when no traffic
                    lat.setdefault(row["metric"].get("route", "?"), {})[name] = value
        health: dict[str, list[tuple[float, float]]] = {}
        from datetime import datetime, timezone

        rows = prom.custom_query_range(
            query='max by (target) (kong_upstream_target_health{state="healthy"})',
            start_time=datetime.fromtimestamp(start, timezone.utc),
            end_time=datetime.fromtimestamp(end, timezone.utc), step="1s")
        for row in rows:
            health[row["metric"].get("target", "?")] = [
                (round(float(t) - start, 1), float(v)) for t, v in row["values"]]
        return PrometheusFigures(available=True, url=url, requests_by_route_code=by_route,
                                 latency_p95_ms=lat, upstream_health=health,
                                 comparisons=compare_counts(client_routes, by_route))
    except Exception as exc:  # noqa: BLE001  (correlation is best effort; the run stands)
        return PrometheusFigures(available=False, url=url, error=f"{type(exc).__name__}: {exc}")
