"""kong-behaviour.md §1.5 (upstream URI table) and §1.3 (path normalisation)."""

from __future__ import annotations

import pytest

from harness.gateway.upstream_uri import normalize, upstream_path

# (service.path, strip_path, route path, request, upstream path): every row of §1.5
ROWS = [
    (None, True, "/foo", "/foo", "/"),
    (None, True, "/foo", "/foo/", "/"),
    (None, True, "/foo", "/foo/bar", "/bar"),
    (None, True, "/foo", "/foobar", "/bar"),
    ("/api", True, "/foo", "/foo", "/api"),
    ("/api", True, "/foo", "/foo/", "/api/"),
    ("/api", True, "/foo", "/foo/bar", "/api/bar"),
    ("/api/", True, "/foo", "/foo", "/api"),
    ("/api/", True, "/foo", "/foo/", "/api/"),
    (None, False, "/foo", "/foo/bar", "/foo/bar"),
    ("/api", False, "/foo", "/foo/bar", "/api/foo/bar"),
    ("/api", False, "/", "/", "/api"),
]


@pytest.mark.routing
@pytest.mark.parametrize(("base", "strip", "prefix", "req", "want"), ROWS)
def test_upstream_path_follows_the_kong_table_row(base, strip, prefix, req, want):
    # §1.5 row: service.path=base strip_path=strip route=prefix request=req
    assert upstream_path(strip, prefix, req, base) == want


@pytest.mark.routing
@pytest.mark.parametrize(("raw", "want"), [
    ("/a/%7Euser", "/a/~user"),           # unreserved escape decoded
    ("/a/%2fb", "/a/%2Fb"),               # reserved escape kept, hex upper-cased
    ("/a//b///c", "/a/b/c"),              # slashes merged
    ("/a/./b/../c", "/a/c"),              # dot segments removed
    ("/../../etc/passwd", "/etc/passwd"),  # never above the root
    ("/api/%75sers", "/api/users"),
])
def test_normalize_matches_kong_uri_normalize(raw, want):
    # §1.3 row "request path": percent-decoding of unreserved chars, dot segments, // merge
    assert normalize(raw) == want
