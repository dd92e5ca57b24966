-- Unit specs of tenant-context's access phase against the PDK mock.

local mock = require "spec.helpers.pdk_mock"

local conf = mock.conf()

local function valid(tenant, opts)
  opts = opts or {}
  opts.token = opts.token or mock.token(mock.claims(tenant))
  opts.credential = opts.credential or mock.JWT_CREDENTIAL
  return mock.new(opts)
end

local function assert_exit(state, status, message)
  assert.is_table(state.exit, "expected the plugin to answer " .. status)
  assert.same({ status = status, body = { message = message } }, state.exit)
  assert.is_false(state.authenticated)
end

describe("tenant-context access", function()

  describe("tenant resolution", function()
    it("answers 404 Unknown tenant host for a host the directory does not know", function()
      local state = valid("acme", { host = "evil.example.net" }).access(conf)
      assert_exit(state, 404, "Unknown tenant host")
      assert.same({ "http://tenant-service:8081/v1/tenants/resolve?host=evil.example.net" },
                  state.calls)
    end)

    it("caches an unknown host for negative_cache_ttl seconds only", function()
      local state = valid("acme", { host = "evil.example.net" })
      state.access(conf)
      state.clock = state.clock + 4
      state.access(conf)
      assert.equal(1, #state.calls)
      state.clock = state.clock + 2
      state.access(conf)
      assert.equal(2, #state.calls)
      assert_exit(state, 404, "Unknown tenant host")
    end)

    it("answers 403 Tenant suspended for a suspended tenant even with a valid token", function()
      local state = valid("soylent", { host = "soylent.app.example.com" }).access(conf)
      assert_exit(state, 403, "Tenant suspended")
    end)

    it("answers 503 and does not cache when the Tenant Service is unreachable", function()
      local state = valid("acme", {
        tenant_service = function() return nil, "connection refused" end,
      })
      state.access(conf)
      assert_exit(state, 503, "Tenant directory unavailable")
      state.access(conf)
      assert.equal(2, #state.calls)
      assert.matches("connection refused", state.logs[1].message, 1, true)
      assert.equal("err", state.logs[1].level)
    end)

    it("answers 503 when the Tenant Service times out, using conf.timeout", function()
      local state = valid("acme", {
        tenant_service = function() return nil, "timeout" end,
      }).access(mock.conf({ timeout = 250 }))
      assert_exit(state, 503, "Tenant directory unavailable")
      assert.same({ 250 }, state.timeouts)
    end)

    it("answers 503 when the Tenant Service answers 500 or a body that is not a tenant", function()
      for _, res in ipairs({
        { status = 500, headers = {}, body = "{}" },
        { status = 200, headers = {}, body = "not json" },
        { status = 200, headers = {}, body = '{"id":"acme"}' },
        { status = 200, headers = {}, body = "null" },
      }) do
        local state = valid("acme", { tenant_service = function() return res end })
        state.access(conf)
        assert_exit(state, 503, "Tenant directory unavailable")
        state.access(conf)
        assert.equal(2, #state.calls)
      end
    end)

    it("recovers on the next request once the Tenant Service is back", function()
      local down = true
      local state = valid("acme", {
        tenant_service = function(url)
          if down then return nil, "connection refused" end
          return mock.directory_service(url)
        end,
      })
      state.access(conf)
      assert_exit(state, 503, "Tenant directory unavailable")
      down = false
      state.access(conf)
      assert.is_nil(state.exit)
      assert.equal("acme", state.header("X-Tenant-ID"))
    end)

    it("caches a resolved tenant for cache_ttl seconds", function()
      local state = valid("acme")
      state.access(conf)
      state.clock = state.clock + 29
      state.access(conf)
      assert.equal(1, #state.calls)
      state.clock = state.clock + 2
      state.access(conf)
      assert.equal(2, #state.calls)
    end)

    it("resolves an upper-case host with a trailing dot like the plain host", function()
      local state = valid("acme", { host = "ACME.App.Example.COM." }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "http://tenant-service:8081/v1/tenants/resolve?host=acme.app.example.com" },
                  state.calls)
      assert.equal("acme", state.header("X-Tenant-ID"))
    end)

    it("escapes the host in the resolve query", function()
      local state = valid("acme", { host = "a&b=c.example.com" }).access(conf)
      assert.same({ "http://tenant-service:8081/v1/tenants/resolve?host=a%26b%3Dc.example.com" },
                  state.calls)
      assert_exit(state, 404, "Unknown tenant host")
    end)

    it("resolves a tenant custom domain", function()
      local state = valid("acme", { host = "api.acme-corp.com" }).access(conf)
      assert.is_nil(state.exit)
      assert.equal("acme", state.header("X-Tenant-ID"))
    end)
  end)

  describe("token cross-check", function()
    it("answers 403 when the token's tenant claim names another tenant", function()
      local state = valid("umbrella").access(conf)
      assert_exit(state, 403, "Token tenant does not match host")
      assert.equal("warn", state.logs[1].level)
      assert.matches("token tenant umbrella does not match tenant acme", state.logs[1].message,
                     1, true)
    end)

    it("answers 403 when the tenant claim is missing or not a string", function()
      for _, value in ipairs({ 42, false, { "acme" } }) do
        local state = valid("acme", {
          token = mock.token(mock.claims("acme", { tenant_id = value })),
        }).access(conf)
        assert_exit(state, 403, "Token tenant does not match host")
      end
      local state = valid("acme", {
        token = mock.token(mock.claims("acme", { tenant_id = nil, org = "acme" })),
      }).access(mock.conf({ tenant_claim = "tenant" }))
      assert_exit(state, 403, "Token tenant does not match host")
    end)

    it("reads the tenant from the claim named by conf.tenant_claim", function()
      local state = valid("acme", {
        token = mock.token(mock.claims("umbrella", { org = "acme" })),
      }).access(mock.conf({ tenant_claim = "org" }))
      assert.is_nil(state.exit)
    end)

    it("answers 401 Invalid issuer when iss is not the configured issuer", function()
      local state = valid("acme", {
        token = mock.token(mock.claims("acme", { iss = "https://evil.example.com" })),
      }).access(conf)
      assert_exit(state, 401, "Invalid issuer")
    end)

    it("answers 401 Invalid audience when aud does not contain the audience", function()
      for _, aud in ipairs({ "other", { "a", "b" }, 7 }) do
        local state = valid("acme", {
          token = mock.token(mock.claims("acme", { aud = aud })),
        }).access(conf)
        assert_exit(state, 401, "Invalid audience")
      end
    end)

    it("accepts an aud array that contains the audience", function()
      local state = valid("acme", {
        token = mock.token(mock.claims("acme", { aud = { "x", "api.app.example.com" } })),
      }).access(conf)
      assert.is_nil(state.exit)
    end)

    it("answers 401 Unauthorized on a protected route without a verified token", function()
      local state = mock.new({}).access(conf)
      assert_exit(state, 401, "Unauthorized")
    end)

    it("answers 401 Unauthorized when the verified token's payload is unreadable", function()
      for _, token in ipairs({ "abc", "a.!!!.c", "a.bm90IGpzb24.c", "a.MTI.c" }) do
        local state = valid("acme", { token = token }).access(conf)
        assert_exit(state, 401, "Unauthorized")
      end
    end)

    it("lets a public route through without a token, still resolving the tenant", function()
      local state = mock.new({ route_name = "auth-token" }).access(conf)
      assert.is_nil(state.exit)
      assert.equal("acme", state.header("X-Tenant-ID"))
      assert.equal("enterprise", state.header("X-Tenant-Tier"))
      assert.is_nil(state.header("X-Tenant-User"))
      assert.is_nil(state.header("X-Credential-Identifier"))
      assert.same(mock.CONSUMERS["tier-enterprise"], state.consumer)
    end)

    it("still refuses an unknown host or a suspended tenant on a public route", function()
      local state = mock.new({ route_name = "auth-token", host = "x.example.net" }).access(conf)
      assert_exit(state, 404, "Unknown tenant host")
      state = mock.new({ route_name = "auth-token", host = "soylent.app.example.com" })
      assert_exit(state.access(conf), 403, "Tenant suspended")
    end)
  end)

  describe("context headers", function()
    it("sets X-Tenant-ID, X-Tenant-Tier and X-Tenant-User for the backend", function()
      local state = valid("acme").access(conf)
      assert.is_nil(state.exit)
      assert.equal("acme", state.header("X-Tenant-ID"))
      assert.equal("enterprise", state.header("X-Tenant-Tier"))
      assert.equal("user-42", state.header("X-Tenant-User"))
    end)

    it("uses the configured header names", function()
      local state = valid("acme").access(mock.conf({ tenant_header = "X-Org",
                                                      tier_header = "X-Plan" }))
      assert.equal("acme", state.header("X-Org"))
      assert.equal("enterprise", state.header("X-Plan"))
      assert.is_nil(state.header("X-Tenant-ID"))
    end)

    it("does not put a sub with control characters into a header", function()
      local state = valid("acme", {
        token = mock.token(mock.claims("acme", { sub = "u\r\nX-Evil: 1" })),
      }).access(conf)
      assert.is_nil(state.exit)
      assert.is_nil(state.header("X-Tenant-User"))
    end)

    it("records the tenant for the access log", function()
      local state = valid("acme").access(conf)
      assert.same({ tenant = { id = "acme", tier = "enterprise" } }, state.serialize)
    end)
  end)

  describe("tier consumer", function()
    it("authenticates the tier consumer with the jwt credential and sets its headers", function()
      local state = valid("acme").access(conf)
      local consumer = mock.CONSUMERS["tier-enterprise"]
      assert.same(consumer, state.consumer)
      assert.same(mock.JWT_CREDENTIAL, state.credential)
      assert.equal(consumer.id, state.header("X-Consumer-ID"))
      assert.equal("tier-enterprise", state.header("X-Consumer-Username"))
      assert.equal("enterprise", state.header("X-Consumer-Custom-ID"))
      assert.equal("auth-dev-1", state.header("X-Credential-Identifier"))
    end)

    it("picks the consumer of the tenant's tier with the configured prefix", function()
      local state = valid("umbrella", {
        host = "umbrella.app.example.com",
        consumers = { ["plan-basic"] = mock.CONSUMERS["tier-basic"] },
      }).access(mock.conf({ tier_consumer_prefix = "plan-" }))
      assert.is_nil(state.exit)
      assert.same(mock.CONSUMERS["tier-basic"], state.consumer)
    end)

    it("answers 503 Tier not configured when the tier has no consumer", function()
      local state = valid("nowhere", { host = "nowhere.app.example.com" }).access(conf)
      assert_exit(state, 503, "Tier not configured")
      assert.equal("err", state.logs[1].level)
      assert.matches("tier-gold", state.logs[1].message, 1, true)
    end)
  end)

  describe("spoofed headers", function()
    local spoofed = {
      { "X-Tenant-ID", "victim" }, { "x-tenant-id", "victim2" }, { "X_Tenant_ID", "victim" },
      { "X-Tenant-Tier", "enterprise" }, { "x_tenant_tier", "enterprise" },
      { "X-Tenant-User", "admin" }, { "X-Tenant-Anything", "1" }, { "X_Tenant_Region", "eu" },
      { "X-Consumer-Plan", "gold" }, { "X_Consumer_Plan", "gold" },
      { "X-Consumer-ID", "c-evil" }, { "X_Consumer_ID", "c-evil" },
      { "X-Consumer-Username", "tier-enterprise" }, { "X-Consumer-Custom-ID", "enterprise" },
      { "X-Consumer-Groups", "admins" }, { "x_consumer_groups", "admins" },
      { "X-Credential-Identifier", "auth-dev-2" }, { "X_Credential_Identifier", "k" },
      { "X-Anonymous-Consumer", "true" }, { "x_anonymous_consumer", "true" },
      { "X-Authenticated-Groups", "admins" }, { "x_authenticated_groups", "admins" },
      { "Forwarded", "for=1.2.3.4;host=umbrella.app.example.com;proto=https" },
      { "Accept", "application/json" },
    }

    it("strips every client tenant/consumer header and sets exactly one of each", function()
      local state = valid("umbrella", { host = "umbrella.app.example.com",
                                        headers = spoofed }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "umbrella" }, state.header_values("X-Tenant-ID"))
      assert.same({ "basic" }, state.header_values("X-Tenant-Tier"))
      assert.same({ "user-42" }, state.header_values("X-Tenant-User"))
      assert.same({ mock.CONSUMERS["tier-basic"].id }, state.header_values("X-Consumer-ID"))
      assert.same({ "auth-dev-1" }, state.header_values("X-Credential-Identifier"))
      for _, gone in ipairs({ "X_Tenant_ID", "x_tenant_tier", "X-Tenant-Anything",
                              "X_Tenant_Region", "X-Consumer-Plan", "X_Consumer_Plan",
                              "X_Consumer_ID", "X-Consumer-Groups", "x_consumer_groups",
                              "X_Credential_Identifier", "X-Anonymous-Consumer",
                              "x_anonymous_consumer", "X-Authenticated-Groups",
                              "x_authenticated_groups", "Forwarded" }) do
        assert.same({}, state.header_values(gone), gone .. " must be stripped")
      end
      assert.equal("application/json", state.header("Accept"))
    end)

    it("strips spoofed headers on a public route too", function()
      local state = mock.new({ route_name = "auth-token", headers = spoofed }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "acme" }, state.header_values("X-Tenant-ID"))
      assert.same({}, state.header_values("X-Tenant-User"))
      assert.same({}, state.header_values("X-Credential-Identifier"))
      assert.same({}, state.header_values("X-Anonymous-Consumer"))
    end)

    it("strips spoofed headers even when the request is refused", function()
      local state = valid("acme", { host = "evil.example.net", headers = spoofed }).access(conf)
      assert_exit(state, 404, "Unknown tenant host")
      assert.same({}, state.header_values("X-Tenant-ID"))
      assert.same({}, state.header_values("X-Consumer-ID"))
    end)

    it("strips the tenant header sent after a thousand other headers", function()
      local headers = {}
      for i = 1, 1100 do
        headers[i] = { "X-Junk-" .. i, "j" }
      end
      headers[#headers + 1] = { "X-Tenant-ID", "victim" }
      headers[#headers + 1] = { "X_Consumer_Username", "tier-enterprise" }
      headers[#headers + 1] = { "X-Authenticated-Groups", "admins" }
      headers[#headers + 1] = { "Forwarded", "host=acme.app.example.com" }
      local state = valid("umbrella", { host = "umbrella.app.example.com",
                                        headers = headers }).access(conf)
      assert.same({ "umbrella" }, state.header_values("X-Tenant-ID"))
      assert.same({}, state.header_values("X_Consumer_Username"))
      assert.same({}, state.header_values("X-Authenticated-Groups"))
      assert.same({}, state.header_values("Forwarded"))
    end)

    it("clears headers the client names in Connection and keeps its own", function()
      local state = valid("acme", { headers = {
        { "Connection", "close, X-Tenant-ID, X-Secret" },
        { "Connection", "X-Consumer-ID" },
        { "X-Secret", "s" }, { "X-Kept", "k" },
      } }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "keep-alive" }, state.header_values("Connection"))
      assert.same({}, state.header_values("X-Secret"))
      assert.equal("k", state.header("X-Kept"))
      -- Kong's access.after ran after the plugin (state.access does it):
      -- the gateway's headers survived it.
      assert.same({ "acme" }, state.header_values("X-Tenant-ID"))
      assert.same({ mock.CONSUMERS["tier-enterprise"].id }, state.header_values("X-Consumer-ID"))
    end)

    it("shows why: without the plugin Kong's access.after would delete the headers", function()
      local state = mock.new({ headers = {
        { "Connection", "close, X-Tenant-ID" }, { "X-Tenant-ID", "acme" },
      } })
      state.kong_access_after()
      assert.same({}, state.header_values("X-Tenant-ID"))
    end)

    it("leaves keep-alive, close and upgrade tokens alone", function()
      local state = valid("acme", { headers = {
        { "Connection", "Keep-Alive, Upgrade" }, { "Upgrade", "websocket" },
        { "Close", "x" },
      } }).access(conf)
      assert.equal("websocket", state.header("Upgrade"))
      assert.equal("keep-alive", state.header("Connection"))
    end)
  end)

  describe("Authorization lines", function()
    local token = mock.token(mock.claims("acme"))

    it("answers 401 Multiple Authorization headers for a valid line then garbage", function()
      local state = valid("acme", { token = token, headers = {
        { "Authorization", "Bearer " .. token }, { "Authorization", "Bearer garbage" },
      } }).access(conf)
      assert_exit(state, 401, "Multiple Authorization headers")
    end)

    it("answers 401 for two valid lines, even two copies of the verified token", function()
      for _, second in ipairs({ mock.token(mock.claims("umbrella")), token }) do
        local state = valid("acme", { token = token, headers = {
          { "Authorization", "Bearer " .. token }, { "authorization", "Bearer " .. second },
        } }).access(conf)
        assert_exit(state, 401, "Multiple Authorization headers")
      end
    end)

    it("refuses two lines on a public route too, before asking the Tenant Service", function()
      local state = mock.new({ route_name = "auth-token", headers = {
        { "Authorization", "Basic a" }, { "Authorization", "" },
      } }).access(conf)
      assert_exit(state, 401, "Multiple Authorization headers")
      assert.same({}, state.calls)
    end)

    it("still strips spoofed headers from a request it refuses for two lines", function()
      local state = valid("acme", { token = token, headers = {
        { "Authorization", "Bearer " .. token }, { "Authorization", "Bearer x" },
        { "X-Tenant-ID", "victim" },
      } }).access(conf)
      assert_exit(state, 401, "Multiple Authorization headers")
      assert.same({}, state.header_values("X-Tenant-ID"))
    end)

    it("forwards a single Authorization line unchanged", function()
      local state = valid("acme", { token = token, headers = {
        { "Authorization", "bearer " .. token },
      } }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "bearer " .. token }, state.header_values("Authorization"))
    end)

    it("forwards only the first line when a second hides past the read limit", function()
      local headers = { { "Authorization", "Bearer " .. token } }
      for i = 1, 1100 do
        headers[#headers + 1] = { "X-Junk-" .. i, "j" }
      end
      headers[#headers + 1] = { "Authorization", "Bearer garbage" }
      local state = valid("acme", { token = token, headers = headers }).access(conf)
      assert.is_nil(state.exit)
      assert.same({ "Bearer " .. token }, state.header_values("Authorization"))
    end)

    it("forwards no Authorization line when every line hides past the read limit", function()
      local headers = {}
      for i = 1, 1100 do
        headers[#headers + 1] = { "X-Junk-" .. i, "j" }
      end
      headers[#headers + 1] = { "Authorization", "Bearer " .. token }
      headers[#headers + 1] = { "Authorization", "Bearer garbage" }
      local state = valid("acme", { token = token, headers = headers }).access(conf)
      assert.is_nil(state.exit)
      assert.same({}, state.header_values("Authorization"))
    end)
  end)

  describe("JOSE header of the verified token", function()
    local function with_header(header)
      return valid("acme", { token = mock.token(mock.claims("acme"), header) })
    end

    it("answers 401 Unsupported critical header for crit with an unknown extension", function()
      local state = with_header({ alg = "RS256", typ = "JWT", crit = { "x-tenant-ext" },
                                  ["x-tenant-ext"] = 1 }).access(conf)
      assert_exit(state, 401, "Unsupported critical header")
    end)

    it("answers 401 for crit b64 false (an RFC 7797 unencoded payload)", function()
      local state = with_header({ alg = "RS256", crit = { "b64" }, b64 = false }).access(conf)
      assert_exit(state, 401, "Unsupported critical header")
    end)

    it("answers 401 for any crit member, even empty or null", function()
      for _, json in ipairs({ '{"alg":"RS256","crit":[]}', '{"alg":"RS256","crit":null}' }) do
        assert_exit(with_header(json).access(conf), 401, "Unsupported critical header")
      end
    end)

    it("answers 401 Invalid token type for a refresh-typed token of the issuer", function()
      for _, typ in ipairs({ "refresh+jwt", "JWS", "id+jwt", "", 42, false }) do
        local state = with_header({ alg = "RS256", typ = typ }).access(conf)
        assert_exit(state, 401, "Invalid token type")
      end
    end)

    it("accepts typ JWT and at+jwt in any case, with or without application/", function()
      for _, typ in ipairs({ "JWT", "jwt", "application/jwt", "at+jwt", "AT+JWT",
                             "application/at+jwt" }) do
        local state = with_header({ alg = "RS256", typ = typ }).access(conf)
        assert.is_nil(state.exit, "typ " .. typ)
        assert.equal("acme", state.header("X-Tenant-ID"))
      end
    end)

    it("accepts a header without typ", function()
      local state = with_header({ alg = "RS256", kid = "auth-dev-1" }).access(conf)
      assert.is_nil(state.exit)
    end)

    it("answers 401 Unauthorized when the header segment is not a JSON object", function()
      for _, json in ipairs({ "not json", '"RS256"', "42" }) do
        assert_exit(with_header(json).access(conf), 401, "Unauthorized")
      end
    end)

    it("refuses the same refused token again on its next request (cached verdict)", function()
      local state = with_header({ alg = "RS256", typ = "refresh+jwt" })
      assert_exit(state.access(conf), 401, "Invalid token type")
      state.exit, state.authenticated = nil, false
      assert_exit(state.access(conf), 401, "Invalid token type")
    end)
  end)
end)
