"""The REGISTRY covers every plugin the model allows and builds every plugin entity of
the production kong.yml (kong-behaviour.md §8 priorities)."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.gateway.plugins import REGISTRY
from harness.model.plugins import (
    PLUGIN_PRIORITIES,
    RequestTransformerConfig,
    ResponseTransformerConfig,
)


def test_registry_has_every_model_plugin_with_kongs_priority():
    assert set(REGISTRY) == set(PLUGIN_PRIORITIES)
    for name, cls in REGISTRY.items():
        assert cls.name == name and cls.priority == PLUGIN_PRIORITIES[name]


def test_every_plugin_entity_of_kong_yml_builds(runtime, gateway):
    built = [REGISTRY[sp.name](sp.plugin.config, runtime) for sp in gateway.plugins]
    assert {p.name for p in built} == gateway.plugin_names()
    assert "/metrics" in runtime.status_routes


@pytest.mark.parametrize("cls, config, field", [
    ("request-transformer", RequestTransformerConfig.model_validate({"add": {"body": ["a:1"]}}),
     "plugins.request-transformer.config.add.body"),
    ("response-transformer",
     ResponseTransformerConfig.model_validate({"remove": {"json": ["secret"]}}),
     "plugins.response-transformer.config.remove.json"),
    ("request-transformer",
     RequestTransformerConfig.model_validate({"add": {"headers": ["X-A:$(os.getenv('x'))"]}}),
     "plugins.request-transformer.config.add.headers.0"),
])
def test_unimplemented_operations_are_config_errors_naming_the_field(runtime, cls, config, field):
    with pytest.raises(ConfigError) as info:
        REGISTRY[cls](config, runtime)
    assert info.value.path == field and "not implemented" in str(info.value)
