"""Plugin implementations of the reference gateway, by Kong plugin name."""
