"""kong-behaviour.md §0: kong.response.error templates and MIME negotiation."""

from __future__ import annotations

import pytest

from harness.gateway.errors import render_error, response_type, status_message


def test_json_template_is_multiline_with_request_id():
    # §0 row "kong.response.error JSON template [Δ 3.5]"
    body = render_error("no Route matched with those values", "abc123", response_type(None))
    assert body == (b'{\n  "message":"no Route matched with those values",\n'
                    b'  "request_id":"abc123"\n}')


@pytest.mark.parametrize(("accept", "mime"), [
    (None, "application/json; charset=utf-8"),
    ("*/*", "application/json; charset=utf-8"),
    ("text/html", "text/html; charset=utf-8"),
    ("text/plain;q=0.5, application/xml;q=0.9", "application/xml; charset=utf-8"),
    ("text/*", "text/plain; charset=utf-8"),
    ("image/png", "application/json; charset=utf-8"),
    ("text/html;q=0.5, text/plain;q=0.5", "text/html; charset=utf-8"),
])
def test_accept_negotiation_picks_highest_q_first_on_ties(accept, mime):
    # §0 row "MIME negotiation"
    assert response_type(accept) == mime


def test_plain_html_and_xml_templates_carry_message_and_request_id():
    # §0 row "Other templates"
    assert render_error("m", "r", "text/plain; charset=utf-8") == b"m\nrequest_id: r\n"
    assert b"<p>m.</p>" in render_error("m", "r", "text/html; charset=utf-8")
    assert b"<requestid>r</requestid>" in render_error("m", "r", "application/xml; charset=utf-8")


def test_nginx_default_messages_for_upstream_failures():
    # §0 row "Default messages"
    assert status_message(502) == "An invalid response was received from the upstream server"
    assert status_message(503) == "The upstream server is currently unavailable"
    assert status_message(504) == "The upstream server is timing out"
    assert status_message(418) == "The upstream server responded with 418"
