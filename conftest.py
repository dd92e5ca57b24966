"""Repository-wide pytest set-up: the harness's pytest plugin registers the
`--target` option, markers and fixtures for scenarios/ (when present)."""

import importlib.util

if importlib.util.find_spec("harness.pytest_plugin") is not None:
    pytest_plugins = ["harness.pytest_plugin"]
