"""Load profiles as data: the request mix and the stages of each profile.

`scenarios/load/profiles.yaml` is parsed strictly (unknown keys are errors
naming file, field, expected and got) into these frozen records; the generic
`StagesShape` and the user classes read nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from harness.errors import ConfigError
from harness.model._base import Strict, fail, to_config_error
from harness.model.loader import load_yaml

__all__ = ["DEFAULT_PROFILES", "FaultEvent", "LoadCatalogue", "MixEntry", "Profile", "Stage",
           "USER_KINDS", "load_profiles"]

DEFAULT_PROFILES = Path("scenarios/load/profiles.yaml")
# User kinds a stage may name: one per tier, plus the flooding neighbour.
USER_KINDS = ("basic", "pro", "enterprise", "flood")

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]


class MixEntry(Strict):
    """One kind of request of the realistic mix: a kong.yml route, a method, a weight."""

    name: str
    route: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str | None = None            # defaults to the route's first path
    body: dict[str, Any] | None = None
    weight: Annotated[int, Field(gt=0)] = 1


class Wait(Strict):
    min: NonNeg = 0.5
    max: NonNeg = 1.5

    @model_validator(mode="after")
    def _ordered(self) -> Wait:
        if self.max < self.min:
            raise fail(f"max >= min ({self.min})", self.max)
        return self


class Stage(Strict):
    """Run `users` for `duration` seconds. An int is spread over the tier users by the
    tenant directory's weights; a mapping fixes the count per user kind."""

    duration: Pos
    users: Annotated[int, Field(ge=0)] | dict[str, Annotated[int, Field(ge=0)]]
    spawn_rate: Pos = 10.0

    @model_validator(mode="after")
    def _kinds(self) -> Stage:
        if isinstance(self.users, dict):
            for kind in self.users:
                if kind not in USER_KINDS:
                    raise fail(f"user kinds among {list(USER_KINDS)}", kind)
        return self

    def counts(self) -> dict[str, int] | None:
        return dict(self.users) if isinstance(self.users, dict) else None

    def total(self) -> int:
        return sum(self.users.values()) if isinstance(self.users, dict) else self.users


class FaultEvent(Strict):
    """At `at` seconds, set (or clear, faults=None) stub faults via the stub admin API."""

    at: NonNeg
    instance: str                      # a kong.yml upstream target name, e.g. user-1
    faults: dict[str, Any] | None = None


class Profile(Strict):
    description: str
    stages: list[Stage] = Field(min_length=1)
    wait: Wait = Wait()
    flood_wait: NonNeg = 0.0           # think time of flood users (0: as fast as possible)
    events: list[FaultEvent] = []
    slo: str | None = None             # default SLO file section for this profile

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.stages)

    @model_validator(mode="after")
    def _events_in_run(self) -> Profile:
        for ev in self.events:
            if ev.at > self.duration:
                raise fail(f"event times within the profile's {self.duration:g} s", ev.at)
        return self


class LoadCatalogue(Strict):
    format_version: Literal["1"] = Field(alias="_format_version")
    mix: list[MixEntry] = Field(min_length=1)
    flood_mix: list[str] = Field(min_length=1)   # mix entry names the flood user sends
    profiles: dict[str, Profile]

    @model_validator(mode="after")
    def _flood_names(self) -> LoadCatalogue:
        names = {m.name for m in self.mix}
        for n in self.flood_mix:
            if n not in names:
                raise fail(f"a mix entry name ({sorted(names)})", n)
        return self

    def profile(self, name: str, file: str = str(DEFAULT_PROFILES)) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(file, f"profiles.{name}",
                              f"one of the profiles {sorted(self.profiles)}", name) from None


def load_profiles(path: Path = DEFAULT_PROFILES) -> LoadCatalogue:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "", "a mapping at the top level", type(raw).__name__,
                          raw_got=True)
    try:
        return LoadCatalogue.model_validate(raw)
    except ValidationError as exc:
        raise to_config_error(exc, str(path), raw) from None
