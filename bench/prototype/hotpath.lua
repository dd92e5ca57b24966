-- Prototype (bench only, not the gateway): the per-request logic of the full plugin chain
-- in LuaJIT, with request state held in Lua, so that Python crosses into Lua a fixed number
-- of times per request (access start, resume after Redis, header_filter, log) whatever the
-- plugins do. It measures design option 1 of docs/reference-gateway-performance.md.
--
-- It runs the REAL kong/custom-plugins/tenant-context/handler.lua over a PDK whose header
-- state is a Lua table. The bundled plugins (correlation-id, jwt, request-size-limiting,
-- rate-limiting, response-transformer, cors, prometheus, file-log) are sketched with the
-- same per-request work as the reference gateway does for the bench's request (same
-- headers added and removed, same Redis commands, same metric series, a file-log line of
-- the same fields), not with every branch of Kong's behaviour. The route is the bench's.

local PY, handler_source, handler_name = ...
local C = PY.common   -- chain_common.lua: what the nginx prototype does the same way
-- "full": kong.yml's route; "issue": only jwt, tenant-context, Redis rate limiting,
-- prometheus and correlation-id (the chain the issue names)
local FULL = PY.chain ~= "issue"

local byte, sub, find, lower, format = string.byte, string.sub, string.find, string.lower,
  string.format
local concat, floor = table.concat, math.floor
local yield = coroutine.yield

local NULL = newproxy(false)
local EXIT = {}

-- -- request state -------------------------------------------------------------
local ST            -- the running request's state (one phase runs at a time)

local function hset(st, name, value)
  local low = lower(name)
  local slot = st.hidx[low]
  if slot then
    st.hv[slot] = value
    st.hn[slot] = name
  else
    local n = #st.hn + 1
    st.hn[n], st.hv[n], st.hidx[low] = name, value, n
  end
end

local function hclear(st, name)
  local low = lower(name)
  local slot = st.hidx[low]
  if slot then
    st.hv[slot] = nil   -- a hole: skipped when the head is written
    st.hidx[low] = nil
  end
end

-- -- the PDK subset tenant-context uses, over ST ------------------------------------
local consumers = {
  ["tier-enterprise"] = { id = "3f2c8c1e-0000-4000-8000-000000000003",
                          username = "tier-enterprise" },
}

local kong = {
  request = {
    get_headers = function()
      local t, hn, hv = {}, ST.hn, ST.hv
      for i = 1, #hn do
        local v = hv[i]
        if v ~= nil then t[lower(hn[i])] = v end
      end
      return t
    end,
    get_host = function() return ST.host end,
  },
  service = { request = {
    set_header = function(name, value) hset(ST, name, tostring(value)) end,
    clear_header = function(name) hclear(ST, name) end,
  } },
  response = {
    exit = function(status, body)
      ST.exit_status, ST.exit_body = status, body
      error(EXIT, 0)
    end,
  },
  cache = C.cache,
  router = { get_route = function() return ST.route end },
  ctx = { shared = {} },
  client = {
    load_consumer = function(name) return consumers[name] end,
    get_credential = function() return ST.credential end,
    authenticate = function(consumer, credential)
      ST.consumer, ST.credential = consumer, credential
    end,
  },
  log = {
    err = function(...) PY.log(concat({ ... })) end,
    warn = function(...) PY.log(concat({ ... })) end,
    set_serialize_value = function(k, v) ST.serialize[k] = v end,
  },
}

local ngx = {
  escape_uri = function(s) return (s:gsub("[^%w%-%._~]", function(c)
    return format("%%%02X", byte(c)) end)) end,
  decode_base64 = function(s) return PY.b64decode(s) end,
  null = NULL,
}

local modules = {
  ["cjson.safe"] = { decode = function(s) return PY.json_decode(s) end },
  ["resty.http"] = { new = function()
    return { set_timeout = function() end,
             request_uri = function(_, url) return PY.http_get(url) end }
  end },
}

local env = setmetatable({ kong = kong, ngx = ngx,
                           require = function(n) return modules[n] end },
                         { __index = _G })
local chunk = assert(loadstring(handler_source, handler_name))
setfenv(chunk, env)
local tenant_context = chunk()
-- -- bundled plugins, per-request work ---------------------------------------------
local ROUTE, SERVICE, TC_CONF = C.ROUTE, C.SERVICE, C.TC_CONF
local UUID_PREFIX = PY.uuid()
local counter = 0
local jwt_cache, jwt_cached = {}, 0

