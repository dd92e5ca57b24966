-- luacheck configuration for the custom Kong plugins (kong/custom-plugins).
std = "ngx_lua"
max_line_length = 100
unused_args = false
redefined = false

-- Kong's PDK global.
read_globals = { "kong" }

files["kong/custom-plugins/**/spec/**/*.lua"] = {
  std = "+busted",
  -- The PDK mock installs the globals that Kong provides at runtime.
  globals = { "kong", "ngx" },
}
