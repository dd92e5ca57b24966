"""Gateway.plugin_config: one plugin's settings, typed, with plugins_for's scoping."""

from __future__ import annotations

from pathlib import Path

from harness.model import load_gateway
from harness.model.plugins import (
    CorrelationIdConfig,
    RateLimitingConfig,
    RequestSizeLimitingConfig,
)

ROOT = Path(__file__).resolve().parents[2]


def test_plugin_config_returns_the_config_of_the_plugin_that_applies():
    gw = load_gateway(ROOT)
    by_name = {sp.name: sp.plugin.config for sp in gw.plugins_for(None)}
    conf = gw.plugin_config(None, CorrelationIdConfig)
    assert isinstance(conf, CorrelationIdConfig)
    assert conf is by_name["correlation-id"]
    view = next(v for v in gw.routes
                if any(sp.name == "request-size-limiting" for sp in gw.plugins_for(v)))
    size = gw.plugin_config(view, RequestSizeLimitingConfig)
    want = next(sp.plugin.config for sp in gw.plugins_for(view)
                if sp.name == "request-size-limiting")
    assert size is want


def test_plugin_config_honours_the_consumer_scope():
    gw = load_gateway(ROOT)
    tier = next(iter(gw.tiers.tiers))
    view = gw.routes[0]
    assert gw.plugin_config(view, RateLimitingConfig) is None   # scoped to tier consumers
    conf = gw.plugin_config(view, RateLimitingConfig, gw.tier_consumer(tier))
    assert isinstance(conf, RateLimitingConfig)
    assert conf.limits() == gw.tier_limits(tier)
