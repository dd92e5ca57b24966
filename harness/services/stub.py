"""Echo stub microservice with run-time fault injection.

One program, many instances (user-1, user-2, billing-1, ...). Every answer on
the main port is JSON describing what the instance received, so scenarios
assert on what the backend saw. A separate admin port (which stays up when the
main port goes "down") sets faults and reads counters:

    GET /faults                 current faults
    PUT /faults {...}           replace all faults (missing fields = off)
    POST /faults {...}          change only the given fields
    DELETE /faults              clear
    GET /counters               {"total", "by_path", "probes"}
    DELETE /counters            zero them

Fault fields: latency_ms, latency_jitter_ms (uniform random extra), status
(fixed status code), error_ratio (0..1, answers 500 or 503), hang (accept,
never answer), reset (RST the connection), down (close the main listener and
drop its connections; false, or {"up": true}, reopens it on the same port),
health_status (overrides only GET /health).

`total` counts every request except the probes GET /health and GET /metrics
(active health checks and scrapes would make it non-deterministic); `by_path`
counts every request, probes included.

    python -m harness.services.stub --service user --instance user-1 \
        --host 127.0.0.1 --port P --admin-port A
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.services._http import (
    HANG,
    RESET,
    HttpServer,
    Request,
    Response,
    Result,
    json_response,
    run_servers,
)
from harness.services.metrics import RequestMetrics

__all__ = ["Faults", "Stub", "main"]

_PROBES = ("/health", "/metrics")
_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


@dataclass
class Faults:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    status: int | None = None
    error_ratio: float = 0.0
    hang: bool = False
    reset: bool = False
    down: bool = False
    health_status: int | None = None

    @classmethod
    def parse(cls, body: Any, base: Faults | None = None) -> Faults:
        """Validate a /faults body; ValueError names field, expected and got."""
        if not isinstance(body, dict):
            raise ValueError(f"faults: expected a JSON object, got {body!r}")
        out = Faults(**asdict(base)) if base is not None else Faults()
        known = {f.name for f in fields(cls)} | {"up"}
        for key, value in body.items():
            if key not in known:
                raise ValueError(f"faults.{key}: expected one of {sorted(known)}, got {key!r}")
            if key == "up":
                _want(key, value, bool, "true or false")
                out.down = not value
            elif key in ("latency_ms", "latency_jitter_ms"):
                _want(key, value, (int, float), "a number >= 0")
                if value < 0:
                    raise ValueError(f"faults.{key}: expected a number >= 0, got {value!r}")
                setattr(out, key, float(value))
            elif key in ("status", "health_status"):
                if value is not None:
                    _want(key, value, int, "an HTTP status 100..599 or null")
                    if not 100 <= value <= 599:
                        raise ValueError(f"faults.{key}: expected an HTTP status 100..599 or "
                                         f"null, got {value!r}")
                setattr(out, key, value)
            elif key == "error_ratio":
                _want(key, value, (int, float), "a number in 0..1")
                if not 0 <= value <= 1:
                    raise ValueError(f"faults.{key}: expected a number in 0..1, got {value!r}")
                out.error_ratio = float(value)
            else:
                _want(key, value, bool, "true or false")
                setattr(out, key, value)
        return out


def _want(key: str, value: Any, types: Any, expected: str) -> None:
    # bool is an int in Python; refuse it where a number is meant.
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise ValueError(f"faults.{key}: expected {expected}, got {value!r}")


class Stub:
    """The state of one stub instance: its two servers, faults and counters."""

    def __init__(self, service: str, instance: str, host: str, port: int, admin_port: int):
        self.service = service
        self.instance = instance
        self.faults = Faults()
        self.total = 0
        self.probes = 0
        self.by_path: dict[str, int] = {}
        self.metrics = RequestMetrics("stub", {"service": service, "instance": instance})
        self.main = HttpServer(self.handle, host, port)
        self.admin = HttpServer(self.handle_admin, host, admin_port)
        self._rng = random.Random()

    # -- main port -----------------------------------------------------
    def handle(self, req: Request) -> Result | asyncio.Future[Result]:
        path = req.path
        self.by_path[path] = self.by_path.get(path, 0) + 1
        if req.method == "GET" and path in _PROBES:
            self.probes += 1
            if path == "/metrics":
                return Response(200, self.metrics.render().encode(),
                                "text/plain; version=0.0.4")
        else:
            self.total += 1
        f = self.faults
        if f.hang:
            return HANG
        if f.reset:
            return RESET
        if f.latency_ms or f.latency_jitter_ms:
            delay = (f.latency_ms + self._rng.random() * f.latency_jitter_ms) / 1000.0
            return asyncio.ensure_future(self._later(delay, req))
        return self._answer(req)

    async def _later(self, delay: float, req: Request) -> Result:
        await asyncio.sleep(delay)
        return self._answer(req)

    def _answer(self, req: Request) -> Response:
        f = self.faults
        status = 200
        if req.method == "GET" and req.path == "/health" and f.health_status is not None:
            status = f.health_status
        elif f.status is not None:
            status = f.status
        elif f.error_ratio and self._rng.random() < f.error_ratio:
            status = self._rng.choice((500, 503))
        self.metrics.observe(req.path, status)
        if req.path == "/health" and req.method == "GET":
            return json_response({"status": "ok" if status < 400 else "failing",
                                  "service": self.service, "instance": self.instance}, status)
        return json_response(self.echo(req), status)

    def echo(self, req: Request) -> dict[str, Any]:
        headers: dict[str, Any] = {}
        for k, v in req.headers:
            k = k.lower()
            prev = headers.get(k)
            if prev is None:
                headers[k] = v
            elif isinstance(prev, list):
                prev.append(v)
            else:
                headers[k] = [prev, v]
        return {
            "service": self.service,
            "instance": self.instance,
            "method": req.method,
            "path": req.path,
            "raw_query": req.raw_query,
            "host": req.header("host") or "",
            "headers": headers,
            "body_size": len(req.body),
            "body_sha256": hashlib.sha256(req.body).hexdigest() if req.body else _EMPTY_SHA,
            "http_version": req.http_version,
        }

    # -- admin port ----------------------------------------------------
    async def handle_admin(self, req: Request) -> Result:
        try:
            if req.path == "/faults":
                if req.method == "GET":
                    return json_response(self._faults_view())
                if req.method in ("PUT", "POST"):
                    base = None if req.method == "PUT" else self.faults
                    await self.apply(Faults.parse(req.json(), base))
                    return json_response(self._faults_view())
                if req.method == "DELETE":
                    await self.apply(Faults())
                    return json_response(self._faults_view())
            elif req.path == "/counters":
                if req.method == "GET":
                    return json_response({"total": self.total, "probes": self.probes,
                                          "by_path": self.by_path})
                if req.method == "DELETE":
                    self.total = self.probes = 0
                    self.by_path = {}
                    return json_response({"total": 0, "probes": 0, "by_path": {}})
            elif req.path == "/health" and req.method == "GET":
                return json_response({"status": "ok", "main_listening": self.main.listening})
            else:
                return json_response({"message": f"no admin route {req.method} {req.path}"}, 404)
            return json_response({"message": f"method {req.method} not allowed on {req.path}"},
                                 405)
        except ValueError as exc:
            return json_response({"message": str(exc)}, 400)

    def _faults_view(self) -> dict[str, Any]:
        return {**asdict(self.faults), "main_listening": self.main.listening,
                "port": self.main.port}

    async def apply(self, faults: Faults) -> None:
        was_down = self.faults.down
        self.faults = faults
        if faults.down and not was_down:
            await self.main.close(drop_connections=True)
        elif not faults.down and was_down:
            await self.main.open()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness.services.stub", description=__doc__)
    p.add_argument("--service", required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--admin-port", type=int, required=True)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    stub = Stub(args.service, args.instance, args.host, args.port, args.admin_port)
    run_servers([stub.main, stub.admin], f"stub {args.instance}")


if __name__ == "__main__":
    main()
