"""request-size-limiting against kong-behaviour.md §6 (request-size-limiting row)."""

from __future__ import annotations

import pytest
from plugin_helpers import make_ctx, make_request, run

from harness.gateway.plugin_api import Exit
from harness.gateway.plugins.request_size_limiting import RequestSizeLimitingPlugin
from harness.model.plugins import RequestSizeLimitingConfig

pytestmark = pytest.mark.security


def attempt(runtime, gateway, headers, **cfg):
    p = RequestSizeLimitingPlugin(RequestSizeLimitingConfig(**cfg), runtime)
    ctx = make_ctx(gateway)
    try:
        run(p.access(make_request("POST", headers=headers), ctx))
    except Exit as exc:
        return exc, ctx
    return None, ctx


def test_content_length_over_limit_is_413(runtime, gateway):
    exc, _ = attempt(runtime, gateway, [("Content-Length", str(1048577))], allowed_payload_size=1)
    assert exc.status == 413 and exc.error_message == "Request size limit exceeded"


def test_content_length_at_limit_passes(runtime, gateway):
    exc, _ = attempt(runtime, gateway, [("Content-Length", "1024")], allowed_payload_size=1,
                     size_unit="kilobytes")
    assert exc is None


def test_expect_100_continue_gets_417(runtime, gateway):
    exc, _ = attempt(runtime, gateway, [("Content-Length", "11"), ("Expect", "100-continue")],
                     allowed_payload_size=10, size_unit="bytes")
    assert exc.status == 417 and exc.error_message == "Request size limit exceeded"


def test_missing_content_length_is_411_when_required(runtime, gateway):
    exc, _ = attempt(runtime, gateway, [], require_content_length=True)
    assert exc.status == 411 and exc.error_message == "A valid Content-Length header is required"


def test_chunked_body_limit_is_handed_to_the_data_plane(runtime, gateway):
    exc, ctx = attempt(runtime, gateway, [("Transfer-Encoding", "chunked")],
                       allowed_payload_size=25, require_content_length=True)
    assert exc is None
    assert ctx.shared["max_body_bytes"] == 25 * 1048576 and ctx.shared["max_body_status"] == 413
