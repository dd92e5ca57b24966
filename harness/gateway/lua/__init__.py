"""LuaJIT side of custom plugins: the VM with the Kong PDK subset (runner.lua, pdk.lua,
vm.py) and the async HTTP client behind `resty.http`. The Plugin class that runs
kong/custom-plugins/<name>/handler.lua is harness.gateway.plugins.lua_plugin."""