local function jwt_access(st, now)
  local auth = st.hidx["authorization"] and st.hv[st.hidx["authorization"]]
  -- not auth:match("^[Bb]earer%s+(%S+)$"): Lua patterns cost ~15 ns a byte (800-byte token)
  local token = auth and (sub(auth, 1, 7) == "Bearer " or sub(auth, 1, 7) == "bearer ")
    and not find(auth, " ", 8, true) and sub(auth, 8) or nil
  if not token then
    kong.response.exit(401, { message = "Unauthorized" })
  end
  local entry = jwt_cache[token]
  if entry == nil then
    entry = PY.jwt_verify(token)   -- decode + RS256 verify once per token
    if jwt_cached > 4096 then jwt_cache, jwt_cached = {}, 0 end
    jwt_cache[token], jwt_cached = entry, jwt_cached + 1
  end
  if not entry.ok then
    kong.response.exit(401, { message = entry.err })
  end
  if entry.exp <= now then
    kong.response.exit(401, { message = "token expired" })
  end
  if entry.nbf and entry.nbf > now then
    kong.response.exit(401, { message = "token not valid yet" })
  end
  if entry.exp - now > 3600 then
    kong.response.exit(401, { message = "exp claim exceeds maximum allowed expiration" })
  end
  st.credential = { key = entry.kid, id = entry.cred_id }
  kong.ctx.shared.authenticated_jwt_token = token
end

local RL = { minute = PY.limits.minute, hour = PY.limits.hour }   -- tier-enterprise

local function header_block(first, names, values)
  local out, n = { first }, 1
  for i = 1, #names do
    local v = values[i]
    if v ~= nil then
      out[n + 1], out[n + 2], out[n + 3], out[n + 4] = names[i], ": ", v, "\r\n"
      n = n + 4
    end
  end
  out[n + 1] = "\r\n"
  return concat(out)
end

local function split(st, names, values)
  local hn, hv, hidx = {}, {}, {}
  local np, vp, i = 1, 1, 0
  while true do
    local ne, ve = find(names, "\0", np, true), find(values, "\0", vp, true)
    i = i + 1
    local name = sub(names, np, (ne or 0) - 1)
    hn[i], hv[i] = name, sub(values, vp, (ve or 0) - 1)
    local low = lower(name)
    if hidx[low] == nil then hidx[low] = i end
    if not ne then break end
    np, vp = ne + 1, ve + 1
  end
  st.hn, st.hv, st.hidx = hn, hv, hidx
end

local function exit_response(st)
  local body = st.exit_body
  local text = type(body) == "table" and ('{"message":"' .. body.message .. '"}') or ""
  return st.exit_status, text
end

