-- The few kong.db.schema.typedefs our schema.lua uses, with Kong's validators
-- and messages (kong/db/schema/typedefs.lua), for specs outside Kong.

local typedefs = {}

-- Marks "must be null" (Kong uses ngx.null).
typedefs.NULL = setmetatable({}, { __tostring = function() return "null" end })

-- A typedef is a table that can be called with overrides, like Kong's.
local function define(name, base)
  base.typedef = name
  return setmetatable(base, {
    __call = function(self, overrides)
      local t = {}
      for k, v in pairs(self) do t[k] = v end
      for k, v in pairs(overrides or {}) do t[k] = v end
      return t
    end,
  })
end

local function validate_url(url)
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#:@]*)")
  if not scheme then
    return nil, "missing host in url"
  end
  if host == "" then
    return nil, "missing host in url"
  end
  return true
end

local function validate_header_name(name)
  if name:match("^[a-zA-Z0-9_-]+$") then
    return true
  end
  return nil, "bad header name '" .. name
    .. "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
end

typedefs.url = define("url", { type = "string", custom_validator = validate_url })

typedefs.header_name = define("header_name", {
  type = "string", custom_validator = validate_header_name,
})

typedefs.no_consumer = define("no_consumer", {
  type = "foreign", reference = "consumers", eq = typedefs.NULL,
})

typedefs.protocols_http = define("protocols_http", {
  type = "set", required = true,
  default = { "grpc", "grpcs", "http", "https" },
  elements = { type = "string", one_of = { "grpc", "grpcs", "http", "https" } },
})

return typedefs
