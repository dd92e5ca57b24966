"""Run bodies of the observability contracts: metrics and the JSON access log.

After known traffic the gateway's `kong_http_requests_total` (queried from
Prometheus with prometheus-api-client when the target has one, else read
from the gateway's /metrics) must grow by exactly that traffic per
service/route/code, and the access log must hold one line per request,
carrying its tenant.

Counts are exact, not "at least": a reading only counts once every gateway
instance was scraped *after* the moment it stands for (plus a settle time
for log phases that run after the response was sent), so neither a stale
baseline nor a late increment of an earlier case can shift the difference.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from harness.contracts.compare import Mismatch
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import await_convergence
from harness.contracts.expect import Request, TokenSpec
from harness.contracts.generators import host_cases, route_requests, stub_instances
from harness.errors import ContractMismatch

__all__ = ["MetricReader", "access_log_lines", "requests_are_counted"]

METRIC = "kong_http_requests_total"
# Exported by every Kong node whatever its traffic: its sample time is the node's last scrape.
SCRAPE_PROBE = "kong_datastore_reachable"
# Kong's log phase runs after the response is sent: what a reading waits for it.
LOG_SETTLE_S = 0.5

Labels = dict[str, str]


class MetricReader:
    """Reads counter sums that include everything that happened before a given moment."""

    def __init__(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx
        self._prom: Any = None
        t = ctx.target
        if t.prometheus_url:
            from prometheus_api_client import PrometheusConnect

            self._prom = PrometheusConnect(url=t.prometheus_url, disable_ssl=True,
                                           timeout=int(ctx.timeouts.request) or 1)
        elif not t.status_url:
            raise ContractMismatch(f"target {t.kind} exposes no metrics (no Prometheus, no "
                                   "status listener)")

    @property
    def source(self) -> str:
        return "prometheus" if self._prom is not None else "status /metrics"

    def close(self) -> None:
        if self._prom is not None:
            self._prom.close()  # its requests session would leak a socket otherwise

    def _query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._prom.custom_query(promql)
        return result

    def _scraped_after(self, moment: float) -> Mismatch | None:
        rows = self._query(f"min(timestamp({SCRAPE_PROBE}))")
        last = float(rows[0]["value"][1]) if rows else 0.0
        return None if last > moment else Mismatch(
            f"last scrape of every gateway instance ({SCRAPE_PROBE})",
            f"after {moment:.3f}", f"{last:.3f}")

    def _sums_prom(self, selections: list[Labels]) -> list[float]:
        out = []
        for labels in selections:
            sel = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            rows = self._query(f"sum({METRIC}{{{sel}}})")
            out.append(float(rows[0]["value"][1]) if rows else 0.0)
        return out

    def _sums_status(self, selections: list[Labels]) -> list[float]:
        from prometheus_client.parser import text_string_to_metric_families

        url = f"{self.ctx.target.status_url}/metrics"
        text = httpx.get(url, timeout=self.ctx.timeouts.request, trust_env=False).text
        totals = [0.0] * len(selections)
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name != METRIC:
                    continue
                for i, labels in enumerate(selections):
                    if all(s.labels.get(k) == v for k, v in labels.items()):
                        totals[i] += s.value
        return totals

    def sums_as_of(self, moment: float, selections: list[Labels],
                   max_time: float) -> list[float]:
        """Per selection, the sum of the metric with everything done before `moment`
        counted (0 when the series does not exist yet)."""
        if self._prom is not None:
            await_convergence(lambda: self._scraped_after(moment), self.ctx.timeouts,
                              what="a Prometheus scrape of every gateway instance",
                              required=1, max_time=max_time)
            return self._sums_prom(selections)
        # The status listener is read live: it has counted everything once `moment` passed.
        wait = moment - time.time()
        if wait > 0:
            time.sleep(wait)  # the log-phase settle bound, not a convergence guess
        return self._sums_status(selections)


def requests_are_counted(ctx: ScenarioContext) -> None:
    """N proxied requests and N refused ones show up as exactly +N per service/route/code."""
    gw = ctx.gateway
    hc = host_cases(gw)[-1]
    rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
    n = 5
    sends = (("200", TokenSpec(hc.tenant.id)), ("401", None))
    selections = [{"service": rr.view.service.name, "route": rr.view.name, "code": code}
                  for code, _ in sends]
    reader = MetricReader(ctx)
    limit = ctx.timeouts.metrics_scrape
    try:
        before = reader.sums_as_of(time.time() + LOG_SETTLE_S, selections, limit)
        for code, token in sends:
            req = Request(rr.method, hc.host, rr.path, token=token)
            statuses = [c.status for c in ctx.client.send_many([req] * n)]
            if statuses != [int(code)] * n:
                raise ContractMismatch(f"expected {n} answers {code} to count, got {statuses}")
        after = reader.sums_as_of(time.time() + LOG_SETTLE_S, selections, limit)
    finally:
        reader.close()
    for labels, b, a in zip(selections, before, after):
        if a - b != n:
            raise ContractMismatch(Mismatch(
                f"increase of {METRIC}{labels} ({reader.source})", str(n),
                f"{a - b:g} (from {b:g} to {a:g})").message)


def access_log_lines(ctx: ScenarioContext) -> None:
    """Every request leaves one JSON line in the access log, with the host's tenant."""
    gw = ctx.gateway
    path = Path(ctx.target.extra["access_log"])
    conf = next((sp.plugin.config for sp in gw.plugins_for(None)
                 if sp.name == "correlation-id"), None)
    id_header: str = getattr(conf, "header_name", None) or "X-Request-ID"
    wanted: dict[str, str] = {}
    for hc in host_cases(gw)[:3]:
        rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
        rid = f"contract-log-{uuid.uuid4().hex[:12]}"
        ctx.client.send(Request(rr.method, hc.host, rr.path, ((id_header, rid),),
                                token=TokenSpec(hc.tenant.id)))
        wanted[rid] = hc.tenant.id

    def logged() -> Mismatch | None:
        found: dict[str, list[object]] = {rid: [] for rid in wanted}
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for line in text.splitlines():
            if "contract-log-" not in line:
                continue
            entry = json.loads(line)
            rid = entry.get("request", {}).get("headers", {}).get(id_header.lower())
            if rid in found:
                found[rid].append((entry.get("tenant") or {}).get("id"))
        for rid, tenant in wanted.items():
            if found[rid] != [tenant]:
                return Mismatch(f"access log lines for request {rid}",
                                f"one line with tenant {tenant!r}", repr(found[rid]))
        return None

    await_convergence(logged, ctx.timeouts, what=f"access log lines in {path}", required=1)
