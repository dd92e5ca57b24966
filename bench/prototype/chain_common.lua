-- What both design prototypes do the same way, so that they measure the same work (bench
-- only): the bench route's identities, tenant-context's config, the rate-limiting Redis
-- command and the prometheus series. hotpath.lua gets this table from Python (lupa);
-- nginx_lua/hotpath_nginx.lua requires it.

local format, concat, floor = string.format, table.concat, math.floor

local C = {}

C.ROUTE = { name = "users", id = "a1b2c3d4-0000-4000-8000-000000000001" }
C.SERVICE = { name = "user-service", id = "a1b2c3d4-0000-4000-8000-000000000002" }
C.CONSUMERS = {
  ["tier-enterprise"] = { id = "3f2c8c1e-0000-4000-8000-000000000003",
                          username = "tier-enterprise" },
}
C.TC_CONF = {
  tenant_service_url = "http://tenant-service:8081", cache_ttl = 30, negative_cache_ttl = 5,
  timeout = 1000, issuer = "https://auth.app.example.com", audience = "api.app.example.com",
  tenant_claim = "tenant_id", tier_consumer_prefix = "tier-",
  tenant_header = "X-Tenant-ID", tier_header = "X-Tenant-Tier",
  public_routes = { "auth-token", "auth-jwks" },
}

-- kong.cache: the loader runs on the first get of a key (the Tenant Service lookup);
-- later gets answer from the table (no TTL: a bench run is shorter than cache_ttl)
local cached = {}
C.cache = {
  get = function(_, key, _, loader, ...)
    local v = cached[key]
    if v == nil then
      v = loader(...)
      cached[key] = v
    end
    return v
  end,
}

-- rate-limiting (redis policy, minute + hour): INCRBY and EXPIRE per window in one
-- pipeline; the command is kept per (identifier, second), as the reference gateway does.
local rl_key, rl_cmd
function C.rl_command(ident, now)
  local sec = floor(now)
  local ck = ident .. ":" .. sec
  if ck ~= rl_key then
    local km = format("ratelimit:%s:%s:%s:%d:minute", C.ROUTE.id, C.SERVICE.id, ident,
                      sec - sec % 60)
    local kh = format("ratelimit:%s:%s:%s:%d:hour", C.ROUTE.id, C.SERVICE.id, ident,
                      sec - sec % 3600)
    rl_cmd = concat({
      format("*3\r\n$6\r\nINCRBY\r\n$%d\r\n%s\r\n$1\r\n1\r\n", #km, km),
      format("*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%s\r\n$2\r\n60\r\n", #km, km),
      format("*3\r\n$6\r\nINCRBY\r\n$%d\r\n%s\r\n$1\r\n1\r\n", #kh, kh),
      format("*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%s\r\n$4\r\n3600\r\n", #kh, kh) })
    rl_key = ck
  end
  return rl_cmd, 60 - sec % 60
end

-- prometheus: Kong's series for one request, kept in a table keyed by series
local BUCKETS = { 1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400,
                  500, 1000, 2000, 5000, 10000, 30000, 60000 }
local metrics = {}
local function inc(key, by) metrics[key] = (metrics[key] or 0) + by end
local function observe(name, labels, ms)
  for _, b in ipairs(BUCKETS) do
    if ms <= b then inc(name .. "_bucket{" .. labels .. ",le=\"" .. b .. "\"}", 1); break end
  end
  inc(name .. "_count{" .. labels .. "}", 1)
  inc(name .. "_sum{" .. labels .. "}", ms)
end

function C.prometheus_log(status, consumer, bytes_in, bytes_out, latency_ms, upstream_ms,
                          kong_ms)
  local labels = 'service="user-service",route="users",code="' .. status ..
    '",source="service",workspace="default",consumer="' .. consumer .. '"'
  inc("kong_http_requests_total{" .. labels .. "}", 1)
  local l2 = 'service="user-service",route="users",workspace="default",type="ingress"'
  inc("kong_bandwidth_bytes{" .. l2 .. "}", bytes_in)
  inc("kong_bandwidth_bytes{" .. l2 .. ",direction=\"egress\"}", bytes_out)
  local l3 = 'service="user-service",route="users",workspace="default"'
  observe("kong_request_latency_ms", l3, latency_ms)
  observe("kong_upstream_latency_ms", l3, upstream_ms)
  observe("kong_kong_latency_ms", l3, kong_ms)
end

return C
