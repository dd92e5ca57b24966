-- The Kong PDK subset of docs/pdk-subset.md, for custom plugins run by the
-- reference gateway in LuaJIT (lupa): the kong.* tables, ngx, and the modules a
-- plugin may require (cjson, cjson.safe, resty.http). Loaded once per process,
-- after runner.lua, with `PY` (a table of Python callables) and what runner.lua
-- shares (request state, header ops queue, sentinels, consumers, cache loaders);
-- returns load_handler, which the Python bridge adds to the runner's functions.
-- Hot functions keep what they use as local upvalues.

-- luacheck: globals kong ngx
local PY, R = ...

local type, tostring, error, pairs, select = type, tostring, error, pairs, select
local concat, yield, running = table.concat, coroutine.yield, coroutine.running
local setmetatable, rawset, pcall = setmetatable, rawset, pcall

local NULL, EXIT, STATES = R.null, R.exit, R.states
local state, push_op, pending_ops = R.state, R.push_op, R.pending_ops
local CONSUMERS, CONSUMERS_BY_NAME, PENDING = R.consumers, R.consumers_by_name, R.pending

-- Tables whose unknown fields raise an error naming the PDK function.
local function strict(prefix, t)
  return setmetatable(t, {
    __index = function(_, k)
      error("PDK function " .. prefix .. "." .. tostring(k)
            .. " is not implemented by the reference gateway", 2)
    end,
  })
end

-- Small bounded caches of pure functions of a string: a client sends the same
-- token on every request, so tenant-context's base64url + JSON decode of its
-- payload is a table lookup after the first time.
local function memo(fn, max)
  local cache, size = {}, 0
  return function(s)
    local v = cache[s]
    if v == nil then
      v = fn(s)
      if v == nil then
        return nil
      end
      if size >= max then
        cache, size = {}, 0
      end
      cache[s], size = v, size + 1
    end
    return v
  end
end

local function join(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  return concat(parts)
end

-- The PDK's get_headers table (lower-case names; repeated ones as arrays) from
-- Python's answer: complete flag, then either the names and the values each joined
-- by NUL (two strings: splitting here is cheaper than converting one Python string
-- per name and value), or, when a value holds a NUL, name, value, name, value...
local find, sub = string.find, string.sub

local function put(t, name, value)
  local prev = t[name]
  if prev == nil then
    t[name] = value
  elseif type(prev) == "table" then
    prev[#prev + 1] = value
  else
    t[name] = { prev, value }
  end
end

local function headers_table(st, complete, names, values, ...)
  local t = {}
  if complete == "flat" then
    local flat = { names, values, ... }
    complete = flat[1]
    for i = 2, #flat, 2 do
      put(t, flat[i], flat[i + 1])
    end
  elseif names ~= "" then
    local np, vp = 1, 1
    while true do
      local ne, ve = find(names, "\0", np, true), find(values, "\0", vp, true)
      if not ne then
        put(t, sub(names, np), sub(values, vp))
        break
      end
      put(t, sub(names, np, ne - 1), sub(values, vp, ve - 1))
      np, vp = ne + 1, ve + 1
    end
  end
  if complete then
    local present = {}
    for name in pairs(t) do
      present[name] = true
    end
    st.present = present
  end
  return t
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
    local limit = max_headers or 100
    if st.hnames ~= nil and st.hcount <= limit then   -- as passed in at start: no crossing
      return headers_table(st, true, st.hnames, st.hvalues)
    end
    return headers_table(st, PY.get_headers(st.handle, pending_ops(st), limit))
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
    return CONSUMERS[id] or (by_username and CONSUMERS_BY_NAME[id]) or nil
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

-- kong.cache (mlcache semantics): values live here, in Lua; Python only parks
-- requests that wait for another request's loader (miss coalescing).
local CACHE, CACHE_SIZE, CACHE_MAX = {}, 0, 10000
local cache = strict("kong.cache", {})
rawset(cache, "get", function(_, key, opts, loader, ...)
  if type(key) ~= "string" then
    error("key must be a string", 2)
  end
  local st = state()
  local e = CACHE[key]
  if e and (e.exp == 0 or e.exp > st.now) then
    return e.value
  end
  if PENDING[key] then   -- another request runs the loader: wait for its result
    local err = yield({ op = "cache_wait", key = key })
    if err ~= nil then
      return nil, err
    end
    e = CACHE[key]
    return e and e.value
  end
  PENDING[key] = st.handle
  local ok, v, err = pcall(loader, ...)
  PENDING[key] = nil
  if not ok then
    v, err = nil, tostring(v)
  end
  if err == nil then
    local ttl = opts and opts.ttl or 0
    if v == nil then
      ttl = opts and opts.neg_ttl or ttl
    end
    if CACHE_SIZE >= CACHE_MAX then
      CACHE, CACHE_SIZE = {}, 0
    end
    if not CACHE[key] then
      CACHE_SIZE = CACHE_SIZE + 1
    end
    CACHE[key] = { value = v, exp = ttl > 0 and (st.now + ttl) or 0 }
  end
  PY.cache_done(key, err)
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
  decode_base64 = (function()
    local cached = memo(function(s) return PY.decode_base64(s) or false end, 4096)
    return function(s)
      if type(s) ~= "string" then
        return PY.decode_base64(s)
      end
      return cached(s) or nil
    end
  end)(),
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
-- A fresh copy per call, as cjson gives: a plugin may change what it decoded.
local function copy(v, depth)
  if type(v) ~= "table" then
    return v
  end
  if depth > 100 then
    error("nested too deeply", 0)
  end
  local t = {}
  for k, x in pairs(v) do
    t[k] = copy(x, depth + 1)
  end
  return t
end

-- Decoded JSON (or the error) per text; only texts up to 8 KiB are kept.
local json_decoded = memo(function(text)
  local v, err = PY.json_decode(text)
  return { v, err }
end, 1024)

local cjson_safe = {
  null = NULL,
  decode = function(text)
    if type(text) ~= "string" then
      return nil, "expected a string"
    end
    if #text > 8192 then
      return PY.json_decode(text)
    end
    local r = json_decoded(text)
    return copy(r[1], 0), r[2]
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

-- The environment a plugin handler runs in ------------------------------------------
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

return {
  load_handler = load_handler,
}
