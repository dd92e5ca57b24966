"""The reference gateway: a Kong 3.x-compatible data plane for our kong.yml."""
