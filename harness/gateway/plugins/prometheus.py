"""Kong's prometheus plugin (priority 13, log phase): kong-behaviour.md §5.

Per-request cost is a few dict increments; the exposition text is rendered on
scrape, at GET /metrics of the status listener (runtime.register_status_route).
One metrics store per runtime (process), shared by every prometheus instance.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from typing import Any

from harness.gateway.plugin_api import Ctx, Plugin, Request, Response
from harness.model.plugins import PLUGIN_PRIORITIES, PrometheusConfig

__all__ = ["KONG_LATENCY_BUCKETS", "Metrics", "PrometheusPlugin", "UPSTREAM_LATENCY_BUCKETS"]

KONG_LATENCY_BUCKETS = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
UPSTREAM_LATENCY_BUCKETS = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000,
                            60000)
_STATES = ("healthchecks_off", "healthy", "unhealthy", "dns_error")
WORKSPACE = "default"

_HELP = {
    "kong_bandwidth_bytes": ("counter", "Total bandwidth (ingress/egress) throughput in bytes"),
    "kong_datastore_reachable": ("gauge", "Datastore reachable from Kong, 0 is unreachable"),
    "kong_http_requests_total": ("counter", "HTTP status codes per consumer/service/route in "
                                 "Kong"),
    "kong_kong_latency_ms": ("histogram", "Latency added by Kong and enabled plugins for each "
                             "service/route in Kong"),
    "kong_nginx_connections_total": ("gauge", "Number of connections by subsystem"),
    "kong_nginx_requests_total": ("gauge", "Number of requests total"),
    "kong_node_info": ("gauge", "Kong Node metadata information"),
    "kong_request_latency_ms": ("histogram", "Total latency incurred during requests for each "
                                "service/route in Kong"),
    "kong_upstream_latency_ms": ("histogram", "Latency added by upstream response for each "
                                 "service/route in Kong"),
    "kong_upstream_target_health": ("gauge", "Health status of targets of upstream. States = "
                                    "healthchecks_off|healthy|unhealthy|dns_error, value is 1 "
                                    "when state is populated."),
}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_esc(v)}"' for n, v in zip(names, values))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class _Histogram:
    def __init__(self, buckets: tuple[int, ...]) -> None:
        self.buckets = buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:  # per-bucket counts, then +Inf, count and sum
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        s[bisect.bisect_left(self.buckets, value)] += 1
        s[-1] += value

    def render(self, name: str, names: tuple[str, ...], out: list[str]) -> None:
        for labels, s in sorted(self.series.items()):
            base = _labels(names, labels)
            acc = 0.0
            for i, le in enumerate(self.buckets):
                acc += s[i]
                out.append(f'{name}_bucket{{{base},le="{le}"}} {_num(acc)}')
            acc += s[len(self.buckets)]
            out.append(f'{name}_bucket{{{base},le="+Inf"}} {_num(acc)}')
            out.append(f"{name}_count{{{base}}} {_num(acc)}")
            out.append(f"{name}_sum{{{base}}} {_num(s[-1])}")


class Metrics:
    """The per-process store behind /metrics."""

    REQ_LABELS = ("service", "route", "code", "source", "workspace", "consumer")
    LAT_LABELS = ("service", "route", "workspace")
    BW_LABELS = ("service", "route", "direction", "workspace", "consumer")

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.requests: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.bandwidth: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.kong_latency = _Histogram(KONG_LATENCY_BUCKETS)
        self.upstream_latency = _Histogram(UPSTREAM_LATENCY_BUCKETS)
        self.request_latency = _Histogram(UPSTREAM_LATENCY_BUCKETS)
        self.upstream_health = False
        self.nginx_requests = 0

    def render(self) -> str:
        out: list[str] = []

        def head(name: str) -> None:
            kind, text = _HELP[name]
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        if self.bandwidth:
            head("kong_bandwidth_bytes")
            for labels, v in sorted(self.bandwidth.items()):
                out.append(f"kong_bandwidth_bytes{{{_labels(self.BW_LABELS, labels)}}} {v}")
        head("kong_datastore_reachable")
        out.append("kong_datastore_reachable 1")  # DB-less: the declarative config is loaded
        if self.requests:
            head("kong_http_requests_total")
            for labels, v in sorted(self.requests.items()):
                out.append(f"kong_http_requests_total{{{_labels(self.REQ_LABELS, labels)}}} {v}")
        for name, hist in (("kong_kong_latency_ms", self.kong_latency),
                           ("kong_request_latency_ms", self.request_latency),
                           ("kong_upstream_latency_ms", self.upstream_latency)):
            if hist.series:
                head(name)
                hist.render(name, self.LAT_LABELS, out)
        rt = self.runtime
        node_id = str(getattr(rt, "node_id", "") or f"replica-{getattr(rt, 'replica_id', 0)}")
        stats = getattr(rt, "stats", None)
        if stats is not None:
            head("kong_nginx_connections_total")
            for state, attr in (("accepted", "connections_accepted"),
                                ("active", "connections_active"),
                                ("handled", "connections_handled"),
                                ("reading", "connections_reading"),
                                ("total", "connections_accepted"),
                                ("waiting", "connections_waiting"),
                                ("writing", "connections_writing")):
                out.append(f'kong_nginx_connections_total{{node_id="{_esc(node_id)}",'
                           f'subsystem="http",state="{state}"}} {int(getattr(stats, attr, 0))}')
        head("kong_nginx_requests_total")
        total = getattr(rt, "requests_total", None)
        out.append(f'kong_nginx_requests_total{{node_id="{_esc(node_id)}",subsystem="http"}} '
                   f"{total if isinstance(total, int) else self.nginx_requests}")
        head("kong_node_info")
        out.append(f'kong_node_info{{node_id="{_esc(node_id)}",'
                   f'version="{_esc(str(getattr(rt, "version", "")))}"}} 1')
        if self.upstream_health:
            self._render_health(out, head)
        return "\n".join(out) + "\n"

    def _render_health(self, out: list[str], head: Any) -> None:
        rows: list[str] = []
        for upstream, balancer in sorted(dict(getattr(self.runtime, "balancers", {})).items()):
            for target, address, state in balancer.health():
                for s in _STATES:
                    labels = _labels(("upstream", "target", "address", "state", "subsystem"),
                                     (upstream, target, address, s, "http"))
                    rows.append(f"kong_upstream_target_health{{{labels}}} "
                                f"{1 if s == state else 0}")
        if rows:
            head("kong_upstream_target_health")
            out.extend(rows)

    def status_route(self) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [("Content-Type", "text/plain; charset=UTF-8")], self.render().encode()


_STORES: dict[int, tuple[Any, Metrics]] = {}


def metrics_for(runtime: Any) -> Metrics:
    """The runtime's store, created (and /metrics registered) on first use."""
    got = _STORES.get(id(runtime))
    if got is not None and got[0] is runtime:
        return got[1]
    store = Metrics(runtime)
    _STORES[id(runtime)] = (runtime, store)
    runtime.register_status_route("/metrics", store.status_route)
    return store


