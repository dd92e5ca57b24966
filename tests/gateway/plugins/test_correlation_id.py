"""correlation-id plugin against kong-behaviour.md §6 (correlation-id row)."""

from __future__ import annotations

import re

import pytest
from plugin_helpers import make_ctx, make_request, run

from harness.gateway.plugin_api import Headers, Response
from harness.gateway.plugins import REGISTRY
from harness.gateway.plugins.correlation_id import CorrelationIdPlugin
from harness.model.plugins import CorrelationIdConfig

pytestmark = pytest.mark.transform


def through(p, gateway, headers=()):
    req, ctx = make_request(headers=list(headers)), make_ctx(gateway)
    run(p.access(req, ctx))
    resp = Response(200, Headers())
    p.header_filter(req, resp, ctx)
    return req, resp


def test_registry_maps_correlation_id_with_priority_100001():
    assert REGISTRY["correlation-id"] is CorrelationIdPlugin
    assert CorrelationIdPlugin.priority == 100001


def test_uuid_counter_generator_sets_header_upstream_and_counts(runtime, gateway):
    p = CorrelationIdPlugin(CorrelationIdConfig(), runtime)
    first, resp = through(p, gateway)
    second, _ = through(p, gateway)
    a, b = first.headers.get("Kong-Request-ID"), second.headers.get("Kong-Request-ID")
    m1 = re.fullmatch(r"([0-9a-f-]{36})#(\d+)", a or "")
    m2 = re.fullmatch(r"([0-9a-f-]{36})#(\d+)", b or "")
    assert m1 and m2 and m1.group(1) == m2.group(1)
    assert int(m2.group(2)) == int(m1.group(2)) + 1
    assert "Kong-Request-ID" not in resp.headers  # echo_downstream defaults to false


def test_client_value_is_kept_and_echoed_downstream(runtime, gateway):
    p = CorrelationIdPlugin(CorrelationIdConfig(header_name="X-Request-ID",
                                                echo_downstream=True), runtime)
    req, resp = through(p, gateway, [("x-request-id", "abc")])
    assert req.headers.get_all("X-Request-ID") == ["abc"]
    assert resp.headers.get("X-Request-ID") == "abc"


def test_empty_client_value_is_replaced(runtime, gateway):
    p = CorrelationIdPlugin(CorrelationIdConfig(generator="uuid", echo_downstream=True), runtime)
    req, resp = through(p, gateway, [("Kong-Request-ID", "")])
    value = req.headers.get("Kong-Request-ID")
    assert re.fullmatch(r"[0-9a-f-]{36}", value or "")
    assert resp.headers.get("Kong-Request-ID") == value
