"""Run bodies of the observability contracts: metrics and the JSON access log.

After known traffic the gateway's `kong_http_requests_total` (queried from
Prometheus with prometheus-api-client when the target has one, else read
from the gateway's /metrics) must grow by exactly that traffic per
service/route/code, and the access log must hold one line per request,
carrying its tenant.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from harness.contracts.compare import Mismatch
from harness.contracts.context import ScenarioContext
from harness.contracts.converge import await_convergence
from harness.contracts.expect import Request, TokenSpec
from harness.contracts.generators import host_cases, route_requests, stub_instances
from harness.errors import ContractMismatch

__all__ = ["access_log_lines", "metric_sum", "requests_are_counted"]

METRIC = "kong_http_requests_total"


def metric_sum(ctx: ScenarioContext, name: str, labels: dict[str, str]) -> float:
    """Sum of a metric's samples with these labels (0 when the series does not exist)."""
    t = ctx.target
    if t.prometheus_url:
        from prometheus_api_client import PrometheusConnect

        sel = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        result = PrometheusConnect(url=t.prometheus_url, disable_ssl=True).custom_query(
            f"sum({name}{{{sel}}})")
        return float(result[0]["value"][1]) if result else 0.0
    if not t.status_url:
        raise ContractMismatch(f"target {t.kind} exposes no metrics (no Prometheus, no status "
                               "listener)")
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{t.status_url}/metrics", timeout=ctx.timeouts.request).text
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def requests_are_counted(ctx: ScenarioContext) -> None:
    """N proxied requests and N refused ones show up as +N per service/route/code."""
    gw = ctx.gateway
    hc = host_cases(gw)[-1]
    rr = next(r for r in route_requests(gw, hc.host) if stub_instances(r.view))
    n = 5
    for code, token in (("200", TokenSpec(hc.tenant.id)), ("401", None)):
        labels = {"service": rr.view.service.name, "route": rr.view.name, "code": code}
        before = metric_sum(ctx, METRIC, labels)
        req = Request(rr.method, hc.host, rr.path, token=token)
        statuses = [c.status for c in ctx.client.send_many([req] * n)]
        if statuses != [int(code)] * n:
            raise ContractMismatch(f"expected {n} answers {code} to count, got {statuses}")

        def counted(labels: dict[str, str] = labels, before: float = before) -> Mismatch | None:
            got = metric_sum(ctx, METRIC, labels) - before
            return None if got == n else Mismatch(
                f"increase of {METRIC}{labels}", str(n), f"{got:g}")

        await_convergence(counted, ctx.timeouts, what=f"{METRIC} +{n} for code {code}",
                          required=2, max_time=ctx.timeouts.metrics_scrape)


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
