-- A small validator for the part of Kong's schema language our schema.lua
-- uses (kong/db/schema/init.lua): types, required, defaults, gt, between,
-- len_min, one_of, eq null, custom_validator, arrays/sets, records, unknown
-- fields and custom_entity_check. Error tables and messages follow Kong's.

local validator = {}

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]+$")
package.path = here .. "/?.lua;" .. package.path
local typedefs = require "kong.db.schema.typedefs"

validator.NULL = typedefs.NULL

local function copy(v)
  if type(v) ~= "table" then
    return v
  end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

local function is_sequence(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local TYPE_ERRORS = {
  string = "expected a string", integer = "expected an integer",
  number = "expected a number", boolean = "expected a boolean",
  array = "expected an array", set = "expected a set", record = "expected a record",
}

local validate_value

local function validate_record(field, value)
  local errors, out, any = {}, {}, false
  local known = {}
  for _, entry in ipairs(field.fields) do
    local name, sub = next(entry)
    known[name] = true
    local v = value[name]
    if v == nil then
      if sub.default ~= nil then
        out[name] = copy(sub.default)
      elseif sub.required then
        errors[name] = "required field missing"
        any = true
      end
    else
      local ok, err = validate_value(sub, v)
      if err ~= nil then
        errors[name] = err
        any = true
      else
        out[name] = ok
      end
    end
  end
  for name in pairs(value) do
    if not known[name] then
      errors[name] = "unknown field"
      any = true
    end
  end
  if any then
    return nil, errors
  end
  return out
end

local function check_type(field, value)
  local t = field.type
  if t == "foreign" then
    return true
  elseif t == "integer" then
    return type(value) == "number" and value == math.floor(value)
  elseif t == "array" or t == "set" then
    return type(value) == "table" and is_sequence(value)
  elseif t == "record" then
    return type(value) == "table"
  end
  return type(value) == t
end

function validate_value(field, value)
  if field.eq == validator.NULL then
    return nil, "value must be null"
  end
  if not check_type(field, value) then
    return nil, TYPE_ERRORS[field.type]
  end
  if field.type == "record" then
    return validate_record(field, value)
  end
  if field.type == "array" or field.type == "set" then
    local errors, any = {}, false
    for i, item in ipairs(value) do
      local _, err = validate_value(field.elements, item)
      if err ~= nil then
        errors[i] = err
        any = true
      end
    end
    if any then
      return nil, errors
    end
    return copy(value)
  end
  if field.len_min and #value < field.len_min then
    return nil, "length must be at least " .. field.len_min
  end
  if field.gt and value <= field.gt then
    return nil, "value must be greater than " .. field.gt
  end
  if field.between and (value < field.between[1] or value > field.between[2]) then
    return nil, "value should be between " .. field.between[1] .. " and " .. field.between[2]
  end
  if field.one_of then
    local found = false
    for _, allowed in ipairs(field.one_of) do
      if allowed == value then found = true end
    end
    if not found then
      return nil, "expected one of: " .. table.concat(field.one_of, ", ")
    end
  end
  if field.custom_validator then
    local ok, err = field.custom_validator(value)
    if not ok then
      return nil, err
    end
  end
  return value
end

-- Returns the plugin entity with defaults filled in, or nil and Kong's
-- error table ({ config = { field = "message" }, ["@entity"] = { ... } }).
function validator.validate(schema, entity)
  local out, errors = validate_record({ fields = schema.fields }, entity)
  if not out then
    return nil, errors
  end
  local entity_errors = {}
  for _, check in ipairs(schema.entity_checks or {}) do
    local custom = check.custom_entity_check
    assert(custom, "only custom_entity_check is supported by this validator")
    local ok, err = custom.fn(out)
    if not ok then
      entity_errors[#entity_errors + 1] = err
    end
  end
  if #entity_errors > 0 then
    return nil, { ["@entity"] = entity_errors }
  end
  return out
end

-- schema.lua of the plugin next to spec/.
function validator.load_schema(plugin_dir)
  package.loaded["kong.db.schema.typedefs"] = typedefs
  return assert(loadfile(plugin_dir .. "/schema.lua"))()
end

return validator
