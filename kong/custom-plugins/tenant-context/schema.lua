-- Configuration of tenant-context. The Python model
-- harness.model.plugins.TenantContextConfig mirrors it field by field;
-- tests/lua/test_schema.py evaluates this file and fails when they differ.

local typedefs = require "kong.db.schema.typedefs"

return {
  name = "tenant-context",
  fields = {
    -- Runs for every consumer: it is the plugin that picks the consumer.
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { tenant_service_url = typedefs.url {
              required = true,
              description = "Base URL of the Tenant Service; the plugin calls "
                .. "GET <url>/v1/tenants/resolve?host=<host>.",
          } },
          { cache_ttl = {
              type = "integer", default = 30, gt = 0,
              description = "Seconds a resolved tenant stays cached (a tier or "
                .. "status change takes effect after at most this long).",
          } },
          { negative_cache_ttl = {
              type = "integer", default = 5, between = { 0, 86400 },
              description = "Seconds an unknown host stays cached as unknown "
                .. "(0 = do not expire). Directory failures are never cached.",
          } },
          { timeout = {
              type = "integer", default = 1000, gt = 0,
              description = "Milliseconds for connecting to, writing to and "
                .. "reading from the Tenant Service.",
          } },
          { issuer = {
              type = "string", required = true, len_min = 1,
              description = "Required value of the token's `iss` claim.",
          } },
          { audience = {
              type = "string", required = true, len_min = 1,
              description = "Value the token's `aud` claim (string or array) "
                .. "must contain.",
          } },
          { tenant_claim = {
              type = "string", default = "tenant_id", len_min = 1,
              description = "Claim holding the tenant id; it must equal the "
                .. "tenant of the Host.",
          } },
          { tier_consumer_prefix = {
              type = "string", default = "tier-", len_min = 1,
              description = "The request is authenticated as the consumer named "
                .. "<prefix><tier>, whose rate-limiting instance applies.",
          } },
          { tenant_header = typedefs.header_name {
              default = "X-Tenant-ID",
              description = "Upstream header carrying the resolved tenant id.",
          } },
          { tier_header = typedefs.header_name {
              default = "X-Tenant-Tier",
              description = "Upstream header carrying the tenant's tier.",
          } },
          { public_routes = {
              type = "array", default = {},
              elements = { type = "string", len_min = 1 },
              description = "Names of routes served without a token (the tenant "
                .. "is still resolved and checked).",
          } },
        },
    } },
  },
  entity_checks = {
    -- One header cannot carry both values (compared as HTTP does: ignoring case).
    { custom_entity_check = {
        field_sources = { "config.tenant_header", "config.tier_header" },
        fn = function(entity)
          local conf = entity.config
          if conf.tenant_header:lower() == conf.tier_header:lower() then
            return nil, "tenant_header and tier_header must differ"
          end
          return true
        end,
    } },
  },
}
