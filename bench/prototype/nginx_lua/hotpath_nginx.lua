-- Prototype (bench only), design option 2 of docs/reference-gateway-performance.md: the
-- same per-request work as hotpath.lua, run by nginx with lua-nginx-module (Debian's
-- libnginx-mod-http-lua), which is how Kong itself runs. The REAL tenant-context
-- handler.lua runs over a PDK shim on ngx.*; the bundled plugins' work for the bench's
-- request is sketched as in hotpath.lua (jwt with decoded tokens cached, correlation-id,
-- request-size-limiting, Redis rate-limiting with its headers, cors, response-transformer,
-- prometheus series, a file-log JSON line of the same fields). One route, not a gateway.
-- The upstream headers (Host, X-Forwarded-*, X-Real-IP) are nginx's proxy_set_header,
-- as in Kong's nginx template.

local cjson = require "cjson.safe"
local ngx = ngx
local concat, floor, format = table.concat, math.floor, string.format
local sub, find = string.sub, string.find

local M = {}

local C = require "chain_common"   -- what the lupa prototype does the same way
local ROUTE, CONSUMERS, TC_CONF = C.ROUTE, C.CONSUMERS, C.TC_CONF
local TENANT_JSON = '{"id":"acme","name":"ACME Corporation","tier":"enterprise",'
  .. '"status":"active","subdomain":"acme","custom_domains":["api.acme-corp.com"]}'
local kong = {
  request = {
    get_headers = function(max) return ngx.req.get_headers(max) end,
    get_host = function() return ngx.var.host end,
  },
  service = { request = {
    set_header = function(name, value) ngx.req.set_header(name, value) end,
    clear_header = function(name) ngx.req.clear_header(name) end,
  } },
  response = {
    exit = function(status, body)
      ngx.status = status
      ngx.header["Content-Type"] = "application/json; charset=utf-8"
      ngx.print(cjson.encode(body))
      return ngx.exit(status)
    end,
  },
  cache = C.cache,
  router = { get_route = function() return ROUTE end },
  ctx = setmetatable({}, { __index = function(_, k)
    if k == "shared" then return ngx.ctx end
  end }),
  client = {
    load_consumer = function(name) return CONSUMERS[name] end,
    get_credential = function() return ngx.ctx.credential end,
    authenticate = function(consumer, credential)
      ngx.ctx.consumer, ngx.ctx.credential = consumer, credential
    end,
  },
  log = {
    err = function(...) ngx.log(ngx.ERR, ...) end,
    warn = function(...) ngx.log(ngx.WARN, ...) end,
    set_serialize_value = function(k, v) ngx.ctx.serialize[k] = v end,
  },
}

-- resty.http: the tenant lookup happens once (then kong.cache holds it); the bench's
-- Tenant Service answer is this fixed document, as nginx A serves it to the other cases.
local http_shim = { new = function()
  return { set_timeout = function() end,
           request_uri = function() return { status = 200, body = TENANT_JSON } end }
end }

local tenant_context
local redis_port, limits, log_file
-- "full": kong.yml's route (every plugin above); "issue": only the chain the issue names
-- (jwt, tenant-context, Redis rate limiting, prometheus, correlation-id)
local FULL = true
local uuid_prefix, counter = nil, 0

function M.init(handler_path, port, log_path, minute, hour, chain)
  FULL = chain ~= "issue"
  local src = assert(io.open(handler_path)):read("*a")
  local chunk = assert(loadstring(src, "@" .. handler_path))
  local modules = { ["cjson.safe"] = cjson, ["resty.http"] = http_shim }
  setfenv(chunk, setmetatable({ kong = kong, ngx = ngx,
                                require = function(n) return modules[n] or require(n) end },
                              { __index = _G }))
  tenant_context = chunk()
  redis_port, limits = port, { minute = minute, hour = hour }
  log_file = assert(io.open(log_path, "a"))
  log_file:setvbuf("full", 65536)
  math.randomseed(ngx.now() * 1000)
  uuid_prefix = format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0xffffffff),
                       math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xfff),
                       math.random(0, 0xffffffffffff))
  return M
end

local jwt_cache, jwt_cached = {}, 0