-- -- phases ------------------------------------------------------------------------
local function access(st, method, path, host, names, values, client_ip, now)
  split(st, names, values)
  st.host, st.client_ip, st.method, st.path, st.start = host, client_ip, method, path, now
  st.route, st.serialize = ROUTE, {}
  kong.ctx.shared = {}
  -- correlation-id (priority 100001)
  local rid = st.hidx["x-request-id"] and st.hv[st.hidx["x-request-id"]]
  if not rid then
    counter = counter + 1
    rid = UUID_PREFIX .. "#" .. counter
    hset(st, "X-Request-ID", rid)
  end
  st.rid = rid
  -- cors (2000): not a preflight; nothing in access.
  jwt_access(st, now)                                     -- jwt (1450)
  tenant_context:access(TC_CONF)                          -- tenant-context (1000)
  local cl = FULL and st.hidx["content-length"]           -- request-size-limiting (951)
  if cl and tonumber(st.hv[cl]) > 1048576 then
    kong.response.exit(413, { message = "Request size limit exceeded" })
  end
  local ident = st.hv[st.hidx["x-tenant-id"]] or st.client_ip   -- rate-limiting (910)
  local cmd, reset = C.rl_command(ident, now)
  local minute, hour = yield(cmd)
  st.rl = { minute - 0, hour - 0, reset }
  if minute > RL.minute or hour > RL.hour then
    kong.response.exit(429, { message = "API rate limit exceeded" })
  end
  -- the data plane: upstream URI (strip_path), Host, X-Forwarded-*
  local rest = sub(path, #"/api/users" + 1)
  hset(st, "Host", "user-upstream:8080")
  hset(st, "X-Forwarded-For", client_ip)
  hset(st, "X-Forwarded-Proto", "http")
  hset(st, "X-Forwarded-Host", host)
  hset(st, "X-Forwarded-Port", "8000")
  hset(st, "X-Forwarded-Path", path)
  hset(st, "X-Forwarded-Prefix", "/api/users")
  hset(st, "X-Real-IP", client_ip)
  return header_block(method .. " /v1/users" .. rest .. " HTTP/1.1\r\n", st.hn, st.hv)
end

local function header_filter(st, status, names, values, upstream_ms, proxy_ms)
  st.qn, st.qv = st.hn, st.hv   -- the request as proxied, for file-log
  split(st, names, values)
  hclear(st, "Connection")
  hset(st, "X-Kong-Upstream-Latency", tostring(upstream_ms))
  hset(st, "X-Kong-Proxy-Latency", tostring(proxy_ms))
  hset(st, "Via", "1.1 kong/3.9.1")
  hset(st, "X-Request-ID", st.rid)                        -- correlation-id echo
  if FULL then hset(st, "Vary", "Origin") end              -- cors: no Origin sent
  local rl = st.rl                                        -- rate-limiting headers
  hset(st, "X-RateLimit-Limit-Minute", tostring(RL.minute))
  hset(st, "X-RateLimit-Remaining-Minute", tostring(RL.minute - rl[1]))
  hset(st, "X-RateLimit-Limit-Hour", tostring(RL.hour))
  hset(st, "X-RateLimit-Remaining-Hour", tostring(RL.hour - rl[2]))
  hset(st, "RateLimit-Limit", tostring(RL.minute))
  hset(st, "RateLimit-Remaining", tostring(RL.minute - rl[1]))
  hset(st, "RateLimit-Reset", tostring(rl[3]))
  if FULL then                                             -- response-transformer
    hclear(st, "X-Powered-By")
    hset(st, "X-Content-Type-Options", "nosniff")
    hset(st, "Strict-Transport-Security", "max-age=31536000; includeSubDomains")
  end
  st.status = status
  return header_block("HTTP/1.1 " .. status .. " OK\r\n", st.hn, st.hv)
end

-- JSON string literals: Lua patterns scan at ~15 ns a byte (a token is 800 bytes), so the
-- quoted form of each value is kept; header values repeat from request to request.
-- (No closure inside jstr: creating one is not compiled by the JIT, which then leaves the
-- whole log loop to the interpreter.)
local quoted, nquoted = {}, 0
local function escape_char(c) return format("\\u%04x", byte(c)) end
local function jstr(s)
  local q = quoted[s]
  if q then return q end
  local e = s
  if find(s, '[%c"\\]') then
    e = s:gsub('[%c"\\]', escape_char)
  end
  q = '"' .. e .. '"'
  if nquoted >= 4096 then quoted, nquoted = {}, 0 end
  quoted[s], nquoted = q, nquoted + 1
  return q
end

-- The members of a JSON object of headers (lower-case names), from the parallel arrays.
local function json_headers(names, values)
  local out, n = {}, 0
  for i = 1, #names do
    local v = values[i]
    if v ~= nil then
      out[n + 1], out[n + 2], out[n + 3], out[n + 4] = jstr(lower(names[i])), ":", jstr(v), ","
      n = n + 4
    end
  end
  out[n] = nil
  return concat(out)
end

local function log(st, latency_ms, upstream_ms, kong_ms, bytes_in, bytes_out, now)
  local consumer = st.consumer and st.consumer.username or ""
  C.prometheus_log(st.status, consumer, bytes_in, bytes_out, latency_ms, upstream_ms, kong_ms)
  if not FULL then return nil end
  -- file-log: Kong's serializer fields for this request
  local tenant = st.serialize.tenant
  return concat({
    '{"request":{"method":', jstr(st.method), ',"uri":', jstr(st.path),
    ',"url":', jstr("http://" .. st.host .. ":8000" .. st.path),
    ',"size":', bytes_in, ',"querystring":{},"headers":{', json_headers(st.qn, st.qv), '}}',
    ',"response":{"status":', st.status, ',"size":', bytes_out, ',"headers":{',
    json_headers(st.hn, st.hv), '}}',
    ',"latencies":{"request":', latency_ms, ',"kong":', kong_ms, ',"proxy":', upstream_ms,
    '},"tries":[{"balancer_latency":0,"port":8080,"ip":"127.0.0.1"}]',
    ',"client_ip":', jstr(st.client_ip), ',"started_at":', floor(st.start * 1000),
    ',"upstream_uri":', jstr("/v1/users"), ',"workspace":"default"',
    ',"route":{"name":"users","id":"', ROUTE.id, '"},"service":{"name":"user-service","id":"',
    SERVICE.id, '"},"consumer":{"username":', jstr(consumer), '}',
    ',"tenant":{"id":', jstr(tenant and tenant.id or ""), ',"tier":',
    jstr(tenant and tenant.tier or ""), '}}\n' })
end

-- -- the entry points Python drives: one coroutine per access phase (reused) --------
local function run_access(st, ...)
  ST = st
  local ok, res = pcall(access, st, ...)
  if ok then return "proxy", res end
  if res == EXIT then return "exit", exit_response(st) end
  return "error", tostring(res)
end

local free = {}
local function worker()
  local args = { yield() }
  while true do
    local st = args[1]
    local r1, r2, r3 = run_access(st, unpack(args, 2))
    args = { yield("done", r1, r2, r3) }
  end
end

local function start(...)
  local st = {}
  local co = free[#free]
  if co then free[#free] = nil else
    co = coroutine.create(worker); coroutine.resume(co)
  end
  st.co = co
  local _, a, b, c, d = coroutine.resume(co, st, ...)
  if a == "done" then free[#free + 1] = co; return st, b, c, d end
  return st, "redis", a
end

local function resume(st, minute, hour)
  ST = st
  local _, a, b, c, d = coroutine.resume(st.co, minute, hour)
  if a == "done" then free[#free + 1] = st.co; return b, c, d end
  return "redis", a
end

return {
  start = start,
  resume = resume,
  header_filter = function(st, ...) ST = st; return header_filter(st, ...) end,
  log = function(st, ...) ST = st; return log(st, ...) end,
}
