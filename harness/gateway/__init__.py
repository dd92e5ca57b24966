"""The reference gateway: a Kong 3.x-compatible data plane for our kong.yml."""

# The Kong version the reference gateway emulates (Server/Via headers, status, reports).
KONG_VERSION = "3.9.1"


def build() -> str:
    """"mypyc" when this package runs compiled (`harness build-gateway`), else "interpreted"."""
    return "mypyc" if __file__.endswith(".so") else "interpreted"
