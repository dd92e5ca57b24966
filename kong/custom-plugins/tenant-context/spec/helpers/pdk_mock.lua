-- A Kong PDK mock with exactly the subset of docs/pdk-subset.md.
--
-- `mock.new(opts)` installs fresh `kong` and `ngx` globals and a fake
-- `resty.http`, and returns a state table the specs assert on: the upstream
-- request headers, the exit (if any), the authenticated consumer, logs,
-- serialized values and the Tenant Service calls. Any PDK name outside the
-- subset raises, so the handler cannot start depending on more than the
-- reference gateway implements without a spec failing.

local cjson = require "cjson.safe"

local mock = {}

-- Index guard: unknown PDK names fail loudly, naming the function.
local function strict(prefix, tbl)
  return setmetatable(tbl, {
    __index = function(_, key)
      error("PDK function " .. prefix .. "." .. tostring(key)
            .. " is not implemented by the mock (not in docs/pdk-subset.md)", 2)
    end,
  })
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function mock.encode_base64url(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local idx = math.floor(n / 64 ^ (4 - j)) % 64
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
  end
  return (table.concat(out):gsub("+", "-"):gsub("/", "_"))
end

local function decode_base64(s)
  if #s % 4 ~= 0 or s:find("[^%w+/=]") or s:find("=[^=]") then
    return nil
  end
  local out = {}
  local clean = s:gsub("=", "")
  local bits, nbits = 0, 0
  for i = 1, #clean do
    bits = bits * 64 + (B64:find(clean:sub(i, i), 1, true) - 1)
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      local byte = math.floor(bits / 2 ^ nbits)
      out[#out + 1] = string.char(byte)
      bits = bits - byte * 2 ^ nbits
    end
  end
  return table.concat(out)
end

local function escape_uri(s)
  return (s:gsub("[^%w%-%._~]", function(ch)
    return string.format("%%%02X", ch:byte())
  end))
end

-- A compact JWT (unsigned: the jwt plugin already verified it in Kong).
-- `header` defaults to { alg = "RS256", typ = "JWT" }, as the Auth Service
-- issues; a string is used as the header's JSON text verbatim.
function mock.token(claims, header)
  header = header or { alg = "RS256", typ = "JWT" }
  local json = type(header) == "string" and header or cjson.encode(header)
  local payload = mock.encode_base64url(cjson.encode(claims))
  return mock.encode_base64url(json) .. "." .. payload .. ".c2ln"
end

-- The tenant directory the fake Tenant Service answers from.
mock.TENANTS = {
  ["acme.app.example.com"] = { id = "acme", tier = "enterprise", status = "active" },
  ["api.acme-corp.com"] = { id = "acme", tier = "enterprise", status = "active" },
  ["umbrella.app.example.com"] = { id = "umbrella", tier = "basic", status = "active" },
  ["soylent.app.example.com"] = { id = "soylent", tier = "basic", status = "suspended" },
  ["nowhere.app.example.com"] = { id = "nowhere", tier = "gold", status = "active" },
}

mock.CONSUMERS = {
  ["tier-basic"] = { id = "c0000000-0000-4000-8000-000000000001", username = "tier-basic",
                     custom_id = "basic" },
  ["tier-enterprise"] = { id = "c0000000-0000-4000-8000-000000000003",
                          username = "tier-enterprise", custom_id = "enterprise" },
}

mock.JWT_CREDENTIAL = { id = "d0000000-0000-4000-8000-000000000001", key = "auth-dev-1",
                        consumer = { id = "c0000000-0000-4000-8000-0000000000aa" } }

-- Default Tenant Service: answers from mock.TENANTS like the real one.
function mock.directory_service(url)
  local host = url:match("[?&]host=([^&]*)")
  host = host and host:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local tenant = host and mock.TENANTS[host]
  if not tenant then
    return { status = 404, headers = {}, body = '{"message":"unknown host"}' }
  end
  return { status = 200, headers = { ["Content-Type"] = "application/json" },
           body = cjson.encode({ id = tenant.id, name = tenant.id, tier = tenant.tier,
                                 status = tenant.status, subdomain = tenant.id,
                                 custom_domains = {} }) }
end

-- opts: host, headers (list of {name, value}), route_name, token,
-- credential, consumers, tenant_service (function(url) -> res | nil, err).
function mock.new(opts)
  opts = opts or {}
  local state = {
    clock = 1000,
    headers = {},            -- ordered { name, value } of the upstream request
    exit = nil,              -- { status, body }
    consumer = nil,
    credential = opts.credential,
    authenticated = false,
    logs = {},               -- { level, message }
    serialize = {},
    calls = {},              -- URLs requested from the Tenant Service
    timeouts = {},
    cache = {},
  }
  for _, h in ipairs(opts.headers or {}) do
    state.headers[#state.headers + 1] = { h[1], h[2] }
  end
  local service = opts.tenant_service or mock.directory_service
  local consumers = opts.consumers or mock.CONSUMERS

  function state.header_values(name)
    local out = {}
    for _, h in ipairs(state.headers) do
      if h[1]:lower() == name:lower() then
        out[#out + 1] = h[2]
      end
    end
    return out
  end

  function state.header(name)
    local values = state.header_values(name)
    assert(#values <= 1, "header " .. name .. " has " .. #values .. " values")
    return values[1]
  end

  local function clear(name)
    assert(type(name) == "string", "header name must be a string")
    local kept = {}
    for _, h in ipairs(state.headers) do
      if h[1]:lower() ~= name:lower() then
        kept[#kept + 1] = h
      end
    end
    state.headers = kept
  end

  -- Kong's runloop access.after: clear the headers named in Connection.
  function state.kong_access_after()
    local conn = state.header_values("connection")
    local value = table.concat(conn, ", ")
    if value ~= "keep-alive" and value ~= "close" and value ~= "upgrade" then
      for token in value:gmatch("[^,%s]+") do
        clear(token)
      end
    end
  end

  local function log(level)
    return function(...)
      local parts = {}
      for i = 1, select("#", ...) do
        parts[#parts + 1] = tostring((select(i, ...)))
      end
      state.logs[#state.logs + 1] = { level = level, message = table.concat(parts) }
    end
  end

  local function once_ok()
    assert(state.exit == nil, "PDK called after kong.response.exit")
  end

  _G.ngx = strict("ngx", {
    escape_uri = escape_uri,
    decode_base64 = decode_base64,
  })

  _G.kong = strict("kong", {
    request = strict("kong.request", {
      get_host = function()
        once_ok()
        return (opts.host or "acme.app.example.com"):lower()
      end,
      get_headers = function(max)
        once_ok()
        assert(type(max) == "number" and max >= 1 and max <= 1000,
               "max_headers must be between 1 and 1000")
        local out, n = {}, 0
        for _, h in ipairs(state.headers) do
          n = n + 1
          if n > max then
            break
          end
          local low = h[1]:lower()
          local prev = out[low]
          if prev == nil then
            out[low] = h[2]
          elseif type(prev) == "table" then
            prev[#prev + 1] = h[2]
          else
            out[low] = { prev, h[2] }
          end
        end
        return out
      end,
    }),
    service = strict("kong.service", {
      request = strict("kong.service.request", {
        clear_header = function(name)
          once_ok()
          clear(name)
        end,
        set_header = function(name, value)
          once_ok()
          assert(type(value) == "string", "header value must be a string")
          clear(name)
          state.headers[#state.headers + 1] = { name, value }
        end,
      }),
    }),
    response = strict("kong.response", {
      exit = function(status, body)
        once_ok()
        state.exit = { status = status, body = body }
      end,
    }),
    client = strict("kong.client", {
      load_consumer = function(name, by_username)
        once_ok()
        assert(by_username == true, "tier consumers are looked up by username")
        return consumers[name]
      end,
      get_credential = function()
        once_ok()
        return state.credential
      end,
      authenticate = function(consumer, credential)
        once_ok()
        assert(consumer or credential, "either credential or consumer must be provided")
        state.consumer = consumer
        state.credential = credential
        state.authenticated = true
      end,
    }),
    ctx = strict("kong.ctx", {
      shared = { authenticated_jwt_token = opts.token },
    }),
    router = strict("kong.router", {
      get_route = function()
        once_ok()
        return { id = "r-1", name = opts.route_name or "users" }
      end,
    }),
    cache = strict("kong.cache", {
      -- mlcache semantics: value cached for ttl, nil for neg_ttl, errors never.
      get = function(self, key, cache_opts, loader, ...)
        once_ok()
        assert(self == kong.cache, "kong.cache:get must be called with ':'")
        local entry = state.cache[key]
        if entry and (entry.expires == nil or entry.expires > state.clock) then
          return entry.value
        end
        local ok, value, err = pcall(loader, ...)
        if not ok then
          return nil, value
        end
        if err then
          return nil, err
        end
        local ttl = value == nil and cache_opts.neg_ttl or cache_opts.ttl
        state.cache[key] = { value = value,
                             expires = ttl ~= 0 and state.clock + ttl or nil }
        return value
      end,
    }),
    log = strict("kong.log", {
      warn = log("warn"),
      err = log("err"),
      debug = log("debug"),
      set_serialize_value = function(key, value)
        once_ok()
        state.serialize[key] = value
      end,
    }),
  })

  package.loaded["resty.http"] = {
    new = function()
      local timeout
      return {
        set_timeout = function(_, ms)
          timeout = ms
        end,
        request_uri = function(_, url, req)
          assert(req.method == "GET", "tenant lookups are GETs")
          state.calls[#state.calls + 1] = url
          state.timeouts[#state.timeouts + 1] = timeout
          return service(url)
        end,
      }
    end,
  }

  -- A fresh handler per state: it captures `kong` and `resty.http` at load.
  function state.handler()
    local chunk = assert(loadfile(mock.plugin_dir .. "/handler.lua"))
    return chunk()
  end

  -- Runs the access phase and then Kong's access.after hop-by-hop clearing
  -- (unless the plugin exited).
  function state.access(conf)
    state.exit = nil
    state.handler():access(conf)
    if not state.exit then
      state.kong_access_after()
    end
    return state
  end

  return state
end

-- kong/custom-plugins/tenant-context, from this file's location.
mock.plugin_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/helpers/[^/]+$")

-- The configuration of kong.yml, with schema defaults filled in.
function mock.conf(overrides)
  local conf = {
    tenant_service_url = "http://tenant-service:8081",
    cache_ttl = 30,
    negative_cache_ttl = 5,
    timeout = 1000,
    issuer = "https://auth.app.example.com",
    audience = "api.app.example.com",
    tenant_claim = "tenant_id",
    tier_consumer_prefix = "tier-",
    tenant_header = "X-Tenant-ID",
    tier_header = "X-Tenant-Tier",
    public_routes = { "auth-token", "auth-jwks" },
  }
  for k, v in pairs(overrides or {}) do
    conf[k] = v
  end
  return conf
end

-- Claims of a valid token of `tenant`.
function mock.claims(tenant, overrides)
  local claims = {
    iss = "https://auth.app.example.com",
    aud = "api.app.example.com",
    sub = "user-42",
    tenant_id = tenant,
    tier = "enterprise",
    iat = 1000, nbf = 1000, exp = 4600,
    jti = "j-1",
  }
  for k, v in pairs(overrides or {}) do
    claims[k] = v
  end
  return claims
end

return mock
