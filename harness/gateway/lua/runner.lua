-- The bridge's runner for custom plugins in LuaJIT (lupa): per-request state,
-- the queue of header ops, the reusable coroutines that run plugin phases, and
-- what a phase hands back to Python (see harness/gateway/lua/vm.py). Loaded
-- first, once per process; returns the functions the Python bridge drives and,
-- second, what pdk.lua (the Kong PDK tables) shares with it, so that both see
-- one request state and one set of sentinels.
--
-- Per-request state lives in Lua (`st`, found through the running coroutine)
-- so that most PDK calls never cross into Python: header changes are queued
-- as ops and handed to Python in one string when Python must see them. I/O
-- (resty.http, waiting for another request's kong.cache loader) yields a
-- request table to Python, which awaits it and resumes the coroutine, the way
-- OpenResty cosockets work.

local type, tostring, error, pairs = type, tostring, error, pairs
local concat, yield, running = table.concat, coroutine.yield, coroutine.running
local setmetatable, rawset, xpcall = setmetatable, rawset, xpcall

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
  st.hnames = nil   -- the headers passed in at start no longer describe the request
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

-- Consumers of kong.yml (kong.client.load_consumer; the consumer a request comes
-- in authenticated as) and the kong.cache keys whose loader a request is running
-- (released when that request is abandoned).
local CONSUMERS, CONSUMERS_BY_NAME = {}, {}
local PENDING = {}   -- key -> handle of the request running the loader

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
    -- An idle worker must not keep the last request's state (and its tables) alive.
    handler, phase, conf, st = nil, nil, nil, nil
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
                     consumer_name, cred_key, cred_id, hcount, hnames, hvalues, plugin, ...)
  -- hcount/hnames/hvalues: the request headers as get_headers' answer would give them
  -- (names and values NUL-joined), so the usual first get_headers needs no call back
  -- into Python; any header op makes them stale (push_op drops them).
  local st = { handle = handle, plugin_name = plugin_name, now = now, method = method,
               scheme = scheme, host = host, port = port, path = path, query = query,
               client_ip = client_ip, route = entity(ROUTES, route_name, route_id),
               service = entity(SERVICES, service_name, service_id),
               consumer = consumer_name and CONSUMERS_BY_NAME[consumer_name] or nil,
               plugin = plugin, ops = {}, nops = 0, authenticated = false,
               hcount = hcount, hnames = hnames, hvalues = hvalues }
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
  start = start,
  resume = resume,
  abandon = abandon,
  add_consumer = add_consumer,
  new_table = function() return {} end,
  null = NULL,
}, {
  state = state,
  states = STATES,
  push_op = push_op,
  pending_ops = pending_ops,
  null = NULL,
  exit = EXIT,
  consumers = CONSUMERS,
  consumers_by_name = CONSUMERS_BY_NAME,
  pending = PENDING,
}
