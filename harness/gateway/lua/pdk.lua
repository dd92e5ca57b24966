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

local lower = string.lower

-- `st.present` (lower-case name -> true) is known when the plugin read every header
-- (get_headers not truncated): clearing a name that is not there is then a no-op
-- that need not cross into Python (tenant-context clears ~20 spoofable names).
local function push_op(st, op, name, value)
  if type(name) ~= "string" then
    error("header name must be a string", 3)
  end
  local present = st.present
  if present then
    local low = lower(name)
    if op == "c" then
      if not present[low] then
        return
      end
      present[low] = nil
    else
      if op == "s" and not present[low] then
        op = "a"   -- nothing to replace: Python appends without searching
      end
      present[low] = true
    end
  end
  local n = st.nops
  st.ops[n + 1], st.ops[n + 2], st.ops[n + 3] = op, name, value
  st.nops = n + 3
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
    return headers_table(st, PY.get_headers(st.handle, pending_ops(st), max_headers or 100))
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
local CONSUMERS, CONSUMERS_BY_NAME = {}, {}
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
local PENDING = {}   -- key -> handle of the request running the loader
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
  -- LuaJIT's xpcall passes arguments on: no closure per phase (closures stop the JIT)
  local ok, err = xpcall(handler[phase], on_error, handler, conf)
  if not ok and err ~= EXIT then
    return "error", err
  end
  return st.exit_status and "exit" or "done"
end

-- Phases run in reusable coroutines: creating one per phase (a Lua thread and its
-- stack) was a large share of the bridge's allocations and so of its GC work. A
-- worker yields DONE after each phase and is resumed with the next one's arguments;
-- one abandoned mid-I/O is simply not returned to the pool.
local DONE = newproxy(false)
local IDLE, IDLE_N, IDLE_MAX = {}, 0, 256

local function worker(handler, phase, conf, st)
  while true do
    local kind, detail = run_phase(handler, phase, conf, st)
    handler, phase, conf, st = yield(DONE, kind, detail)
  end
end

local function take_worker()
  local n = IDLE_N
  if n == 0 then
    return coroutine.create(worker)
  end
  local co = IDLE[n]
  IDLE[n] = nil
  IDLE_N = n - 1
  return co
end

local ROUTES, SERVICES, CREDENTIALS = {}, {}, {}

local function entity(cache_tbl, name, id)
  if name == nil then
    return nil
  end
  local t = cache_tbl[name]
  if not t then
    t = { name = name, id = id }
    cache_tbl[name] = t
  end
  return t
end

-- kong.log.set_serialize_value values as one JSON object text, so that Python
-- decodes them in one call instead of walking Lua tables; false when a value has
-- no exact JSON form here (Python then converts the table as before).
local JSON_ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                   ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_esc(c)
  return JSON_ESC[c] or ("\\u%04x"):format(c:byte())
end
local MAX_EXACT = 2 ^ 53

