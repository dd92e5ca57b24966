from __future__ import annotations

import asyncio
import time

import pytest

from harness.rawhttp import AsyncConnection, ResponseParser, build_request, exchange

from rel_servers import echo_http, read_head


def test_build_request_sends_headers_verbatim_and_adds_nothing():
    data = build_request("GET", "http://b.example/x", [("Host", "a"), ("X-Tenant-ID ", "v"),
                                                      ("Content-Length", "5"),
                                                      ("Content-Length", "6")])
    assert data == (b"GET http://b.example/x HTTP/1.1\r\nHost: a\r\nX-Tenant-ID : v\r\n"
                    b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n")


def test_build_request_keeps_a_value_that_starts_with_whitespace():
    assert b"Transfer-Encoding:\tchunked\r\n" in build_request(
        "POST", "/", [("Transfer-Encoding", "\tchunked")])


def test_parser_reads_pipelined_content_length_and_chunked_responses():
    p = ResponseParser()
    out = p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 400 Bad\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1;ext=1\r\nz\r\n0\r\n\r\n")
    assert [(r.status, r.body) for r in out] == [(200, b"abc"), (400, b"xyz")]


def test_parser_skips_interim_responses_and_handles_bodiless_statuses():
    p = ResponseParser()
    out = p.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert [r.status for r in out] == [204]


def test_parser_finishes_a_close_delimited_body_at_eof():
    p = ResponseParser()
    assert p.feed(b"HTTP/1.0 200 OK\r\n\r\npart") == []
    last = p.feed_eof()
    assert last is not None and last.body == b"part"


def test_exchange_reads_every_pipelined_response(tcp_server):
    srv = tcp_server(echo_http)
    req = build_request("GET", "/one", [("Host", "x")]) + build_request("GET", "/two",
                                                                         [("Host", "x")])
    ex = exchange("127.0.0.1", srv.port, req, expect=2, linger=0.05)
    assert ex.error is None
    assert [r.body for r in ex.responses] == [b"GET /one HTTP/1.1", b"GET /two HTTP/1.1"]


def test_exchange_reports_that_the_server_closed_the_connection(tcp_server):
    def reject(conn):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
    srv = tcp_server(reject)
    ex = exchange("127.0.0.1", srv.port, b"GE(T / HTTP/1.1\r\n\r\n", linger=1.0)
    assert ex.status == 400
    assert ex.closed is True
    assert ex.elapsed_ms < 900   # EOF seen before the linger ran out


def test_exchange_times_out_on_a_server_that_never_answers(tcp_server):
    srv = tcp_server(lambda conn: (read_head(conn), time.sleep(2)))
    ex = exchange("127.0.0.1", srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=0.3)
    assert ex.error == "timeout"
    assert ex.responses == []
    assert 250 < ex.elapsed_ms < 1500


def test_exchange_records_a_connect_failure_instead_of_raising(tcp_server):
    srv = tcp_server(echo_http)
    port = srv.port
    srv.close()
    ex = exchange("127.0.0.1", port, b"GET / HTTP/1.1\r\n\r\n", timeout=0.5)
    assert ex.error is not None and ex.error.startswith("connect:")


def test_async_connection_reuses_one_keep_alive_connection(tcp_server):
    srv = tcp_server(echo_http)

    async def run() -> list[bytes]:
        conn = AsyncConnection("127.0.0.1", srv.port, timeout=2)
        bodies = []
        for i in range(3):
            resp = await conn.request(build_request("GET", f"/{i}", [("Host", "x")]))
            bodies.append(resp.body)
        await conn.close()
        return bodies
    assert asyncio.run(run()) == [b"GET /0 HTTP/1.1", b"GET /1 HTTP/1.1", b"GET /2 HTTP/1.1"]
    assert srv.connections == 1


def test_async_connection_raises_when_the_server_hangs_up_without_answering(tcp_server):
    srv = tcp_server(lambda conn: read_head(conn))

    async def run() -> None:
        conn = AsyncConnection("127.0.0.1", srv.port, timeout=2)
        await conn.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ConnectionResetError):
        asyncio.run(run())
