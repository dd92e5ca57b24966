-- tenant-context: resolve the tenant from the Host, cross-check the verified
-- JWT against it, hand the backends a trustworthy tenant context and select
-- the tier consumer whose rate-limiting instance then counts the request.
--
-- Runs after jwt (1450) and before request-size-limiting (951) and
-- rate-limiting (910). The PDK functions used are listed, with the semantics
-- relied on, in docs/pdk-subset.md (the reference gateway implements exactly
-- that list), so keep the two in step.

local cjson = require "cjson.safe"
local http = require "resty.http"

local kong = kong
local ngx = ngx
local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring

local TenantContextHandler = {
  PRIORITY = 1000,
  VERSION = "0.1.0",
}

-- Kong reads at most this many headers for plugins (its PDK maximum).
local MAX_HEADERS = 1000

-- Client-sent names that could impersonate the gateway's context headers
-- (hostile-inputs.md §2). Underscore spellings count: nginx forwards them
-- (underscores_in_headers on) and CGI-style backends fold them into the
-- same variable.
local STRIP_PREFIXES = { "x-tenant-", "x_tenant_", "x-consumer-", "x_consumer_" }
local STRIP_NAMES = {
  ["x-credential-identifier"] = true, ["x_credential_identifier"] = true,
  ["x-anonymous-consumer"] = true, ["x_anonymous_consumer"] = true,
}
-- Cleared even when not seen in get_headers (a client may push them past
-- the read limit; clear_header does not depend on reading). Besides our own
-- context headers: X-Authenticated-Groups (set by Kong's ldap-auth and acl,
-- which this gateway does not run) and RFC 7239 Forwarded, which Kong
-- neither sets nor sanitises: the gateway's X-Forwarded-* are the only
-- forwarding headers a backend may read (hostile-inputs.md §2).
local ALWAYS_CLEAR = {
  "x-tenant-id", "x_tenant_id", "x-tenant-tier", "x_tenant_tier",
  "x-tenant-user", "x_tenant_user",
  "x-consumer-id", "x_consumer_id", "x-consumer-username", "x_consumer_username",
  "x-consumer-custom-id", "x_consumer_custom_id",
  "x-consumer-groups", "x_consumer_groups",
  "x-credential-identifier", "x_credential_identifier",
  "x-anonymous-consumer", "x_anonymous_consumer",
  "x-authenticated-groups", "x_authenticated_groups",
  "forwarded",
}
-- Connection tokens that are connection options, not header names.
local CONNECTION_OPTIONS = { ["keep-alive"] = true, ["close"] = true, ["upgrade"] = true }

local USER_HEADER = "X-Tenant-User"

-- JOSE `typ` values of an access token (RFC 7515 §4.1.9: compared ignoring
-- case, "application/" may be left out; RFC 9068 names at+jwt). Anything
-- else (refresh+jwt, id tokens typed otherwise, ...) is another kind of
-- token of the same issuer (RFC 8725 §3.11). An absent typ is accepted.
local ACCESS_TOKEN_TYPES = {
  ["jwt"] = true, ["application/jwt"] = true,
  ["at+jwt"] = true, ["application/at+jwt"] = true,
}


-- The one way this plugin refuses a request.
local function refuse(status, message)
  return kong.response.exit(status, { message = message })
end