class PrometheusPlugin(Plugin):
    name = "prometheus"
    priority = PLUGIN_PRIORITIES["prometheus"]
    config: PrometheusConfig

    def __init__(self, config: PrometheusConfig, runtime: Any) -> None:
        super().__init__(config, runtime)
        self.metrics = metrics_for(runtime)
        if config.upstream_health_metrics:
            self.metrics.upstream_health = True  # global once any instance enables it

    def log(self, req: Request, resp: Response, ctx: Ctx) -> None:
        m, cfg = self.metrics, self.config
        m.nginx_requests += 1
        if ctx.route is None:
            return  # requests without a matched route are not in per-route metrics
        svc = ctx.route.service
        service = svc.name or svc.host
        route = ctx.route.route.name or (ctx.route.route.id or "")
        consumer = ctx.consumer.username if (cfg.per_consumer and ctx.consumer) else ""
        if cfg.status_code_metrics:
            source = "service" if resp.source == "service" else "kong"
            m.requests[(service, route, str(resp.status), source, WORKSPACE, consumer)] += 1
        if cfg.latency_metrics:
            lat = (service, route, WORKSPACE)
            m.request_latency.observe(lat, (time.time() - ctx.started_at) * 1000)
            if ctx.upstream_latency_ms is not None and ctx.upstream_latency_ms >= 0:
                m.upstream_latency.observe(lat, ctx.upstream_latency_ms)
            if ctx.proxy_latency_ms is not None and ctx.proxy_latency_ms >= 0:
                m.kong_latency.observe(lat, ctx.proxy_latency_ms)
        if cfg.bandwidth_metrics:
            m.bandwidth[(service, route, "ingress", WORKSPACE, consumer)] += ctx.bytes_in
            m.bandwidth[(service, route, "egress", WORKSPACE, consumer)] += ctx.bytes_out
