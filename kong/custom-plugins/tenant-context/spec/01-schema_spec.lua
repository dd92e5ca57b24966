-- Schema specs: exact error tables for bad configuration, and the shape
-- rules of the house style (every field documented, defaulted or required,
-- and constrained).

local validator = require "spec.helpers.schema_validator"
local mock = require "spec.helpers.pdk_mock"

local schema = validator.load_schema(mock.plugin_dir)

local REQUIRED = {
  tenant_service_url = "http://tenant-service:8081",
  issuer = "https://auth.app.example.com",
  audience = "api.app.example.com",
}

local function with(overrides)
  local config = {}
  for k, v in pairs(REQUIRED) do config[k] = v end
  for k, v in pairs(overrides or {}) do config[k] = v end
  return { config = config }
end

local function config_fields()
  for _, entry in ipairs(schema.fields) do
    if entry.config then
      return entry.config.fields
    end
  end
end

describe("tenant-context schema", function()

  it("is named tenant-context", function()
    assert.equal("tenant-context", schema.name)
  end)

  it("fills Kong-style defaults into a minimal configuration", function()
    local entity = assert(validator.validate(schema, with()))
    assert.same({
      protocols = { "grpc", "grpcs", "http", "https" },
      config = {
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
        public_routes = {},
      },
    }, entity)
  end)

  it("agrees with the configuration the unit specs run with", function()
    local entity = assert(validator.validate(schema, with({
      public_routes = { "auth-token", "auth-jwks" },
    })))
    assert.same(mock.conf(), entity.config)
  end)

  it("requires tenant_service_url, issuer and audience", function()
    local ok, err = validator.validate(schema, { config = {} })
    assert.is_nil(ok)
    assert.same({ config = {
      tenant_service_url = "required field missing",
      issuer = "required field missing",
      audience = "required field missing",
    } }, err)
  end)

  it("rejects a tenant_service_url without scheme and host", function()
    local _, err = validator.validate(schema, with({ tenant_service_url = "tenant-service" }))
    assert.same({ config = { tenant_service_url = "missing host in url" } }, err)
  end)

  it("rejects a non-positive cache_ttl and timeout", function()
    local _, err = validator.validate(schema, with({ cache_ttl = 0, timeout = -1 }))
    assert.same({ config = {
      cache_ttl = "value must be greater than 0",
      timeout = "value must be greater than 0",
    } }, err)
  end)

  it("rejects a negative_cache_ttl outside 0..86400", function()
    local _, err = validator.validate(schema, with({ negative_cache_ttl = -1 }))
    assert.same({ config = { negative_cache_ttl = "value should be between 0 and 86400" } },
                err)
    assert.truthy(validator.validate(schema, with({ negative_cache_ttl = 0 })))
  end)

  it("rejects numbers that are not integers and strings that are numbers", function()
    local _, err = validator.validate(schema, with({ timeout = 1.5, cache_ttl = "30" }))
    assert.same({ config = {
      timeout = "expected an integer",
      cache_ttl = "expected an integer",
    } }, err)
  end)

  it("rejects empty issuer, audience, claim and prefix", function()
    local _, err = validator.validate(schema, with({
      issuer = "", audience = "", tenant_claim = "", tier_consumer_prefix = "",
    }))
    assert.same({ config = {
      issuer = "length must be at least 1",
      audience = "length must be at least 1",
      tenant_claim = "length must be at least 1",
      tier_consumer_prefix = "length must be at least 1",
    } }, err)
  end)

  it("rejects header names with characters HTTP does not allow", function()
    local _, err = validator.validate(schema, with({ tenant_header = "X Tenant" }))
    assert.same({ config = { tenant_header =
      "bad header name 'X Tenant', allowed characters are A-Z, a-z, 0-9, '_', and '-'" } }, err)
  end)

  it("rejects the same header for tenant and tier, ignoring case", function()
    local _, err = validator.validate(schema, with({
      tenant_header = "X-Tenant", tier_header = "x-tenant",
    }))
    assert.same({ ["@entity"] = { "tenant_header and tier_header must differ" } }, err)
  end)

  it("rejects empty route names and a public_routes that is not an array", function()
    local _, err = validator.validate(schema, with({ public_routes = { "ok", "" } }))
    assert.same({ config = { public_routes = { [2] = "length must be at least 1" } } }, err)
    _, err = validator.validate(schema, with({ public_routes = "auth-token" }))
    assert.same({ config = { public_routes = "expected an array" } }, err)
  end)

  it("rejects unknown fields", function()
    local _, err = validator.validate(schema, with({ tenant_header_name = "X" }))
    assert.same({ config = { tenant_header_name = "unknown field" } }, err)
  end)

  it("cannot be scoped to a consumer", function()
    local entity = with()
    entity.consumer = { id = "c-1" }
    local _, err = validator.validate(schema, entity)
    assert.same({ consumer = "value must be null" }, err)
  end)

  it("runs on HTTP protocols only", function()
    local entity = with()
    entity.protocols = { "http", "tcp" }
    local _, err = validator.validate(schema, entity)
    assert.same({ protocols = { [2] = "expected one of: grpc, grpcs, http, https" } }, err)
  end)

  it("documents, defaults or requires, and constrains every config field", function()
    local fields = config_fields()
    assert.equal(11, #fields)
    for _, entry in ipairs(fields) do
      local name, field = next(entry)
      assert.is_string(field.description, name .. " has no description")
      assert.is_true(field.default ~= nil or field.required == true,
                     name .. " has neither a default nor required = true")
      local constrained = field.gt or field.between or field.len_min
        or field.custom_validator or (field.elements and field.elements.len_min)
      assert.truthy(constrained, name .. " has no constraint")
    end
  end)
end)
