"""The status listener (Kong's Status API): GET /status, upstream health, plugin routes.

Besides Kong's `/status`, it serves the admin-style
`GET /upstreams/{name}/health` (Kong's shape) and, for tests and fault
scenarios, `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy` as the Admin
API does. Plugins add routes with runtime.register_status_route (e.g.
prometheus `/metrics`). Not a hot path: one small protocol, one request at a time.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import resource
from typing import Any

import httptools

from harness.gateway.plugin_api import Headers, Request, Response
from harness.gateway.runtime import Runtime

__all__ = ["StatusConn", "status_payload", "upstream_health_payload"]

log = logging.getLogger("harness.gateway.status")


def status_payload(rt: Runtime) -> dict[str, Any]:
    st = rt.stats
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "database": {"reachable": True},
        "memory": {"workers_lua_vms": [{"pid": 0, "http_allocated_gc": f"{rss_kb / 1024:.2f} MiB"}],
                   "lua_shared_dicts": {}},
        "server": {
            "connections_accepted": st.connections_accepted,
            "connections_active": st.connections_active,
            "connections_handled": st.connections_handled,
            "connections_reading": st.connections_reading,
            "connections_waiting": st.connections_waiting,
            "connections_writing": st.connections_writing,
            "total_requests": st.total_requests,
        },
        "configuration_hash": rt.gateway.config_hash[:32],
        "replica_id": rt.replica_id,
        "node_id": rt.node_id,
        "version": rt.version,
    }


def upstream_health_payload(rt: Runtime, name: str) -> dict[str, Any] | None:
    bal = rt.balancers.get(name)
    if bal is None:
        return None
    data = []
    for t, (target, address, state) in zip(bal.targets, bal.health()):
        kong_state = "HEALTHCHECKS_OFF" if state == "healthchecks_off" else state.upper()
        ip, port = address.rsplit(":", 1)
        data.append({"target": target, "weight": t.weight, "health": kong_state,
                     "data": {"addresses": [{"ip": ip, "port": int(port), "health": kong_state,
                                             "weight": t.weight}]}})
    return {"data": data, "next": None, "node_id": rt.node_id}


class StatusConn(asyncio.Protocol):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, {"message": "Bad request"}, close=True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        keep = self.parser.should_keep_alive()
        asyncio.get_running_loop().create_task(self._serve(method, self.url.decode(), keep))

    async def _serve(self, method: str, url: str, keep: bool) -> None:
        path, _, query = url.partition("?")
        try:
            resp = await self._route(method, path, query)
        except Exception:
            log.exception("status route %s failed", path)
            resp = _json(500, {"message": "An unexpected error occurred"})
        self._write(resp, close=not keep)

    async def _route(self, method: str, path: str, query: str) -> Response:
        rt = self.rt
        if path == "/status" and method == "GET":
            return _json(200, status_payload(rt))
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "upstreams" and parts[2] == "health":
            payload = upstream_health_payload(rt, parts[1])
            return _json(200, payload) if payload else _json(404, {"message": "Not found"})
        if (len(parts) == 5 and parts[0] == "upstreams" and parts[2] == "targets"
                and parts[4] in ("healthy", "unhealthy") and method in ("PUT", "POST")):
            bal = rt.balancers.get(parts[1])
            target = next((t for t in bal.targets if t.target == parts[3]), None) if bal else None
            if bal is None or target is None:
                return _json(404, {"message": "Not found"})
            bal.set_healthy(target, parts[4] == "healthy")
            return Response(204, Headers(), b"")
        handler = rt.status_routes.get(path)
        if handler is not None and method in ("GET", "HEAD"):
            # Two handler shapes: () -> (status, headers, body) as the plugins use,
            # or (Request) -> Response; either may be a coroutine.
            if inspect.signature(handler).parameters:
                req = Request(method, "http", "", 0, path, path, query, Headers(self.headers),
                              "127.0.0.1")
                result: Any = handler(req)
            else:
                result = handler()
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, tuple):
                status, headers, body = result
                return Response(status, Headers(headers), body)
            return result  # type: ignore[no-any-return]
        return _json(404, {"message": "Not found"})

    def _write(self, resp: Response, close: bool) -> None:
        body = resp.body or b""
        hdrs = [(k, v) for k, v in resp.headers if k.lower() not in ("content-length",
                                                                      "connection")]
        head = f"HTTP/1.1 {resp.status} {'OK' if resp.status < 300 else 'Error'}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs)
        head += (f"Content-Length: {len(body)}\r\nServer: kong/{self.rt.version}\r\n"
                 f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head.encode("latin-1") + body)
            if close:
                self.transport.close()

    def _send(self, status: int, payload: dict[str, Any], close: bool) -> None:
        self._write(_json(status, payload), close)


def _json(status: int, payload: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, Headers([("Content-Type", "application/json; charset=utf-8")]), body)
