"""The LuaJIT bridge with tiny plugins of our own: PDK subset semantics
(docs/pdk-subset.md), errors for functions outside it, Lua errors as 500s."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import ConfigError
from harness.gateway.plugin_api import Ctx, Exit, Headers, Request, Response
from harness.gateway.plugins import PluginCrash, StandaloneRuntime, lua_plugin
from harness.model import load_gateway

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = load_gateway(ROOT)


def make_plugin(tmp_path: Path, source: str, config=None, priority=5):
    (tmp_path / "kong" / "custom-plugins" / "probe").mkdir(parents=True)
    (tmp_path / "kong" / "custom-plugins" / "probe" / "handler.lua").write_text(source)
    fake = SimpleNamespace(kong_file=tmp_path / "kong" / "declarative-config" / "kong.yml",
                           kong=GATEWAY.kong, consumers=GATEWAY.consumers)
    runtime = StandaloneRuntime(gateway=fake, log_dir=tmp_path)  # type: ignore[arg-type]
    return lua_plugin("probe", priority)(config or {"greeting": "hi", "list": ["a", "b"]}, runtime)


def request(headers=()) -> Request:
    return Request(method="POST", scheme="https", host="acme.app.example.com", port=8443,
                   path="/api/x", raw_path="/api/x", query="q=1", headers=Headers(list(headers)),
                   client_ip="10.1.2.3")


def ctx() -> Ctx:
    return Ctx(gateway=GATEWAY, request_id="abc", route=GATEWAY.route("users"))


def handler(body: str, prio: int = 5) -> str:
    return f"local H = {{ PRIORITY = {prio}, VERSION = '1' }}\n{body}\nreturn H\n"


def test_request_getters_and_header_ops_reach_python(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local h = kong.request.get_headers(1000)
  kong.service.request.clear_header("x-drop")
  kong.service.request.set_header("X-Seen", kong.request.get_method() .. " "
    .. kong.request.get_host() .. " " .. kong.request.get_path() .. " " .. h["x-multi"][2]
    .. " " .. conf.greeting .. #conf.list .. " " .. kong.router.get_route().name)
  -- a later read sees the earlier change
  kong.service.request.set_header("X-After", tostring(kong.request.get_header("x-drop")))
end"""))
    req, c = request([("X-Drop", "1"), ("X-Multi", "a"), ("x-multi", "b")]), ctx()
    asyncio.run(p.access(req, c))
    assert req.headers.get("X-Seen") == "POST acme.app.example.com /api/x b hi2 users"
    assert req.headers.get("X-After") == "nil" and "X-Drop" not in req.headers


def test_exit_with_table_body_is_compact_json(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  kong.response.exit(418, { message = "a/b" }, { ["X-Why"] = "tea" })
  kong.service.request.set_header("X-Unreached", "1")
end"""))
    req = request()
    with pytest.raises(Exit) as info:
        asyncio.run(p.access(req, ctx()))
    exc = info.value
    assert exc.status == 418 and json.loads(exc.body) == {"message": "a/b"}
    assert exc.body == b'{"message":"a\\/b"}'
    assert exc.headers.get("X-Why") == "tea"
    assert "X-Unreached" not in req.headers


def test_pdk_function_outside_the_subset_fails_naming_it(tmp_path, caplog):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  kong.request.get_body()
end"""))
    with caplog.at_level(logging.ERROR, logger="harness.gateway.lua"):
        with pytest.raises(PluginCrash):
            asyncio.run(p.access(request(), ctx()))
    assert "PDK function kong.request.get_body is not implemented by the reference gateway" \
        in caplog.text
    assert "stack traceback" in caplog.text


def test_lua_error_is_a_crash_with_traceback(tmp_path, caplog):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local t = nil
  return t.x
end"""))
    with caplog.at_level(logging.ERROR, logger="harness.gateway.lua"):
        with pytest.raises(PluginCrash):
            asyncio.run(p.access(request(), ctx()))
    assert "attempt to index local 't'" in caplog.text


def test_require_outside_the_subset_is_refused(tmp_path, caplog):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  require "resty.redis"
end"""))
    with caplog.at_level(logging.ERROR, logger="harness.gateway.lua"):
        with pytest.raises(PluginCrash):
            asyncio.run(p.access(request(), ctx()))
    assert "module 'resty.redis' is not provided by the reference gateway" in caplog.text


def test_cjson_null_escape_uri_and_base64(tmp_path):
    p = make_plugin(tmp_path, handler("""
local cjson = require "cjson.safe"
function H:access(conf)
  local v = cjson.decode('{"a":null,"b":[1,2]}')
  local bad, err = cjson.decode('{')
  kong.service.request.set_header("X-R", table.concat({
    tostring(v.a == cjson.null), type(v.a), #v.b, tostring(bad), tostring(err ~= nil),
    ngx.escape_uri("a b/é"), ngx.decode_base64("aGk="), tostring(ngx.decode_base64("!!")),
    cjson.encode({x = "y"})}, "|"))
end"""))
    req = request()
    asyncio.run(p.access(req, ctx()))
    assert req.headers.get("X-R") == \
        'true|userdata|2|nil|true|a%20b%2F%C3%A9|hi|nil|{"x":"y"}'


def test_authenticate_sets_consumer_for_later_plugins_and_serialize_value(tmp_path):
    p = make_plugin(tmp_path, handler("""
function H:access(conf)
  local c = kong.client.load_consumer("tier-pro", true)
  kong.client.authenticate(c, kong.client.get_credential())
  kong.log.set_serialize_value("tenant", { id = "acme", tier = "pro" })
  kong.ctx.shared.seen = "yes"
end"""))
    c = ctx()
    c.credential = "auth-dev-2"
    asyncio.run(p.access(request(), c))
    assert c.consumer is not None and c.consumer.username == "tier-pro"
    assert c.credential == "auth-dev-2"
    assert c.serialize["tenant"] == {"id": "acme", "tier": "pro"}
    assert c.shared["seen"] == "yes"


def test_handler_priority_must_match_the_registry(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_plugin(tmp_path, handler("function H:access(conf) end", prio=77), priority=5)
    assert info.value.path == "PRIORITY"


def test_unsupported_phase_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_plugin(tmp_path, handler("function H:rewrite(conf) end"))
    assert info.value.path == "rewrite"


def test_header_filter_runs_and_may_not_do_io(tmp_path):
    p = make_plugin(tmp_path, handler("""
local http = require "resty.http"
function H:header_filter(conf)
  kong.log.warn("in header_filter")
  http.new():request_uri("http://127.0.0.1:1/")
end"""))
    with pytest.raises(PluginCrash):
        p.header_filter(request(), Response(200, Headers()), ctx())


def test_resty_http_reports_connection_refused(tmp_path):
    p = make_plugin(tmp_path, handler("""
local http = require "resty.http"
function H:access(conf)
  local c = http.new()
  c:set_timeout(500)
  local res, err = c:request_uri("http://127.0.0.1:1/x", { method = "GET" })
  kong.service.request.set_header("X-Err", tostring(res) .. " " .. tostring(err))
end"""))
    req = request()
    asyncio.run(p.access(req, ctx()))
    assert req.headers.get("X-Err") == "nil connection refused"
