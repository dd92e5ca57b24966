"""decK invocations for `harness kong diff|sync` (decK 1.4 syntax).

    deck diff -s kong/declarative-config/kong.yml --kong-addr URL [--headers K:V]...
    deck sync -s kong/declarative-config/kong.yml --kong-addr URL [--headers K:V]...

The argv is built as data (tested offline); running it is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from harness.errors import ConfigError

__all__ = ["DeckCommand", "STATE_FILE", "build", "parse_admin_url"]

STATE_FILE = Path("kong/declarative-config/kong.yml")


def parse_admin_url(value: str) -> str:
    """An Admin API base URL: http(s)://host[:port][/prefix], no query."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError("--admin-url", "", "an Admin API URL like http://127.0.0.1:8001",
                          value)
    return value.rstrip("/")


@dataclass(frozen=True)
class DeckCommand:
    action: Literal["diff", "sync", "validate"]
    admin_url: str
    state: Path = STATE_FILE
    headers: tuple[str, ...] = ()
    select_tags: tuple[str, ...] = ()
    extra: tuple[str, ...] = field(default=())

    def argv(self, deck: str = "deck") -> list[str]:
        argv = [deck, self.action, "-s", str(self.state), "--kong-addr", self.admin_url]
        for h in self.headers:
            if ":" not in h:
                raise ConfigError("--header", "", "Name:value", h)
            argv += ["--headers", h]
        for tag in self.select_tags:
            argv += ["--select-tag", tag]
        if self.action == "diff":
            # exit 2 = differences found, so scripts can tell "in sync" apart.
            argv.append("--non-zero-exit-code")
        return argv + list(self.extra)

    def with_action(self, action: Literal["diff", "sync", "validate"]) -> DeckCommand:
        return DeckCommand(action, self.admin_url, self.state, self.headers, self.select_tags,
                           self.extra)


def build(action: Literal["diff", "sync", "validate"], admin_url: str,
          state: Path = STATE_FILE, headers: Sequence[str] = (),
          select_tags: Sequence[str] = ()) -> DeckCommand:
    return DeckCommand(action, parse_admin_url(admin_url), state, tuple(headers),
                       tuple(select_tags))
