"""Kong's own error responses: templates, MIME negotiation, default messages.

Two paths exist in Kong (kong-behaviour.md §0):
- `kong.response.error(status, msg)`: template chosen from `Accept`, JSON when
  absent or unknown (router 404, ring-balancer 503, plugin errors);
- nginx-generated errors (502/503/504 after proxying, 400/414/494 parse
  errors) go through `/kong_error_handler`: `Accept`, else the request
  `Content-Type`, else `error_default_type` (text/plain).
Both render with `request_id` (Kong 3.5+).
"""

from __future__ import annotations

import json
import re

__all__ = [
    "DEFAULT_MESSAGES",
    "MIME_JSON",
    "render_error",
    "response_type",
    "status_message",
]

MIME_JSON = "application/json; charset=utf-8"
MIME_HTML = "text/html; charset=utf-8"
MIME_XML = "application/xml; charset=utf-8"
MIME_PLAIN = "text/plain; charset=utf-8"

# kong/tools/http.lua MIME_TYPES (grpc is not served by this gateway).
_MIME: dict[str, str] = {
    "text/html": MIME_HTML,
    "application/json": MIME_JSON,
    "text/plain": MIME_PLAIN,
    "text/xml": MIME_XML,
    "application/xml": MIME_XML,
    "application": MIME_JSON,
    "text": MIME_PLAIN,
}

# kong/error_handlers.lua
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    411: "Length required",
    412: "Precondition failed",
    413: "Payload too large",
    414: "URI too long",
    417: "Expectation failed",
    494: "Request header or cookie too large",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}

_ACCEPT_RE = re.compile(
    r"((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)\s*/\s*(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))"
    r"(?:\s*;\s*q\s*=\s*(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))"
    r"|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*|))*",
    re.IGNORECASE,
)


def status_message(status: int) -> str:
    return DEFAULT_MESSAGES.get(status, f"The upstream server responded with {status}")


def _mime_of(media: str) -> str:
    """kong/tools/http.lua get_mime_type with use_default=true."""
    media = media.strip().split(";")[0]
    parts = media.split("/")
    if len(parts) > 1:
        major, minor = parts[0].strip().lower(), parts[1].strip().lower()
        if minor == "*":
            return MIME_JSON if major == "*" else _MIME.get(major, MIME_JSON)
        return _MIME.get(f"{major}/{minor}", MIME_JSON)
    return MIME_JSON


def response_type(accept: str | None) -> str:
    """kong/tools/http.lua get_response_type: highest q wins, first on ties, JSON default."""
    chosen = MIME_JSON
    if not accept:
        return chosen
    best = 0.0
    for value in accept.split(","):
        m = _ACCEPT_RE.match(value.strip())
        if m is None:
            continue
        q = float(m.group(2)) if m.group(2) else 1.0
        if q > best:
            best = q
            chosen = _mime_of(m.group(1))
    return chosen


def render_error(message: str, request_id: str, mime: str) -> bytes:
    """The body of kong.response.error for one of the negotiated types."""
    if mime == MIME_JSON:
        msg = json.dumps(message, ensure_ascii=False)[1:-1]
        return f'{{\n  "message":"{msg}",\n  "request_id":"{request_id}"\n}}'.encode()
    if mime == MIME_HTML:
        return (
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n"
            "    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n"
            f"    <p>{message}.</p>\n    <p>request_id: {request_id}</p>\n"
            "  </body>\n</html>\n"
        ).encode()
    if mime == MIME_XML:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n'
            f"  <message>{message}</message>\n  <requestid>{request_id}</requestid>\n"
            "</error>\n"
        ).encode()
    return f"{message}\nrequest_id: {request_id}\n".encode()