local function is_spoofable(name)
  if STRIP_NAMES[name] then
    return true
  end
  -- Every spoofable name starts with "x": most headers leave here, before
  -- the substrings below are made.
  if name:byte(1) ~= 120 then
    return false
  end
  for _, prefix in ipairs(STRIP_PREFIXES) do
    if name:sub(1, #prefix) == prefix then
      return true
    end
  end
  return false
end


-- Each value of a header as a list (the PDK gives a string or an array).
local function values_of(value)
  if type(value) == "table" then
    return value
  end
  return { value }
end


-- Returns true when get_headers may have stopped at its limit (header
-- lines past it are invisible here but still forwarded).
local function strip_client_headers(conf, headers)
  local clear = kong.service.request.clear_header
  local lines = 0
  for name, value in pairs(headers) do
    lines = lines + (type(value) == "table" and #value or 1)
    if is_spoofable(name) then
      clear(name)
    end
  end
  for _, name in ipairs(ALWAYS_CLEAR) do
    clear(name)
  end
  clear(conf.tenant_header)
  clear(conf.tier_header)

  -- Kong's access.after clears every header the client lists in Connection,
  -- after all plugins ran: it would delete the headers set below. Clear the
  -- listed ones now and leave nothing for access.after to act on.
  for _, value in ipairs(values_of(headers["connection"])) do
    for token in value:gmatch("[^,%s]+") do
      token = token:lower()
      if not CONNECTION_OPTIONS[token] then
        clear(token)
      end
    end
  end
  kong.service.request.set_header("Connection", "keep-alive")
  return lines >= MAX_HEADERS
end


-- Authorization is a singleton field (RFC 9110 §5.3): Kong's jwt plugin
-- verifies the first line and forwards them all, so a backend reading
-- another line would act on an unverified token. Returns false when the
-- request carries more than one; with a truncated header table, leaves
-- exactly the first visible line (or none) for the backend.
local function single_authorization(headers, truncated)
  local auth = headers["authorization"]
  if type(auth) == "table" then
    return false
  end
  if truncated then
    if auth then
      kong.service.request.set_header("Authorization", auth)
    else
      kong.service.request.clear_header("Authorization")
    end
  end
  return true
end


local function normalized_host()
  local host = kong.request.get_host()
  if type(host) ~= "string" then
    return nil
  end
  host = host:lower()
  if host:sub(-1) == "." then
    host = host:sub(1, -2)
  end
  return host
end


-- kong.cache loader: a tenant table, nil (unknown host: negative-cached) or
-- nil + error (directory unavailable: not cached, retried next request).
local function load_tenant(conf, host)
  local httpc, err = http.new()
  if not httpc then
    return nil, "cannot create HTTP client: " .. tostring(err)
  end
  httpc:set_timeout(conf.timeout)
  local url = conf.tenant_service_url:gsub("/+$", "")
    .. "/v1/tenants/resolve?host=" .. ngx.escape_uri(host)
  local res, req_err = httpc:request_uri(url, {
    method = "GET",
    headers = { ["Accept"] = "application/json" },
  })
  if not res then
    return nil, "tenant service request failed: " .. tostring(req_err)
  end
  if res.status == 404 then
    return nil
  end
  if res.status ~= 200 then
    return nil, "tenant service answered status " .. tostring(res.status)
  end
  local body = cjson.decode(res.body or "")
  if type(body) ~= "table" or type(body.id) ~= "string" or type(body.tier) ~= "string"
     or type(body.status) ~= "string" then
    return nil, "tenant service answered a body that is not a tenant"
  end
  return { id = body.id, tier = body.tier, status = body.status }
end


local function is_public_route(conf)
  local route = kong.router.get_route()
  local name = route and route.name
  if not name then
    return false
  end
  for _, public in ipairs(conf.public_routes) do
    if public == name then
      return true
    end
  end
  return false
end


local function b64url_decode(s)
  s = s:gsub("-", "+"):gsub("_", "/")
  local rem = #s % 4
  if rem == 1 then
    return nil
  elseif rem > 0 then
    s = s .. ("="):rep(4 - rem)
  end
  return ngx.decode_base64(s)
end


local function decode_segment(segment)
  local json = b64url_decode(segment)
  local value = json and cjson.decode(json)
  if type(value) ~= "table" then
    return nil
  end
  return value
end


-- Why the JOSE header makes this token unacceptable here, or nil. Kong's
-- jwt plugin verified the signature but reads only alg and the key claim.
local function header_refusal(header)
  -- RFC 7515 §4.1.11: a JWS whose crit lists an extension the recipient
  -- does not understand is invalid; this gateway understands none (b64
  -- false, RFC 7797, would change what the signature covers).
  if header.crit ~= nil then
    return "Unsupported critical header"
  end
  local typ = header.typ
  if typ ~= nil and not (type(typ) == "string" and ACCESS_TOKEN_TYPES[typ:lower()]) then
    return "Invalid token type"
  end
  return nil
end


-- The token the jwt plugin verified (its signature, exp and nbf are already
-- checked) as { claims = <payload table>, refusal = <message or nil> }; nil
-- when it cannot be read.
local function read_token(token)
  if type(token) ~= "string" then
    return nil
  end
  local head, payload = token:match("^([^.]+)%.([^.]+)%.")
  if not head then
    return nil
  end
  local header = decode_segment(head)
  local claims = header and decode_segment(payload)
  if not claims then
    return nil
  end
  return { claims = claims, refusal = header_refusal(header) }
end


-- Decoded tokens: a client sends the same token many times, and decoding it
-- is most of this plugin's cost. The tables are only read. Bounded: emptied
-- when full (a worker-local cache, as Kong's own LRUs).
local TOKEN_CACHE, TOKENS_CACHED, TOKENS_MAX = {}, 0, 4096

local function cached_token(token)
  local parsed = TOKEN_CACHE[token]
  if parsed == nil then
    parsed = read_token(token)
    if parsed == nil then
      return nil
    end
    if TOKENS_CACHED >= TOKENS_MAX then
      TOKEN_CACHE, TOKENS_CACHED = {}, 0
    end
    TOKEN_CACHE[token] = parsed
    TOKENS_CACHED = TOKENS_CACHED + 1
  end
  return parsed
end


local function audience_contains(aud, wanted)
  if type(aud) == "string" then
    return aud == wanted
  end
  if type(aud) == "table" then
    for _, value in ipairs(aud) do
      if value == wanted then
        return true
      end
    end
  end
  return false
end


local function set_consumer_headers(consumer, credential)
  local set = kong.service.request.set_header
  set("X-Consumer-ID", consumer.id)
  set("X-Consumer-Username", consumer.username)
  if type(consumer.custom_id) == "string" then
    set("X-Consumer-Custom-ID", consumer.custom_id)
  end
  if credential and type(credential.key) == "string" then
    set("X-Credential-Identifier", credential.key)
  end
end


function TenantContextHandler:access(conf)
  local headers = kong.request.get_headers(MAX_HEADERS)
  local truncated = strip_client_headers(conf, headers)
  if not single_authorization(headers, truncated) then
    return refuse(401, "Multiple Authorization headers")
  end

  local host = normalized_host()
  if not host or host == "" then
    return refuse(404, "Unknown tenant host")
  end

  local tenant, err = kong.cache:get("tenant-context:host:" .. host, {
    ttl = conf.cache_ttl,
    neg_ttl = conf.negative_cache_ttl,
  }, load_tenant, conf, host)
  if err then
    kong.log.err("tenant directory unavailable for host ", host, ": ", err)
    return refuse(503, "Tenant directory unavailable")
  end
  if not tenant then
    return refuse(404, "Unknown tenant host")
  end
  if tenant.status ~= "active" then
    return refuse(403, "Tenant suspended")
  end

  local claims
  if not is_public_route(conf) then
    local token = cached_token(kong.ctx.shared.authenticated_jwt_token)
    if not token then
      return refuse(401, "Unauthorized")
    end
    if token.refusal then
      return refuse(401, token.refusal)
    end
    claims = token.claims
    if claims.iss ~= conf.issuer then
      return refuse(401, "Invalid issuer")
    end
    if not audience_contains(claims.aud, conf.audience) then
      return refuse(401, "Invalid audience")
    end
    local claimed = claims[conf.tenant_claim]
    if claimed ~= tenant.id then
      kong.log.warn("token tenant ", tostring(claimed), " does not match tenant ",
                    tenant.id, " of host ", host)
      return refuse(403, "Token tenant does not match host")
    end
  end

  local set = kong.service.request.set_header
  set(conf.tenant_header, tenant.id)
  set(conf.tier_header, tenant.tier)
  -- `sub` goes into a header: only plain printable text.
  if claims and type(claims.sub) == "string" and claims.sub ~= ""
     and not claims.sub:find("[%c]") then
    set(USER_HEADER, claims.sub)
  end

  local consumer_name = conf.tier_consumer_prefix .. tenant.tier
  local consumer, cerr = kong.client.load_consumer(consumer_name, true)
  if not consumer then
    kong.log.err("tier consumer ", consumer_name, " not found",
                 cerr and (": " .. tostring(cerr)) or "")
    return refuse(503, "Tier not configured")
  end
  local credential = kong.client.get_credential()
  kong.client.authenticate(consumer, credential)
  set_consumer_headers(consumer, credential)

  kong.log.set_serialize_value("tenant", { id = tenant.id, tier = tenant.tier })
end


return TenantContextHandler
