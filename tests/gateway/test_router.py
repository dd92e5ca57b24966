"""kong-behaviour.md §1.3 (matching) and §1.4 (priority), traditional_compatible."""

from __future__ import annotations

from typing import Any

import pytest

from harness.gateway.router import Router
from harness.model import Route, RouteView, Service

pytestmark = pytest.mark.routing

SVC = Service(name="s", host="example")


def view(name: str, **kw: Any) -> RouteView:
    return RouteView(Route(name=name, **kw), SVC, None)


def matched(router: Router, path: str, host: str = "a.example.com", method: str = "GET",
            port: int = 8000) -> str | None:
    m = router.match(method, host, port, path)
    return m.view.name if m else None


def test_plain_path_is_a_string_prefix_not_segment_aware():
    # §1.3 row "paths plain": /foo matches /foo, /foo/, /foo/bar and /foobar
    r = Router([view("r", paths=["/foo"])])
    for p in ("/foo", "/foo/", "/foo/bar", "/foobar"):
        assert matched(r, p) == "r"
    assert matched(r, "/fo") is None


def test_trailing_slash_route_does_not_match_the_bare_path():
    # §1.3 row "paths plain": route /foo/ does not match /foo
    r = Router([view("r", paths=["/foo/"])])
    assert matched(r, "/foo") is None
    assert matched(r, "/foo/x") == "r"


def test_regex_path_is_anchored_at_start_only_with_named_groups():
    # §1.3 row "paths regex": anchored at start, (?<n>...) groups
    r = Router([view("r", paths=[r"~/inv/(?<id>\d+)"])])
    m = r.match("GET", "h", 80, "/inv/42/more")
    assert m is not None and m.captures == {"id": "42"} and m.prefix == "/inv/42"
    assert matched(r, "/x/inv/42") is None


def test_wildcard_hosts_match_suffix_and_prefix_including_multi_label():
    # §1.3 rows "hosts *.example.com" and "hosts example.*"
    r = Router([view("suffix", hosts=["*.example.com"]), view("prefix", hosts=["api.*"])])
    assert matched(r, "/", host="a.example.com") == "suffix"
    assert matched(r, "/", host="a.b.example.com") == "suffix"
    assert matched(r, "/", host="example.com") is None
    assert matched(r, "/", host="api.other.org") == "prefix"


def test_host_with_port_also_requires_the_destination_port():
    # §1.3 row "hosts with :port"
    r = Router([view("r", hosts=["h.test:8443"])])
    assert matched(r, "/", host="h.test", port=8443) == "r"
    assert matched(r, "/", host="h.test", port=8000) is None


def test_method_mismatch_gives_no_match():
    # §1.2: method mismatch yields the same 404 (no 405)
    r = Router([view("r", paths=["/x"], methods=["POST"])])
    assert matched(r, "/x", method="GET") is None
    assert matched(r, "/x", method="POST") == "r"


def test_more_criteria_win_over_fewer():
    # §1.4 item 1: match_weight
    r = Router([view("paths-only", paths=["/api/users"]),
                view("host-and-path", hosts=["*.example.com"], paths=["/api"])])
    assert matched(r, "/api/users") == "host-and-path"


def test_plain_hosts_beat_wildcard_hosts():
    # §1.4 item 2: plain-hosts-only bit
    r = Router([view("wild", hosts=["*.example.com"], paths=["/a"]),
                view("plain", hosts=["a.example.com"], paths=["/a"])])
    assert matched(r, "/a") == "plain"
    assert matched(r, "/a", host="b.example.com") == "wild"


def test_regex_path_outranks_plain_prefix_at_equal_weight():
    # §1.4 item 4: regex bit
    r = Router([view("plain", paths=["/api/billing/invoices/"]),
                view("regex", paths=[r"~/api/billing/invoices/\d+$"])])
    assert matched(r, "/api/billing/invoices/7") == "regex"
    assert matched(r, "/api/billing/invoices/x") == "plain"


def test_higher_regex_priority_wins_between_regexes():
    # §1.4 item 5: regex_priority
    r = Router([view("low", paths=[r"~/a/\w+"]),
                view("high", paths=[r"~/a/\d+"], regex_priority=5)])
    assert matched(r, "/a/12") == "high"


def test_longest_plain_prefix_wins_and_routes_split_per_path_length():
    # §1.4 item 6 and the per-path split [Δ 3.3]
    r = Router([view("multi", paths=["/a", "/a/b/c/d"]), view("mid", paths=["/a/b"])])
    assert matched(r, "/a/b/c/d/e") == "multi"
    assert matched(r, "/a/b/x") == "mid"
    assert matched(r, "/a/x") == "multi"


def test_ties_go_to_the_higher_route_uuid():
    # §1.4 item 7
    a = view("a", paths=["/t"], id="00000000-0000-0000-0000-00000000000a")
    b = view("b", paths=["/t"], id="00000000-0000-0000-0000-00000000000b")
    assert matched(Router([a, b]), "/t") == "b"
    assert matched(Router([b, a]), "/t") == "b"


def test_production_config_routes_billing_invoices_to_the_regex_route():
    # §1.4 on our kong.yml: billing-invoices (regex) beats billing (prefix)
    from harness.model import load_gateway

    gw = load_gateway(".")
    r = Router(gw.routes)
    h = "acme.app.example.com"
    assert matched(r, "/api/billing/invoices/12", host=h) == "billing-invoices"
    assert matched(r, "/api/billing/invoices/12", host=h, method="POST") == "billing"
    assert matched(r, "/api/users", host="api.acme-corp.com") == "users"
    assert matched(r, "/api/users", host="unknown.org") is None
