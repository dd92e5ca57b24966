from harness.deploy.metric_names import (
    EXTERNAL_METRICS,
    HISTOGRAM_BUCKETS,
    KONG_METRICS,
    allowed_series_names,
)


def test_every_kong_metric_has_the_kong_prefix_and_a_unique_name():
    names = [m.name for m in KONG_METRICS]
    assert len(names) == len(set(names))
    assert all(n.startswith("kong_") for n in names)


def test_histograms_expose_bucket_sum_and_count_series_but_not_the_bare_name():
    allowed = allowed_series_names()
    assert {"kong_request_latency_ms_bucket", "kong_request_latency_ms_sum",
            "kong_request_latency_ms_count"} <= allowed
    assert "kong_request_latency_ms" not in allowed


def test_per_consumer_label_is_on_requests_and_bandwidth_only():
    with_consumer = {m.name for m in KONG_METRICS if "consumer" in m.labels}
    assert with_consumer == {"kong_http_requests_total", "kong_bandwidth_bytes"}


def test_every_histogram_has_its_kong_buckets():
    histograms = {m.name for m in KONG_METRICS if m.type == "histogram"}
    assert histograms == set(HISTOGRAM_BUCKETS)
    assert HISTOGRAM_BUCKETS["kong_kong_latency_ms"][-1] == 6000


def test_external_metrics_are_optional_in_the_allowed_set():
    assert "redis_up" in allowed_series_names()
    assert not set(EXTERNAL_METRICS) & allowed_series_names(include_external=False)
