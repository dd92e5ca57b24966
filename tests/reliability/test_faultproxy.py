from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from rel_servers import echo_http

from harness.errors import ConfigError
from harness.faultproxy import Faults, FaultProxyThread
from harness.rawhttp import build_request, exchange

REQ = build_request("GET", "/x", [("Host", "h")])


@pytest.fixture
def proxied(tcp_server):
    srv = tcp_server(echo_http)
    with FaultProxyThread("127.0.0.1", srv.port) as proxy:
        yield srv, proxy


def test_a_clean_proxy_forwards_requests_unchanged(proxied):
    srv, proxy = proxied
    ex = exchange("127.0.0.1", proxy.port, REQ, linger=0.05)
    assert ex.status == 200 and ex.response.body == b"GET /x HTTP/1.1"
    assert proxy.stats.forwarded == 1


def test_latency_delays_the_answer_by_at_least_the_configured_time(proxied):
    _, proxy = proxied
    proxy.set(latency_ms=150)
    ex = exchange("127.0.0.1", proxy.port, REQ, linger=0.01)
    assert ex.status == 200
    assert ex.elapsed_ms >= 290   # delayed once each way


def test_latency_on_the_downstream_only_is_paid_once(proxied):
    _, proxy = proxied
    proxy.set(latency_ms=200, stream="downstream")
    ex = exchange("127.0.0.1", proxy.port, REQ, linger=0.01)
    assert ex.status == 200
    assert 190 <= ex.elapsed_ms < 390


def test_blackhole_accepts_and_never_answers(proxied):
    srv, proxy = proxied
    proxy.set(mode="blackhole")
    ex = exchange("127.0.0.1", proxy.port, REQ, timeout=0.3)
    assert ex.error == "timeout" and ex.responses == []
    assert srv.connections == 0   # nothing reached the upstream


def test_blackhole_with_a_close_time_closes_without_answering(proxied):
    _, proxy = proxied
    proxy.set(mode="blackhole", blackhole_close_ms=100)
    ex = exchange("127.0.0.1", proxy.port, REQ, timeout=2)
    assert ex.responses == [] and ex.closed
    assert ex.elapsed_ms < 1000


def test_reset_sends_an_rst_to_the_client(proxied):
    _, proxy = proxied
    proxy.set(mode="reset")
    ex = exchange("127.0.0.1", proxy.port, REQ, timeout=2)
    assert ex.responses == [] and ex.closed
    assert ex.error == "reset"


def test_drop_closes_without_a_byte_of_answer(proxied):
    _, proxy = proxied
    proxy.set(mode="drop")
    ex = exchange("127.0.0.1", proxy.port, REQ, timeout=2)
    assert ex.responses == [] and ex.closed and ex.error is None


def test_down_refuses_connections_and_up_reopens_the_same_port(proxied):
    _, proxy = proxied
    port = proxy.port
    proxy.set(down=True)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    proxy.clear()
    assert proxy.port == port
    assert exchange("127.0.0.1", port, REQ, linger=0.01).status == 200


def test_toxicity_applies_the_fault_to_about_that_share_of_connections(proxied):
    _, proxy = proxied
    proxy.set(mode="drop", toxicity=0.5)
    answered = sum(exchange("127.0.0.1", proxy.port, REQ, linger=0.0, timeout=1).status == 200
                   for _ in range(40))
    assert 8 <= answered <= 32
    assert proxy.stats.faulted["drop"] == 40 - answered


def test_fault_set_parsing_names_the_bad_field():
    with pytest.raises(ConfigError, match=r"PUT /faults: latency_ms: expected a number >= 0, "
                                          r"got -1"):
        Faults.parse({"latency_ms": -1}, "PUT /faults")
    with pytest.raises(ConfigError, match="mode: expected one of pass, blackhole"):
        Faults.parse({"mode": "explode"})
    with pytest.raises(ConfigError, match="expected one of"):
        Faults.parse({"latencyms": 5})


def test_process_mode_is_driven_through_its_control_port(tcp_server):
    srv = tcp_server(echo_http)
    proc = subprocess.Popen([sys.executable, "-m", "harness.faultproxy", "--upstream",
                             f"127.0.0.1:{srv.port}"], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        port, ctl = int(words[1]), int(words[3])
        body = json.dumps({"mode": "drop"}).encode()
        put = build_request("PUT", "/faults", [("Host", "c"),
                                               ("Content-Length", str(len(body)))], body)
        assert exchange("127.0.0.1", ctl, put, linger=0).status == 200
        assert exchange("127.0.0.1", port, REQ, timeout=1).responses == []
        stats = exchange("127.0.0.1", ctl, build_request("GET", "/stats", [("Host", "c")]),
                         linger=0)
        assert json.loads(stats.response.body)["faulted"] == {"drop": 1}
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
