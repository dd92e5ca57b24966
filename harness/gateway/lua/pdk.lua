-- The Kong PDK subset of docs/pdk-subset.md, for custom plugins run by the
-- reference gateway in LuaJIT (lupa). Loaded once per process with `PY`, a
-- table of Python callables; returns the functions the Python bridge drives.
--
-- Per-request state lives in Lua (`st`, found through the running coroutine)
-- so that most PDK calls never cross into Python: header changes are queued
-- as ops and handed to Python in one string when Python must see them. I/O
-- (resty.http, waiting for another request's kong.cache loader) yields a
-- request table to Python, which awaits it and resumes the coroutine, the way
-- OpenResty cosockets work.

local PY = ...

local type, tostring, error, pairs, ipairs, select = type, tostring, error, pairs, ipairs, select
local concat, yield, running = table.concat, coroutine.yield, coroutine.running
local setmetatable, rawset, xpcall, pcall = setmetatable, rawset, xpcall, pcall

local NULL = newproxy(false)           -- cjson.null / ngx.null: a userdata sentinel
local EXIT = newproxy(false)           -- raised by kong.response.exit to end the phase
local STATES = setmetatable({}, { __mode = "k" })   -- coroutine -> request state

local function state()
  local st = STATES[running()]
  if not st then
    error("PDK function called outside a request", 3)
  end
  return st
end

-- Tables whose unknown fields raise an error naming the PDK function.
local function strict(prefix, t)
  return setmetatable(t, {
    __index = function(_, k)
      error("PDK function " .. prefix .. "." .. tostring(k)
            .. " is not implemented by the reference gateway", 2)
    end,
  })
end

local function pending_ops(st)
  if st.nops == 0 then
    return ""
  end
  local s = concat(st.ops, "\0", 1, st.nops)
  st.nops = 0
  return s
end

local function push_op(st, op, name, value)
  if type(name) ~= "string" then
    error("header name must be a string", 3)
  end
  local n = st.nops
  st.ops[n + 1], st.ops[n + 2], st.ops[n + 3] = op, name, value
  st.nops = n + 3
end

local function join(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  return concat(parts)
end

-- kong.request -------------------------------------------------------------
local request = strict("kong.request", {
  get_host = function() return state().host end,
  get_method = function() return state().method end,
  get_path = function() return state().path end,
  get_scheme = function() return state().scheme end,
  get_port = function() return state().port end,
  get_raw_query = function() return state().query end,
  get_headers = function(max_headers)
    if max_headers ~= nil and (type(max_headers) ~= "number" or max_headers < 1
                               or max_headers > 1000) then
      error("max_headers must be a number between 1 and 1000", 2)
    end
    local st = state()
    return PY.get_headers(st.handle, pending_ops(st), max_headers or 100)
  end,
  get_header = function(name)
    local st = state()
    return PY.get_header(st.handle, pending_ops(st), name)
  end,
})

-- kong.service.request -------------------------------------------------------
local service_request = strict("kong.service.request", {
  set_header = function(name, value)
    push_op(state(), "s", name, tostring(value))
  end,
  add_header = function(name, value)
    push_op(state(), "a", name, tostring(value))
  end,
  clear_header = function(name)
    push_op(state(), "c", name, "")
  end,
})

-- kong.response ------------------------------------------------------------
local response = strict("kong.response", {
  exit = function(status, body, headers)
    if type(status) ~= "number" then
      error("code must be a number", 2)
    end
    local st = state()
    st.exit_status, st.exit_body, st.exit_headers = status, body, headers
    error(EXIT, 0)
  end,
})

-- kong.client --------------------------------------------------------------
local client = strict("kong.client", {
  load_consumer = function(id, by_username)
    return PY.load_consumer(id, by_username and true or false)
  end,
  get_consumer = function() return state().consumer end,
  get_credential = function() return state().credential end,
  authenticate = function(consumer, credential)
    if consumer == nil and credential == nil then
      error("either credential or consumer must be provided", 2)
    end
    local st = state()
    st.consumer, st.credential, st.authenticated = consumer, credential, true
  end,
  get_ip = function() return state().client_ip end,
  get_forwarded_ip = function() return state().client_ip end,
})

-- kong.ctx -------------------------------------------------------------------
local ctx = setmetatable({}, {
  __index = function(_, k)
    local st = state()
    if k == "shared" then
      return st.shared
    elseif k == "plugin" then
      return st.plugin
    end
    error("PDK function kong.ctx." .. tostring(k) .. " is not implemented by the "
          .. "reference gateway", 2)
  end,
})

-- kong.cache (mlcache semantics; the store and miss coalescing are in Python) --
local cache = strict("kong.cache", {})
rawset(cache, "get", function(_, key, opts, loader, ...)
  if type(key) ~= "string" then
    error("key must be a string", 2)
  end
  local code, value = PY.cache_get(key)
  if code == 1 then
    return value
  end
  if code == 2 then   -- another request runs the loader: wait for its result
    local r = yield({ op = "cache_wait", key = key })
    return r.value, r.err
  end
  local ok, v, err = pcall(loader, ...)
  if not ok then
    v, err = nil, tostring(v)
  end
  local ttl = opts and opts.ttl
  local neg_ttl = opts and opts.neg_ttl
  PY.cache_finish(key, v, err, ttl, neg_ttl)
  if err ~= nil then
    return nil, err
  end
  return v
end)

-- kong.log -------------------------------------------------------------------
local function logger(level)
  return function(...)
    local st = STATES[running()]
    PY.log(level, st and st.plugin_name or "?", join(...))
  end
end
local log = strict("kong.log", {
  err = logger("error"), warn = logger("warning"), notice = logger("info"),
  info = logger("info"), debug = logger("debug"), crit = logger("critical"),
  alert = logger("critical"), emerg = logger("critical"),
  set_serialize_value = function(key, value)
    if type(key) ~= "string" then
      error("key must be a string", 2)
    end
    local st = state()
    st.serialize = st.serialize or {}
    st.serialize[key] = value
  end,
})

-- kong.router ----------------------------------------------------------------
local router = strict("kong.router", {
  get_route = function() return state().route end,
  get_service = function() return state().service end,
})

kong = strict("kong", {
  request = request,
  service = strict("kong.service", { request = service_request }),
  response = response,
  client = client,
  ctx = ctx,
  cache = cache,
  log = log,
  router = router,
  version = PY.version,
})

-- ngx ----------------------------------------------------------------------------
local function escape_uri(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

local ngx_log_levels = { [1] = "critical", [2] = "critical", [3] = "critical",
                         [4] = "error", [5] = "warning", [6] = "info", [7] = "info",
                         [8] = "debug" }
ngx = setmetatable({
  null = NULL,
  STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7,
  DEBUG = 8,
  OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
  HTTP_OK = 200, HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_FORBIDDEN = 403,
  HTTP_NOT_FOUND = 404, HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_SERVICE_UNAVAILABLE = 503,
  escape_uri = escape_uri,
  decode_base64 = function(s) return PY.decode_base64(s) end,
  encode_base64 = function(s, no_padding) return PY.encode_base64(s, no_padding or false) end,
  now = function() return PY.now() end,
  time = function() return PY.time() end,
  log = function(level, ...)
    local st = STATES[running()]
    PY.log(ngx_log_levels[level] or "info", st and st.plugin_name or "?", join(...))
  end,
}, {
  __index = function(_, k)
    error("ngx." .. tostring(k) .. " is not implemented by the reference gateway", 2)
  end,
})

-- Modules a plugin may require ------------------------------------------------------
local cjson_safe = {
  null = NULL,
  decode = function(text)
    if type(text) ~= "string" then
      return nil, "expected a string"
    end
    return PY.json_decode(text)
  end,
  encode = function(value)
    return PY.json_encode(value)
  end,
}
local cjson = setmetatable({
  decode = function(text)
    local v, err = cjson_safe.decode(text)
    if err then error(err, 2) end
    return v
  end,
  encode = function(value)
    local v, err = cjson_safe.encode(value)
    if err then error(err, 2) end
    return v
  end,
  null = NULL,
}, { __index = cjson_safe })

local http_mt = {}
http_mt.__index = http_mt
function http_mt:set_timeout(ms)
  self.timeout = ms
end
function http_mt:set_timeouts(connect, send, read)
  self.timeout = math.max(connect or 0, send or 0, read or 0)
end
function http_mt:request_uri(uri, params)
  params = params or {}
  local r = yield({ op = "http", uri = uri, method = params.method or "GET",
                    headers = params.headers, body = params.body,
                    timeout = self.timeout or 60000 })
  if r.err then
    return nil, r.err
  end
  return { status = r.status, headers = r.headers, body = r.body }
end
local resty_http = {
  new = function() return setmetatable({ timeout = 60000 }, http_mt) end,
}

local MODULES = { ["cjson.safe"] = cjson_safe, cjson = cjson, ["resty.http"] = resty_http }

local function sandbox_require(name)
  local m = MODULES[name]
  if m == nil then
    error("module '" .. tostring(name) .. "' is not provided by the reference gateway "
          .. "(see docs/pdk-subset.md)", 2)
  end
  return m
end

-- Bridge functions ------------------------------------------------------------------
local function load_handler(source, chunkname)
  local env = setmetatable({ require = sandbox_require, kong = kong, ngx = ngx },
                           { __index = _G })
  local fn, err = loadstring(source, chunkname)
  if not fn then
    error(err, 0)
  end
  setfenv(fn, env)
  local handler = fn()
  if type(handler) ~= "table" then
    error(chunkname .. " must return the plugin table", 0)
  end
  return handler
end

local function on_error(e)
  if e == EXIT then
    return e
  end
  return debug.traceback(tostring(e), 2)
end

-- Runs one phase of one plugin for one request, inside a coroutine.
local function run_phase(handler, phase, conf, st)
  STATES[running()] = st
  local ok, err = xpcall(function() return handler[phase](handler, conf) end, on_error)
  local res = { op = "done", ops = pending_ops(st), exit_status = st.exit_status,
                exit_body = st.exit_body, exit_headers = st.exit_headers,
                serialize = st.serialize, authenticated = st.authenticated,
                consumer = st.consumer, credential = st.credential }
  if not ok and err ~= EXIT then
    res.op, res.err = "error", err
  end
  return res
end

local function new_state(handle, plugin_name, method, scheme, host, port, path, query,
                         client_ip, route, service, consumer, credential, shared, plugin)
  local st = { handle = handle, plugin_name = plugin_name, method = method, scheme = scheme,
               host = host, port = port, path = path, query = query, client_ip = client_ip,
               route = route, service = service, consumer = consumer,
               credential = credential, shared = shared, plugin = plugin,
               ops = {}, nops = 0, authenticated = false }
  return st
end

local function new_table()
  return {}
end

local function credential_table(id, key)
  return { id = id, key = key }
end

return {
  load_handler = load_handler,
  run_phase = run_phase,
  new_state = new_state,
  new_table = new_table,
  credential_table = credential_table,
  null = NULL,
  is_null = function(v) return v == NULL end,
}
