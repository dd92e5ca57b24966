"""The Prometheus metrics the gateway exports: the one list every layer shares.

Kong's prometheus plugin (kong-behaviour.md §5) defines these names and labels;
the reference gateway exports the same ones, and the alert rules and Grafana
dashboard may only query names listed here (checked by `harness validate`).

Names, types and labels (`help` below; `workspace` label since Kong 3.7):

    kong_http_requests_total          counter   service route code source workspace consumer
    kong_kong_latency_ms              histogram service route workspace
    kong_upstream_latency_ms          histogram service route workspace
    kong_request_latency_ms           histogram service route workspace
    kong_bandwidth_bytes              counter   service route direction workspace consumer
    kong_upstream_target_health       gauge     upstream target address state subsystem
    kong_nginx_connections_total      gauge     node_id subsystem state
    kong_nginx_requests_total         gauge     node_id subsystem
    kong_nginx_timers                 gauge     state
    kong_datastore_reachable          gauge     (none)
    kong_node_info                    gauge     node_id version
    kong_memory_workers_lua_vms_bytes gauge     node_id pid kong_subsystem
    kong_memory_lua_shared_dict_bytes gauge     node_id shared_dict kong_subsystem
    kong_memory_lua_shared_dict_total_bytes  gauge  node_id shared_dict kong_subsystem

With kong.yml's `per_consumer: true` the `consumer` label holds the consumer
username; for tenant traffic that is the tier consumer `tier-<tier>` set by
the tenant-context plugin, so "per tier" queries select on `consumer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EXTERNAL_METRICS",
    "HISTOGRAM_BUCKETS",
    "KONG_METRICS",
    "Metric",
    "allowed_series_names",
]

MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str
    type: MetricType
    labels: tuple[str, ...]
    help: str

    def series_names(self) -> tuple[str, ...]:
        """Names that appear in the exposition (histograms add _bucket/_sum/_count)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


_REQ = ("service", "route", "workspace")

KONG_METRICS: tuple[Metric, ...] = (
    Metric("kong_http_requests_total", "counter",
           ("service", "route", "code", "source", "workspace", "consumer"),
           "HTTP status codes per consumer/service/route in Kong"),
    Metric("kong_kong_latency_ms", "histogram", _REQ,
           "Latency added by Kong and enabled plugins for each service/route in Kong"),
    Metric("kong_upstream_latency_ms", "histogram", _REQ,
           "Latency added by upstream response for each service/route in Kong"),
    Metric("kong_request_latency_ms", "histogram", _REQ,
           "Total latency incurred during requests for each service/route in Kong"),
    Metric("kong_bandwidth_bytes", "counter",
           ("service", "route", "direction", "workspace", "consumer"),
           "Total bandwidth (ingress/egress) throughput in bytes"),
    Metric("kong_upstream_target_health", "gauge",
           ("upstream", "target", "address", "state", "subsystem"),
           "Health status of targets of upstream"),
    Metric("kong_nginx_connections_total", "gauge", ("node_id", "subsystem", "state"),
           "Number of connections by subsystem"),
    Metric("kong_nginx_requests_total", "gauge", ("node_id", "subsystem"),
           "Number of requests total"),
    Metric("kong_nginx_timers", "gauge", ("state",), "Number of nginx timers"),
    Metric("kong_datastore_reachable", "gauge", (),
           "Datastore reachable from Kong, 0 is unreachable"),
    Metric("kong_node_info", "gauge", ("node_id", "version"), "Kong Node metadata information"),
    Metric("kong_memory_workers_lua_vms_bytes", "gauge", ("node_id", "pid", "kong_subsystem"),
           "Allocated bytes in worker Lua VM"),
    Metric("kong_memory_lua_shared_dict_bytes", "gauge",
           ("node_id", "shared_dict", "kong_subsystem"),
           "Allocated slabs in bytes in a shared_dict"),
    Metric("kong_memory_lua_shared_dict_total_bytes", "gauge",
           ("node_id", "shared_dict", "kong_subsystem"),
           "Total capacity in bytes of a shared_dict"),
)

# Histogram buckets (ms) as Kong prints them (3.9+: kong_latency up to 6000).
HISTOGRAM_BUCKETS: dict[str, tuple[int, ...]] = {
    "kong_kong_latency_ms": (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000,
                             3000, 6000),
    "kong_upstream_latency_ms": (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000,
                                 30000, 60000),
    "kong_request_latency_ms": (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000,
                                30000, 60000),
}

# Metrics from other exporters the monitoring config may use, with their source.
EXTERNAL_METRICS: dict[str, str] = {
    "up": "Prometheus (synthetic, per scrape target)",
    "redis_up": "oliver006/redis_exporter",
    "redis_rejected_connections_total": "oliver006/redis_exporter",
    "redis_connected_clients": "oliver006/redis_exporter",
}


def allowed_series_names(include_external: bool = True) -> frozenset[str]:
    names = {s for m in KONG_METRICS for s in m.series_names()}
    if include_external:
        names |= set(EXTERNAL_METRICS)
    return frozenset(names)
