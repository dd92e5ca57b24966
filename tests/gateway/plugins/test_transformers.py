"""request-/response-transformer header operations, kong-behaviour.md §6 rows."""

from __future__ import annotations

import pytest
from plugin_helpers import make_ctx, make_request, run

from harness.gateway.plugin_api import Headers, Response
from harness.gateway.plugins.request_transformer import RequestTransformerPlugin
from harness.gateway.plugins.response_transformer import ResponseTransformerPlugin
from harness.model.plugins import RequestTransformerConfig, ResponseTransformerConfig

pytestmark = pytest.mark.transform


def transform(runtime, gateway, cfg, headers, query=""):
    p = RequestTransformerPlugin(RequestTransformerConfig.model_validate(cfg), runtime)
    req = make_request(headers=headers, query=query)
    run(p.access(req, make_ctx(gateway)))
    return req


def test_crm_config_removes_cookie_and_adds_service_header(runtime, gateway):
    cfg = next(sp.plugin.config for sp in gateway.plugins
               if sp.name == "request-transformer" and sp.service == "crm-service")
    p = RequestTransformerPlugin(cfg, runtime)
    req = make_request(headers=[("Cookie", "a=1"), ("cookie", "b=2")])
    run(p.access(req, make_ctx(gateway)))
    assert "Cookie" not in req.headers and req.headers.get("X-Gateway-Service") == "crm"


def test_order_remove_rename_replace_add_append(runtime, gateway):
    req = transform(runtime, gateway, {
        "remove": {"headers": ["X-Drop"]},
        "rename": {"headers": ["X-Old:X-New"]},
        "replace": {"headers": ["X-New:replaced", "X-Absent:never"]},
        "add": {"headers": ["X-New:not-added", "X-Added:yes"]},
        "append": {"headers": ["X-Added:again"]},
    }, [("X-Drop", "1"), ("X-Old", "v")])
    h = req.headers
    assert "X-Drop" not in h and "X-Old" not in h and "X-Absent" not in h
    assert h.get_all("X-New") == ["replaced"]
    assert h.get_all("X-Added") == ["yes", "again"]


def test_header_and_query_templates_are_rendered(runtime, gateway):
    req = transform(runtime, gateway, {"add": {"headers": ["X-Who:$(headers.x_user)-$(query_params['t'])"],
                                               "querystring": ["q:1"]},
                                       "remove": {"querystring": ["drop"]}},
                    [("X-User", "bob")], query="t=7&drop=x")
    assert req.headers.get("X-Who") == "bob-7"
    assert req.query == "t=7&q=1"


def test_response_headers_transformed_as_production_config(runtime, gateway):
    cfg = next(sp.plugin.config for sp in gateway.plugins if sp.name == "response-transformer")
    p = ResponseTransformerPlugin(cfg, runtime)
    resp = Response(200, Headers([("X-Powered-By", "php"), ("X-Content-Type-Options", "keep")]))
    p.header_filter(make_request(), resp, make_ctx(gateway))
    h = resp.headers
    assert "X-Powered-By" not in h
    assert h.get_all("X-Content-Type-Options") == ["keep"]  # add only when absent
    assert h.get("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"


def test_response_rename_and_append(runtime, gateway):
    p = ResponseTransformerPlugin(ResponseTransformerConfig.model_validate(
        {"rename": {"headers": ["X-A:X-B"]}, "append": {"headers": ["X-B:2"]}}), runtime)
    resp = Response(200, Headers([("X-A", "1")]))
    p.header_filter(make_request(), resp, make_ctx(gateway))
    assert resp.headers.get_all("X-B") == ["1", "2"] and "X-A" not in resp.headers
