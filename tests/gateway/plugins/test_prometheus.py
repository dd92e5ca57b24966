"""prometheus plugin: Kong's metric names, labels and buckets (kong-behaviour.md §5)."""

from __future__ import annotations

import pytest
from plugin_helpers import make_ctx, make_request

from harness.gateway.plugin_api import Headers, Response
from harness.gateway.plugins.prometheus import PrometheusPlugin
from harness.model.plugins import PrometheusConfig

pytestmark = pytest.mark.observability

ALL = PrometheusConfig(per_consumer=True, status_code_metrics=True, latency_metrics=True,
                       bandwidth_metrics=True, upstream_health_metrics=True)


class FakeBalancer:
    def health(self):
        return [("user-1:8080", "127.0.0.1:9001", "healthy"),
                ("user-2:8080", "127.0.0.1:9002", "unhealthy")]


def scrape(runtime) -> str:
    status, headers, body = runtime.status_routes["/metrics"]()
    assert status == 200 and headers == [("Content-Type", "text/plain; charset=UTF-8")]
    return body.decode()


def log_one(p, gateway, status=200, source="service", consumer="tier-pro"):
    ctx = make_ctx(gateway)
    ctx.consumer = gateway.consumers[consumer] if consumer else None
    ctx.upstream_latency_ms, ctx.proxy_latency_ms = 30, 3
    ctx.bytes_in, ctx.bytes_out = 100, 250
    p.log(make_request(), Response(status, Headers(), source=source), ctx)


def test_requests_counted_with_kongs_labels(runtime, gateway):
    p = PrometheusPlugin(ALL, runtime)
    log_one(p, gateway)
    log_one(p, gateway)
    log_one(p, gateway, status=429, source="kong")
    text = scrape(runtime)
    assert ('kong_http_requests_total{service="user-service",route="users",code="200",'
            'source="service",workspace="default",consumer="tier-pro"} 2') in text
    assert ('kong_http_requests_total{service="user-service",route="users",code="429",'
            'source="kong",workspace="default",consumer="tier-pro"} 1') in text
    assert "# TYPE kong_http_requests_total counter" in text


def test_latency_histograms_use_kongs_buckets(runtime, gateway):
    p = PrometheusPlugin(ALL, runtime)
    log_one(p, gateway)
    text = scrape(runtime)
    base = 'service="user-service",route="users",workspace="default"'
    assert f'kong_kong_latency_ms_bucket{{{base},le="2"}} 0' in text
    assert f'kong_kong_latency_ms_bucket{{{base},le="5"}} 1' in text
    assert f'kong_kong_latency_ms_bucket{{{base},le="6000"}} 1' in text
    assert f'kong_upstream_latency_ms_bucket{{{base},le="25"}} 0' in text
    assert f'kong_upstream_latency_ms_bucket{{{base},le="50"}} 1' in text
    assert f'kong_upstream_latency_ms_bucket{{{base},le="+Inf"}} 1' in text
    assert f"kong_upstream_latency_ms_sum{{{base}}} 30" in text
    assert f"kong_upstream_latency_ms_count{{{base}}} 1" in text
    assert f"kong_request_latency_ms_count{{{base}}} 1" in text


def test_bandwidth_and_consumer_label_off_without_per_consumer(runtime, gateway):
    p = PrometheusPlugin(ALL.model_copy(update={"per_consumer": False}), runtime)
    log_one(p, gateway)
    text = scrape(runtime)
    assert ('kong_bandwidth_bytes{service="user-service",route="users",direction="ingress",'
            'workspace="default",consumer=""} 100') in text
    assert 'direction="egress",workspace="default",consumer=""} 250' in text


def test_per_request_metrics_are_opt_in(runtime, gateway):
    p = PrometheusPlugin(PrometheusConfig(), runtime)
    log_one(p, gateway)
    text = scrape(runtime)
    assert "kong_http_requests_total" not in text and "kong_kong_latency_ms" not in text
    assert "kong_datastore_reachable 1" in text and "kong_node_info{" in text


def test_upstream_target_health_has_one_series_per_state(runtime, gateway):
    runtime.balancers["user-upstream"] = FakeBalancer()
    PrometheusPlugin(ALL, runtime)
    text = scrape(runtime)
    assert ('kong_upstream_target_health{upstream="user-upstream",target="user-1:8080",'
            'address="127.0.0.1:9001",state="healthy",subsystem="http"} 1') in text
    assert ('kong_upstream_target_health{upstream="user-upstream",target="user-2:8080",'
            'address="127.0.0.1:9002",state="healthy",subsystem="http"} 0') in text
    assert 'target="user-2:8080",address="127.0.0.1:9002",state="unhealthy",' in text
