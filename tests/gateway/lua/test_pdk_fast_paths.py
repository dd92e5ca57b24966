"""The bridge's shortcuts keep the PDK's meaning: header ops filtered in Lua,
get_headers built in Lua, serialize values sent as JSON text, decode caches
that hand out fresh tables, kong.ctx.plugin made in Lua and kept across phases."""

from __future__ import annotations

import asyncio

from test_pdk_bridge import ctx, handler, make_plugin, request

from harness.gateway.plugin_api import Headers, Response


def run_access(p, req, c=None):
    c = c or ctx()
    asyncio.run(p.access(req, c))
    return c


def test_clear_after_a_truncated_read_still_reaches_headers_past_the_limit(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers(2)
  kong.service.request.clear_header("X-Late")
  kong.service.request.set_header("X-Count", tostring(h["x-late"]))
end"""))
    req = request([("A", "1"), ("B", "2"), ("X-Late", "spoofed")])
    run_access(p, req)
    assert "X-Late" not in req.headers
    assert req.headers.get("X-Count") == "nil"


def test_after_a_complete_read_set_then_clear_and_clear_then_set_apply_in_order(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers(100)
  local r = kong.service.request
  r.set_header("X-New", "1")
  r.clear_header("x-new")
  r.clear_header("X-Old")
  r.set_header("x-old", "replaced")
  r.clear_header("X-Absent")
  r.set_header("X-Multi", "one")
  r.add_header("X-Multi", "two")
end"""))
    req = request([("X-Old", "a"), ("X-Old", "b"), ("X-Multi", "zero")])
    run_access(p, req)
    assert "X-New" not in req.headers
    assert req.headers.get_all("X-Old") == ["replaced"]
    assert req.headers.get_all("X-Multi") == ["one", "two"]


def test_get_headers_gives_lower_case_names_and_arrays_for_repeats(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers()
  local n = 0
  for _ in pairs(h) do n = n + 1 end
  kong.service.request.set_header("X-Seen", n .. " " .. h["x-one"] .. " "
    .. table.concat(h["x-rep"], ",") .. " " .. type(h["X-One"]))
end"""))
    req = request([("X-One", "1"), ("x-REP", "a"), ("X-Rep", "b"), ("X-Rep", "c")])
    run_access(p, req)
    assert req.headers.get("X-Seen") == "2 1 a,b,c nil"


def test_get_headers_keeps_empty_values_and_values_holding_a_nul(tmp_path):
    # Names and values cross joined by NUL; a value with a NUL in it (only a plugin
    # could set one) takes the pairwise path, and empty values stay empty strings.
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers()
  kong.service.request.set_header("X-Seen", #h["x-nul"] .. " [" .. h["x-empty"] .. "] "
    .. h["x-last"])
end"""))
    req = request([("X-Empty", ""), ("X-Nul", "a\0b"), ("X-Last", "z")])
    run_access(p, req)
    assert req.headers.get("X-Seen") == "3 [] z"
    req = request([("X-Empty", ""), ("X-Nul", "ab"), ("X-Last", "")])
    p2 = make_plugin(tmp_path / "second", handler("""
function H:access(conf)
  local h = kong.request.get_headers()
  kong.service.request.set_header("X-Seen", #h["x-nul"] .. "[" .. h["x-empty"] .. "]["
    .. h["x-last"] .. "]")
end"""))
    run_access(p2, req)
    assert req.headers.get("X-Seen") == "2[][]"


def test_get_headers_after_a_header_op_sees_the_change(tmp_path):
    # The first get_headers is answered from headers passed in at the phase's start;
    # after any header op it must ask Python again (the passed-in copy is stale).
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local before = kong.request.get_headers()
  kong.service.request.set_header("X-Added", "1")
  kong.service.request.clear_header("X-Gone")
  local after = kong.request.get_headers()
  kong.service.request.set_header("X-Seen", tostring(before["x-added"]) .. " "
    .. tostring(before["x-gone"]) .. " " .. tostring(after["x-added"]) .. " "
    .. tostring(after["x-gone"]))