local function encode_value(v, depth, buf)
  local tv = type(v)
  if tv == "string" then
    if v:find("[\128-\255]") then   -- non-ASCII: keep lupa's own conversion
      return false
    end
    buf[#buf + 1] = '"' .. v:gsub('[%c"\\]', json_esc) .. '"'
  elseif tv == "number" then
    if v ~= v or v >= MAX_EXACT or v <= -MAX_EXACT then
      return false
    end
    buf[#buf + 1] = v % 1 == 0 and ("%d"):format(v) or ("%.17g"):format(v)
  elseif tv == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif v == NULL then
    buf[#buf + 1] = "null"
  elseif tv == "table" then
    if depth > 20 then
      return false
    end
    local n, strings, numbers = 0, 0, 0
    for k in pairs(v) do
      n = n + 1
      if type(k) == "string" then
        strings = strings + 1
      elseif type(k) == "number" and k % 1 == 0 and k >= 1 then
        numbers = numbers + 1
      end
    end
    if n == 0 then
      buf[#buf + 1] = "{}"
    elseif numbers == n then   -- an array only when the keys are exactly 1..n
      for i = 1, n do
        if v[i] == nil then
          return false
        end
      end
      buf[#buf + 1] = "["
      for i = 1, n do
        if i > 1 then
          buf[#buf + 1] = ","
        end
        if not encode_value(v[i], depth + 1, buf) then
          return false
        end
      end
      buf[#buf + 1] = "]"
    elseif strings == n then
      buf[#buf + 1] = "{"
      for k, x in pairs(v) do
        if not encode_value(k, depth + 1, buf) then
          return false
        end
        buf[#buf + 1] = ":"
        if not encode_value(x, depth + 1, buf) then
          return false
        end
        buf[#buf + 1] = ","
      end
      buf[#buf] = "}"
    else
      return false
    end
  else
    return false
  end
  return true
end

local function encode_serialize(t)
  if t == nil then
    return nil
  end
  local buf = {}
  if not encode_value(t, 0, buf) then
    return t
  end
  return concat(buf)
end

-- kong.ctx.shared goes back to Python only when changed: a new key (seen by
-- __newindex) or a value that came in and is now different or gone.
local function shared_changed(st)
  if st.shared_dirty then
    return true
  end
  local flat, shared = st.shared_flat, st.shared
  for i = 1, #flat, 2 do
    if shared[flat[i]] ~= flat[i + 1] then
      return true
    end
  end
  return false
end

-- One metatable for every kong.ctx.shared table; the request state is found through a
-- weak map rather than a closure per request (closures stop the JIT). Weak values
-- too: LuaJIT's weak tables are not ephemerons, and st.shared points back at the
-- key, so a weak-keys-only map kept every request's state alive (a leak of ~2 KB
-- per request).
local SHARED_OWNER = setmetatable({}, { __mode = "kv" })
local SHARED_MT = {
  __newindex = function(t, k, v)
    rawset(t, k, v)
    local st = SHARED_OWNER[t]
    if st then
      st.shared_dirty = true
    end
  end,
}

local function shared_table(st, initial)
  SHARED_OWNER[initial] = st
  return setmetatable(initial, SHARED_MT)
end

-- Result of a step, as one tuple for Python:
-- kind, ops, authenticated, consumer username, credential key, serialize (JSON text, or
-- the table when it has no exact JSON form), dirty shared table, exit status, exit body,
-- exit headers, error / (co, request), the kong.ctx.plugin table when created here
local function step(co, st, ok, marker, kind, detail)
  if not ok then   -- the runner itself failed (cannot happen short of a VM error)
    return "error", pending_ops(st), false, nil, nil, nil, nil, nil, nil, nil, tostring(marker),
           st.new_plugin
  end
  if marker ~= DONE then   -- the phase yielded an I/O request (marker) to Python
    return "yield", co, marker
  end
  STATES[co] = nil
  if IDLE_N < IDLE_MAX then   -- the phase is over: the coroutine serves the next one
    IDLE_N = IDLE_N + 1
    IDLE[IDLE_N] = co
  end
  local consumer, cred = st.consumer, st.credential
  return kind, pending_ops(st), st.authenticated, consumer and consumer.username,
         cred and cred.key, encode_serialize(st.serialize), shared_changed(st) and st.shared or nil,
         st.exit_status, st.exit_body, st.exit_headers, detail, st.new_plugin
end

local function start(handler, phase, conf, handle, plugin_name, now, method, scheme, host, port,
                     path, query, client_ip, route_name, route_id, service_name, service_id,
                     consumer_name, cred_key, cred_id, plugin, ...)
  local st = { handle = handle, plugin_name = plugin_name, now = now, method = method,
               scheme = scheme, host = host, port = port, path = path, query = query,
               client_ip = client_ip, route = entity(ROUTES, route_name, route_id),
               service = entity(SERVICES, service_name, service_id),
               consumer = consumer_name and CONSUMERS_BY_NAME[consumer_name] or nil,
               plugin = plugin, ops = {}, nops = 0, authenticated = false }
  if plugin == nil then   -- first phase of this plugin for this request: Python keeps it
    st.plugin = {}
    st.new_plugin = st.plugin
  end
  if cred_key then
    local c = CREDENTIALS[cred_key]
    if not c then
      c = { id = cred_id, key = cred_key }
      CREDENTIALS[cred_key] = c
    end
    st.credential = c
  end
  -- kong.ctx.shared's plain values come flat (key, value, ...): cheaper than a
  -- Python dict converted to a table.
  local flat, shared = { ... }, {}
  for i = 1, #flat, 2 do
    shared[flat[i]] = flat[i + 1]
  end
  st.shared, st.shared_flat = shared_table(st, shared), flat
  local co = take_worker()
  STATES[co] = st
  return step(co, st, coroutine.resume(co, handler, phase, conf, st))
end

local function resume(co, value)
  local st = STATES[co]
  return step(co, st, coroutine.resume(co, value))
end

-- A request abandoned mid-I/O: release the cache keys it was loading.
local function abandon(handle)
  local keys = {}
  for key, owner in pairs(PENDING) do
    if owner == handle then
      PENDING[key] = nil
      keys[#keys + 1] = key
    end
  end
  return concat(keys, "\0")
end

local function add_consumer(id, username, custom_id)
  local c = { id = id, username = username, custom_id = custom_id }
  CONSUMERS[id], CONSUMERS_BY_NAME[username] = c, c
end

return {
  load_handler = load_handler,
  start = start,
  resume = resume,
  abandon = abandon,
  add_consumer = add_consumer,
  new_table = function() return {} end,
  null = NULL,
}
