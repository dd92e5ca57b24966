"""Headers and their serialisation: the shortcuts keep the plain semantics."""

from __future__ import annotations

from harness.gateway.plugin_api import Headers
from harness.gateway.wire import header_block, head


def parsed(pairs: list[tuple[str, str]]) -> Headers:
    return Headers.from_parsed(list(pairs), [k.lower() for k, _ in pairs])


def test_set_replaces_every_value_and_keeps_the_others_in_order():
    h = parsed([("A", "1"), ("X-Dup", "a"), ("B", "2"), ("x-dup", "b")])
    h.set("X-DUP", "c")
    assert h.items() == [("A", "1"), ("B", "2"), ("X-DUP", "c")]
    h.remove("x-dup")
    h.remove("absent")
    assert h.items() == [("A", "1"), ("B", "2")]


def test_set_many_appends_when_absent_and_replaces_when_present():
    h = parsed([("Content-Type", "json")])
    h.set_many([("X-One", "1"), ("X-Two", "2")], ["x-one", "x-two"])
    assert h.items() == [("Content-Type", "json"), ("X-One", "1"), ("X-Two", "2")]
    h.set_many([("x-two", "22"), ("X-Three", "3")], ["x-two", "x-three"])
    assert h.get_all("X-Two") == ["22"]
    assert h.get("x-three") == "3"
    assert len(h) == 4


def test_to_dict_lists_repeated_names_and_lower_cases_all():
    assert parsed([("A", "1"), ("B", "2")]).to_dict() == {"a": "1", "b": "2"}
    assert parsed([("A", "1"), ("a", "2"), ("B", "3"), ("A", "4")]).to_dict() == \
        {"a": ["1", "2", "4"], "b": "3"}


def test_parsed_headers_are_clean_until_a_plugin_sets_cr_or_lf():
    h = parsed([("A", "1")])
    assert not h.dirty
    h.set("B", "fine")
    h.add("C", "fine")
    h.set_many([("D", "fine")], ["d"])
    assert not h.dirty
    h.set("Evil", "x\r\nSet-Cookie: y")
    assert h.dirty
    h2 = parsed([])
    h2.set_many([("Evil", "x\nY: z")], ["evil"])
    assert h2.dirty
    assert Headers([("A", "1")]).dirty   # built from arbitrary pairs: not trusted


def test_a_value_with_cr_or_lf_never_splits_the_header_block():
    h = parsed([("A", "1")])
    h.set("Evil", "x\r\nSet-Cookie: y")
    block = header_block(h._items, h._low, frozenset(), h.dirty)
    assert block == "A: 1\r\nEvil: xSet-Cookie: y\r\n"
    assert head(200, h).count(b"\r\n") == 4   # status, two headers, blank line