end"""))
    req = request([("X-Gone", "g")])
    run_access(p, req)
    assert req.headers.get("X-Seen") == "nil g 1 nil"


def test_get_headers_reads_up_to_a_thousand_headers(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers(1000)
  local n = 0
  for _ in pairs(h) do n = n + 1 end
  kong.service.request.set_header("X-N", n)
end"""))
    req = request([(f"X-H{i}", str(i)) for i in range(1200)])
    run_access(p, req)
    assert req.headers.get("X-N") == "1000"


def test_serialize_values_keep_their_json_shape(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local s = kong.log.set_serialize_value
  s("obj", { id = "acme", n = 3, f = 1.5, ok = true, none = ngx.null,
             list = { "a", "b" }, empty = {}, nested = { deep = { "x\\"y\\\\z\\n" } } })
  s("num", 7)
  s("text", "tab\\there")
end"""))
    c = run_access(p, request())
    assert c.serialize == {
        "obj": {"id": "acme", "n": 3, "f": 1.5, "ok": True, "none": None, "list": ["a", "b"],
                "empty": {}, "nested": {"deep": ['x"y\\z\n']}},
        "num": 7, "text": "tab\there"}
    assert isinstance(c.serialize["num"], int)


def test_serialize_values_without_an_exact_json_form_still_convert(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  kong.log.set_serialize_value("utf8", "caf\\195\\169")
  kong.log.set_serialize_value("sparse", { [1] = "a", [3] = "c" })
  kong.log.set_serialize_value("big", 2 ^ 60)
end"""))
    c = run_access(p, request())
    assert c.serialize["utf8"] == "café"
    assert c.serialize["sparse"] == {"1": "a", "3": "c"}
    assert c.serialize["big"] == 2 ** 60


def test_cjson_decode_hands_out_a_fresh_table_each_call(tmp_path):
    p = make_plugin(tmp_path, handler("""
local cjson = require "cjson.safe"
function H:access(conf)
  local a = cjson.decode('{"k":{"v":1}}')
  a.k.v = 2
  local b = cjson.decode('{"k":{"v":1}}')
  local bad, err = cjson.decode('{"k":')
  kong.service.request.set_header("X-V", b.k.v .. " " .. tostring(bad) .. " " .. tostring(err ~= nil))
  kong.service.request.set_header("X-B64", tostring(ngx.decode_base64("!!!")) .. " "
    .. ngx.decode_base64("aGk=") .. " " .. ngx.decode_base64("aGk="))
end"""))
    req = request()
    run_access(p, req)
    run_access(p, req := request())
    assert req.headers.get("X-V") == "1 nil true"
    assert req.headers.get("X-B64") == "nil hi hi"


def test_kong_ctx_plugin_made_in_access_is_seen_in_header_filter(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  kong.ctx.plugin.seen = "from access"
end
function H:header_filter(conf)
  kong.log.set_serialize_value("seen", kong.ctx.plugin.seen)
end"""))
    c = run_access(p, request())
    p.header_filter(request(), Response(200, Headers()), c)
    assert c.serialize["seen"] == "from access"


def test_kong_ctx_shared_plain_values_reach_lua_and_changes_come_back(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local s = kong.ctx.shared
  kong.service.request.set_header("X-Shared", table.concat({ s.text, tostring(s.n),
    tostring(s.yes), tostring(s.obj) }, " "))
  s.n = s.n + 1
  s.text = nil
end"""))
    c = ctx()
    c.shared.update(text="t", n=41, yes=True, obj={"not": "plain"})
    req = request()
    run_access(p, req, c)
    assert req.headers.get("X-Shared") == "t 41 true nil"
    assert c.shared["n"] == 42 and c.shared["obj"] == {"not": "plain"}
    assert "text" not in c.shared and c.shared["yes"] is True
