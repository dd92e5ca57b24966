"""Small Kong behaviours several plugins share: exit bodies, entity ids, crashes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from harness.gateway.plugin_api import Exit
from harness.model import Consumer

__all__ = ["ENTITY_NAMESPACE", "ZERO_UUID", "PluginCrash", "cjson", "consumer_id", "kong_exit"]

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# Entities without an `id` in kong.yml get a stable uuid5 (Kong generates one in
# DB-less mode; ours is deterministic so replicas agree). See docs/reference-gateway.md.
ENTITY_NAMESPACE = uuid.UUID("6f1c1d5e-0c55-4a52-9f8e-6b0a1f1c2a10")


class PluginCrash(Exception):
    """A plugin failed the way a Lua `error()` fails in Kong: the data plane answers
    500 `An unexpected error occurred` through its nginx error handler."""


def cjson(payload: Any) -> bytes:
    """Encode like OpenResty's lua-cjson: compact, and '/' escaped as '\\/'."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.replace("/", "\\/").encode()


def kong_exit(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Exit:
    """kong.response.exit(status, table, headers): compact JSON, no request_id."""
    return Exit(status, cjson(payload),
                [("Content-Type", "application/json; charset=utf-8"), *headers])


def entity_id(kind: str, name: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    key = (kind, name)
    got = _IDS.get(key)
    if got is None:
        # Names come from kong.yml (and credential keys from it): a small, fixed set.
        # The bound only guards against a caller passing request data by mistake.
        if len(_IDS) >= 65536:
            _IDS.clear()
        got = _IDS[key] = str(uuid.uuid5(ENTITY_NAMESPACE, f"{kind}:{name}"))
    return got


# uuid5 + str() cost ~10 µs; ids are asked for on every request (file-log, rate-limiting).
_IDS: dict[tuple[str, str], str] = {}


def consumer_id(consumer: Consumer) -> str:
    return entity_id("consumers", consumer.username, consumer.id)