local function jwt_access(now)
  local auth = ngx.var.http_authorization
  local token = auth and sub(auth, 1, 7) == "Bearer " and sub(auth, 8) or nil
  if not token then
    return kong.response.exit(401, { message = "Unauthorized" })
  end
  local entry = jwt_cache[token]
  if entry == nil then
    -- first sight of a token: decode (the lupa prototype verifies RS256 here, once)
    local _, p = token:match("^([^.]+)%.([^.]+)%.")
    local claims = p and cjson.decode(ngx.decode_base64((p:gsub("-", "+"):gsub("_", "/")
                   .. ("="):rep((4 - #p % 4) % 4))) or "")
    if type(claims) ~= "table" then
      return kong.response.exit(401, { message = "Bad token" })
    end
    entry = { kid = "auth-dev-1", exp = claims.exp, nbf = claims.nbf }
    if jwt_cached > 4096 then jwt_cache, jwt_cached = {}, 0 end
    jwt_cache[token], jwt_cached = entry, jwt_cached + 1
  end
  if entry.exp <= now or (entry.nbf and entry.nbf > now) or entry.exp - now > 3600 then
    return kong.response.exit(401, { message = "token expired or not valid yet" })
  end
  ngx.ctx.credential = { key = entry.kid }
  ngx.ctx.authenticated_jwt_token = token
end

function M.access()
  local ctx = ngx.ctx
  local now = ngx.now()
  ctx.start, ctx.serialize = now, {}
  local rid = ngx.var.http_x_request_id                    -- correlation-id
  if not rid then
    counter = counter + 1
    rid = uuid_prefix .. "#" .. counter
    ngx.req.set_header("X-Request-ID", rid)
  end
  ctx.rid = rid
  jwt_access(now)                                          -- jwt
  tenant_context:access(TC_CONF)                           -- tenant-context (real)
  local cl = FULL and tonumber(ngx.var.http_content_length)  -- request-size-limiting
  if cl and cl > 1048576 then
    return kong.response.exit(413, { message = "Request size limit exceeded" })
  end
  local ident = ngx.req.get_headers()["x-tenant-id"] or ngx.var.remote_addr
  local sock = ngx.socket.tcp()                            -- rate-limiting (Redis)
  sock:settimeout(2000)
  local ok = sock:connect("127.0.0.1", redis_port)
  local minute, hour = 0, 0
  local cmd, reset = C.rl_command(ident, now)
  if ok then
    sock:send(cmd)
    minute = tonumber(sub(sock:receive("*l") or ":0", 2))
    sock:receive("*l")
    hour = tonumber(sub(sock:receive("*l") or ":0", 2))
    sock:receive("*l")
    sock:setkeepalive(10000, 64)
  end
  ctx.rl = { minute, hour, reset }
  if minute > limits.minute or hour > limits.hour then
    return kong.response.exit(429, { message = "API rate limit exceeded" })
  end
end

function M.header_filter()
  local ctx, h = ngx.ctx, ngx.header
  local up = tonumber(ngx.var.upstream_response_time) or 0
  h["X-Kong-Upstream-Latency"] = floor(up * 1000)
  h["X-Kong-Proxy-Latency"] = floor((ngx.now() - ctx.start) * 1000)
  h["Via"] = "1.1 kong/3.9.1"
  h["X-Request-ID"] = ctx.rid
  if FULL then h["Vary"] = "Origin" end                   -- cors
  local rl = ctx.rl
  if rl then
    h["X-RateLimit-Limit-Minute"] = limits.minute
    h["X-RateLimit-Remaining-Minute"] = limits.minute - rl[1]
    h["X-RateLimit-Limit-Hour"] = limits.hour
    h["X-RateLimit-Remaining-Hour"] = limits.hour - rl[2]
    h["RateLimit-Limit"] = limits.minute
    h["RateLimit-Remaining"] = limits.minute - rl[1]
    h["RateLimit-Reset"] = rl[3]
  end
  if FULL then                                             -- response-transformer
    h["X-Powered-By"] = nil
    h["X-Content-Type-Options"] = "nosniff"
    h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
  end
end

function M.log()
  local ctx = ngx.ctx
  local status = ngx.status
  local consumer = ctx.consumer and ctx.consumer.username or ""
  local latency = floor((ngx.now() - (ctx.start or ngx.now())) * 1000)
  local up = floor((tonumber(ngx.var.upstream_response_time) or 0) * 1000)
  C.prometheus_log(status, consumer, tonumber(ngx.var.request_length) or 0,
                   tonumber(ngx.var.bytes_sent) or 0, latency, up, latency - up)
  if not FULL then return end
  -- file-log: Kong's serializer table, encoded by cjson as Kong does
  local line = cjson.encode({
    request = { method = ngx.req.get_method(), uri = ngx.var.request_uri,
                url = "http://" .. ngx.var.host .. ":" .. ngx.var.server_port
                      .. ngx.var.request_uri,
                size = tonumber(ngx.var.request_length), querystring = {},
                headers = ngx.req.get_headers() },
    response = { status = status, size = tonumber(ngx.var.bytes_sent),
                 headers = ngx.resp.get_headers() },
    latencies = { request = latency, kong = latency - up, proxy = up },
    tries = { { balancer_latency = 0, port = 8080, ip = "127.0.0.1" } },
    client_ip = ngx.var.remote_addr, started_at = floor(ctx.start * 1000),
    upstream_uri = ngx.var.uri, workspace = "default",
    route = { name = ROUTE.name, id = ROUTE.id },
    service = { name = C.SERVICE.name, id = C.SERVICE.id },
    consumer = { username = consumer }, tenant = ctx.serialize.tenant,
  })
  log_file:write(line, "\n")
end

return M
