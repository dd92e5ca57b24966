"""Kong's request-size-limiting plugin (priority 951): kong-behaviour.md §6.

Content-Length is checked here. A body without Content-Length (chunked) is
counted by the data plane while it reads it: this plugin sets
`ctx.shared["max_body_bytes"]` and `ctx.shared["max_body_status"]` (413, or 417
with `Expect: 100-continue`) and the data plane answers
kong.response.error(status, "Request size limit exceeded") past the limit.
"""

from __future__ import annotations

from harness.gateway.plugin_api import Ctx, Exit, Plugin, Request
from harness.model.plugins import PLUGIN_PRIORITIES, RequestSizeLimitingConfig

__all__ = ["MESSAGE", "RequestSizeLimitingPlugin"]

MESSAGE = "Request size limit exceeded"


class RequestSizeLimitingPlugin(Plugin):
    name = "request-size-limiting"
    priority = PLUGIN_PRIORITIES["request-size-limiting"]
    config: RequestSizeLimitingConfig

    async def access(self, req: Request, ctx: Ctx) -> None:
        limit = self.config.limit_bytes()
        expect = (req.headers.get("Expect") or "").strip().lower() == "100-continue"
        status = 417 if expect else 413
        cl = req.headers.get("Content-Length")
        length: int | None = None
        if cl is not None:
            try:
                length = int(cl.strip())
            except ValueError:
                length = None
        if length is not None:
            if length > limit:
                raise Exit.error(status, MESSAGE)
            return
        if req.body is not None:
            if len(req.body) > limit:
                raise Exit.error(status, MESSAGE)
            return
        te = (req.headers.get("Transfer-Encoding") or "").lower()
        if self.config.require_content_length and "chunked" not in te:
            raise Exit.error(411, "A valid Content-Length header is required")
        ctx.shared["max_body_bytes"] = limit
        ctx.shared["max_body_status"] = status
