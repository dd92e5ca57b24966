"""The echo stub as a real process: echo shape, faults, counters, metrics."""

from __future__ import annotations

import hashlib
import socket
import time

import httpx
import pytest

from harness.stack.ports import free_port


HTTP = httpx.Client(timeout=5)  # one client: creating one per request costs ~50 ms


@pytest.fixture(scope="module")
def stub(launch):
    port, admin = free_port(), free_port()
    launch("stub", ["--service", "user", "--instance", "user-7", "--host", "127.0.0.1",
                    "--port", str(port), "--admin-port", str(admin)], admin)
    yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"
    HTTP.close()


@pytest.fixture(autouse=True)
def clean(stub):
    HTTP.delete(stub[1] + "/faults")
    HTTP.delete(stub[1] + "/counters")
    yield
    HTTP.delete(stub[1] + "/faults")


def test_echoes_method_path_query_host_headers_and_body_hash(stub):
    body = b"hello stub"
    r = HTTP.post(stub[0] + "/v1/users/42?a=1&b=2", content=body,
                   headers=[("X-Multi", "one"), ("X-Multi", "two"), ("Host", "acme.example")])
    assert r.status_code == 200
    echo = r.json()
    assert echo["service"] == "user" and echo["instance"] == "user-7"
    assert echo["method"] == "POST" and echo["path"] == "/v1/users/42"
    assert echo["raw_query"] == "a=1&b=2"
    assert echo["host"] == "acme.example"
    assert echo["headers"]["x-multi"] == ["one", "two"]
    assert echo["body_size"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert echo["http_version"] == "1.1"


def test_answers_pipelined_requests_in_order_on_one_connection(stub):
    port = int(stub[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(f"GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5)))
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 200") < 5 and time.monotonic() < deadline:
            data += s.recv(65536)
    paths = [part.split(b'"path":"')[1].split(b'"')[0].decode()
             for part in data.split(b"HTTP/1.1 200")[1:]]
    assert paths == [f"/p{i}" for i in range(5)]


def test_fixed_status_and_latency_apply_to_echo_and_health(stub):
    r = HTTP.put(stub[1] + "/faults", json={"status": 503, "latency_ms": 120})
    assert r.json()["status"] == 503
    t0 = time.monotonic()
    assert HTTP.get(stub[0] + "/x").status_code == 503
    assert time.monotonic() - t0 >= 0.1
    assert HTTP.get(stub[0] + "/health").status_code == 503


def test_health_status_override_changes_only_health(stub):
    HTTP.post(stub[1] + "/faults", json={"health_status": 500})
    assert HTTP.get(stub[0] + "/health").status_code == 500
    assert HTTP.get(stub[0] + "/other").status_code == 200


def test_error_ratio_one_always_fails_with_500_or_503(stub):
    HTTP.post(stub[1] + "/faults", json={"error_ratio": 1})
    codes = {HTTP.get(stub[0] + f"/e{i}").status_code for i in range(10)}
    assert codes <= {500, 503} and codes


def test_reset_closes_the_connection_without_an_answer(stub):
    HTTP.post(stub[1] + "/faults", json={"reset": True})
    with pytest.raises(httpx.TransportError):
        HTTP.get(stub[0] + "/r")


def test_hang_accepts_and_never_answers(stub):
    HTTP.post(stub[1] + "/faults", json={"hang": True})
    with pytest.raises(httpx.ReadTimeout):
        HTTP.get(stub[0] + "/h", timeout=httpx.Timeout(5, read=0.3))


def test_down_closes_the_port_and_up_reopens_it_while_admin_stays(stub):
    r = HTTP.post(stub[1] + "/faults", json={"down": True})
    assert r.json()["main_listening"] is False
    with pytest.raises(httpx.ConnectError):
        HTTP.get(stub[0] + "/d")
    r = HTTP.post(stub[1] + "/faults", json={"up": True})
    assert r.json()["main_listening"] is True
    assert HTTP.get(stub[0] + "/d").status_code == 200


def test_counters_prove_a_path_was_or_was_not_reached(stub):
    for _ in range(3):
        HTTP.get(stub[0] + "/counted")
    HTTP.get(stub[0] + "/health")
    c = HTTP.get(stub[1] + "/counters").json()
    assert c["total"] == 3
    assert c["by_path"] == {"/counted": 3, "/health": 1}
    assert c["by_path"].get("/never", 0) == 0


def test_bad_fault_names_field_expected_and_got(stub):
    r = HTTP.post(stub[1] + "/faults", json={"error_ratio": 2})
    assert r.status_code == 400
    assert r.json()["message"] == "faults.error_ratio: expected a number in 0..1, got 2"
    r = HTTP.post(stub[1] + "/faults", json={"latncy_ms": 5})
    assert r.status_code == 400 and "faults.latncy_ms: expected one of" in r.json()["message"]


def test_metrics_count_requests_by_path_and_status(stub):
    HTTP.get(stub[0] + "/m1")
    text = HTTP.get(stub[0] + "/metrics").text
    assert 'stub_http_requests_total{service="user",instance="user-7",path="/m1",status="200"}' \
        in text


def test_head_answer_has_content_length_but_no_body():
    import socket
    import subprocess
    import sys
    import time

    port, admin = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness.services.stub", "--service", "user",
                             "--instance", "user-9", "--host", "127.0.0.1", "--port", str(port),
                             "--admin-port", str(admin)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "stub did not start"
                time.sleep(0.05)
        with conn:
            # HEAD then GET pipelined: the GET's answer must follow the HEAD head directly.
            conn.sendall(b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                assert chunk, data
                data += chunk
        first, rest = data.split(b"\r\n\r\n", 1)
        assert b"Content-Length: " in first and not first.endswith(b"Content-Length: 0")
        assert rest.startswith(b"HTTP/1.1 200"), rest[:80]
    finally:
        proc.terminate()
        proc.wait(5)
