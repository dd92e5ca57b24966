import json

from harness.contracts import (
    Captured,
    Expected,
    ExpectedResponse,
    ExpectedUpstream,
    Request,
    compare,
    kong_error,
    kong_exit,
)

REQ = Request("GET", "acme.app.example.com", "/api/users/x")


def echo(**over):
    doc = {"service": "user", "instance": "user-1", "method": "GET", "path": "/v1/users/x",
           "raw_query": "", "host": "user-1:8080",
           "headers": {"x-tenant-id": "acme", "x-request-id": "r1"}}
    doc.update(over)
    return json.dumps(doc).encode()


def cap(status=200, headers=(), body=b"", sent=()):
    return Captured(REQ, tuple(sent), status, tuple(headers), body, 3.0)


def test_no_mismatch_when_response_and_upstream_match():
    exp = Expected(REQ, ExpectedResponse(headers={"X-RateLimit-Remaining-Minute": "9"}),
                   ExpectedUpstream(instances=("user-1",), path="/v1/users/x",
                                    headers={"X-Tenant-ID": "acme"}))
    got = cap(headers=[("x-ratelimit-remaining-minute", "9")], body=echo())
    assert compare(exp, got) is None


def test_reports_header_value_as_expected_got_with_all_headers():
    exp = Expected(REQ, ExpectedResponse(headers={"X-RateLimit-Remaining-Minute": "9"}),
                   upstream_optional=True)
    m = compare(exp, cap(headers=[("X-RateLimit-Remaining-Minute", "10")]))
    assert m is not None
    first = m.message.splitlines()[0]
    assert first == ("expected header X-RateLimit-Remaining-Minute to be '9', got '10' "
                     "(all headers: {X-RateLimit-Remaining-Minute: 10})")
    assert "request sent: GET http://acme.app.example.com/api/users/x" in m.message


def test_status_mismatch_shows_the_request_and_what_the_upstream_saw():
    exp = Expected(REQ, kong_exit(401, {"exp": "token expired"}))
    m = compare(exp, cap(200, body=echo()))
    assert m is not None
    lines = m.message.splitlines()
    assert lines[0] == "expected status 401, got 200"
    assert lines[-1].startswith("  upstream saw: user/user-1 saw GET /v1/users/x")


def test_kong_error_allows_request_id_but_no_other_key():
    exp = Expected(REQ, kong_error(404, "no Route matched with those values"))
    ok = json.dumps({"message": "no Route matched with those values", "request_id": "ab"})
    assert compare(exp, cap(404, body=ok.encode())) is None
    bad = json.dumps({"message": "no Route matched with those values", "debug": 1})
    m = compare(exp, cap(404, body=bad.encode()))
    assert m is not None and m.what == "body keys" and "extra ['debug']" in m.got


def test_kong_exit_body_must_be_exact():
    exp = Expected(REQ, kong_exit(401, {"message": "Unauthorized"}))
    m = compare(exp, cap(401, body=b'{"message":"Invalid signature"}'))
    assert m is not None
    assert m.message.splitlines()[0] == ("expected body key 'message' to be 'Unauthorized', "
                                         "got 'Invalid signature'")


def test_a_response_from_a_backend_fails_when_none_should_reach_it():
    exp = Expected(REQ, ExpectedResponse(status=(200, 403)))
    m = compare(exp, cap(200, body=echo()))
    assert m is not None and m.what == "upstream" and "user/user-1 received it" in m.got


def test_upstream_path_and_instance_are_compared():
    exp = Expected(REQ, upstream=ExpectedUpstream(instances=("user-2",)))
    m = compare(exp, cap(body=echo()))
    assert m is not None and m.what == "upstream instance"
    exp = Expected(REQ, upstream=ExpectedUpstream(path="/v1/users/y"))
    m = compare(exp, cap(body=echo()))
    assert m is not None
    assert m.message.splitlines()[0] == "expected upstream path to be '/v1/users/y', got '/v1/users/x'"


def test_absent_upstream_header_and_same_as_response_header():
    exp = Expected(REQ, upstream=ExpectedUpstream(absent_headers=("x-tenant-id",)))
    assert compare(exp, cap(body=echo())).what == "upstream header x-tenant-id"
    exp = Expected(REQ, upstream=ExpectedUpstream(same_header_as_response=("X-Request-ID",)))
    assert compare(exp, cap(headers=[("X-Request-ID", "r1")], body=echo())) is None
    assert compare(exp, cap(headers=[("X-Request-ID", "r2")], body=echo())) is not None


def test_header_one_of_and_elapsed_limit():
    exp = Expected(REQ, ExpectedResponse(status=(429,), header_one_of={"Retry-After": ("1", "2")},
                                         max_elapsed_ms=1.0))
    m = compare(exp, cap(429, headers=[("Retry-After", "3")]))
    assert m is not None and m.what == "header Retry-After"
    m = compare(exp, cap(429, headers=[("Retry-After", "2")]))
    assert m is not None and m.what == "response time"


def test_upstream_body_size_is_compared():
    exp = Expected(REQ, upstream=ExpectedUpstream(body_size=1048576))
    m = compare(exp, cap(body=echo(body_size=1048575)))
    assert m is not None
    assert m.message.splitlines()[0] == "expected upstream body size to be 1048576, got 1048575"
    assert compare(exp, cap(body=echo(body_size=1048576))) is None
