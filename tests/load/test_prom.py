from harness.load.prom import compare_counts, correlate
from harness.reports.load import Figures


def _fig(requests: int, n429: int = 0) -> Figures:
    return Figures(requests=requests, ok=requests - n429, limited=n429, failed=0, rps=1.0,
                   error_ratio=0.0, limited_ratio=0.0, latency=None, latency_all=None,
                   statuses={"200": requests - n429, "429": n429} if n429 else
                   {"200": requests})


def test_client_and_server_counts_that_agree_are_not_flagged():
    rows = compare_counts({"users": _fig(100, 10)}, {"users": {"200": 91.0, "429": 10.0}})
    assert [r.flagged for r in rows] == [False, False]


def test_a_large_disagreement_is_flagged_and_small_counts_are_ignored():
    rows = {r.what: r for r in compare_counts(
        {"users": _fig(100), "crm": _fig(5)}, {"users": {"200": 60.0}, "crm": {"200": 1.0}})}
    assert rows["users requests"].flagged and not rows["crm requests"].flagged
    missing = compare_counts({"files": _fig(50)}, {})
    assert missing[0].flagged and missing[0].server is None


def test_without_a_prometheus_url_the_figures_say_why():
    figs = correlate(None, 0, 1, {})
    assert not figs.available and figs.error == "no Prometheus for this target"


def test_an_unreachable_prometheus_is_reported_not_raised():
    figs = correlate("http://127.0.0.1:9", 0, 0.1, {})
    assert not figs.available and figs.error
