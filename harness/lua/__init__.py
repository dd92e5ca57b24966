"""Tooling around the custom Kong Lua plugins (kong/custom-plugins/).

`checks` registers the `luacheck` and `busted` checks of `harness validate`;
`schema` reads a plugin's schema.lua through LuaJIT so Python can compare it
with the typed model or use its defaults.
"""
