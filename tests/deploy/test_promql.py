import pytest

from harness.deploy.promql import metric_names


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (service) (rate(kong_http_requests_total{code=~"5.."}[5m]))',
     {"kong_http_requests_total"}),
    ("histogram_quantile(0.99, sum by (service, le) (rate(kong_request_latency_ms_bucket[5m])))",
     {"kong_request_latency_ms_bucket"}),
    ('kong_upstream_target_health{state="unhealthy"} == 1', {"kong_upstream_target_health"}),
    ('label_replace(up{job="kong"} == 0, "tier", "$1", "consumer", "tier-(.+)")', {"up"}),
    ("a_total / on (instance) group_left (version) b_info", {"a_total", "b_info"}),
    ("rate(x_total[$__rate_interval]) offset 5m > bool 0.5e3", {"x_total"}),
    ('sum(rate(kong_bandwidth_bytes{consumer=~"$tier"}[1m])) and redis_up',
     {"kong_bandwidth_bytes", "redis_up"}),
])
def test_metric_names_finds_the_selected_series_and_nothing_else(expr, names):
    assert metric_names(expr) == names


def test_label_values_in_strings_are_not_mistaken_for_metrics():
    assert metric_names('kong_node_info{version="kong_fake_metric"}') == {"kong_node_info"}
