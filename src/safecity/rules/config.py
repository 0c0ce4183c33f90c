"""The rules file: which rules run, with what parameters; validated with clear errors.

```yaml
version: 1
rules:
  - name: stolen-bike            # unique; appears on every warning it raises
    kind: hotlist                # the evaluator (see KINDS)
    severity: high               # low | medium | high | critical
    params: {lists: [stolen_bike], record_kinds: [rfid_read]}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from safecity.core.configfile import ConfigFileError, load_file, parse_mapping, where
from safecity.core.kinds import ALL_KINDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotlistParams(_Strict):
    """A listed subject seen anywhere."""

    lists: list[str] = Field(
        default_factory=lambda: ["stolen_bike"], min_length=1, description="Watchlist kinds to match against."
    )
    record_kinds: list[str] = Field(
        default_factory=lambda: ["rfid_read"], min_length=1, description="Sighting kinds that can match."
    )

    @field_validator("record_kinds")
    @classmethod
    def _known(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown record kinds {unknown}; known: {sorted(ALL_KINDS)}")
        return kinds


class TagTamperParams(_Strict):
    """A tag reporting that it was prised off or opened."""

    codes: list[str] = Field(
        default_factory=lambda: ["tamper"], min_length=1, description="Read codes that mean tampering."
    )
    record_kinds: list[str] = Field(default_factory=lambda: ["rfid_read"], min_length=1)


class DeviceOfflineParams(_Strict):
    """No heartbeat (or any record) from a device for too long."""

    minutes: float = Field(15, gt=0, le=7 * 24 * 60, description="Silence that makes a device offline.")
    device_kinds: list[str] = Field(
        default_factory=lambda: ["rfid_station"], min_length=1, description="Device kinds to watch."
    )


PARAMS: dict[str, type[_Strict]] = {
    "hotlist": HotlistParams,
    "tag_tamper": TagTamperParams,
    "device_offline": DeviceOfflineParams,
}
KINDS = tuple(PARAMS)


class RuleConfig(_Strict):
    """One configured rule."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    kind: Literal["hotlist", "tag_tamper", "device_offline"]
    enabled: bool = True
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    title: str | None = Field(None, max_length=200, description="Headline of its warnings.")
    params: dict[str, Any] = Field(default_factory=dict)

    def typed_params(self) -> Any:
        """The parameters validated against this rule kind's schema."""
        return PARAMS[self.kind].model_validate(self.params)


class RulesFile(_Strict):
    """The whole file."""

    version: Literal[1] = 1
    rules: list[RuleConfig]


class RulesError(ConfigFileError):
    """The rules file is wrong; `problems` lists each problem with where it is."""


def parse_rules(text: str, *, source: str = "<rules>") -> RulesFile:
    """Parse and validate a rules document; raise RulesError naming every problem."""
    raw = parse_mapping(text, source=source, error=RulesError, shape="'version' and 'rules'")
    problems: list[str] = []
    if raw.get("version", 1) != 1:
        problems.append(f"version: this server reads version 1 rules files, not {raw.get('version')!r}")
    unknown = sorted(set(raw) - {"version", "rules"})
    if unknown:
        problems.append(f"unknown top-level keys {unknown}; expected 'version' and 'rules'")
    items = raw.get("rules")
    if not isinstance(items, list):
        raise RulesError(source, [*problems, "rules: must be a list of rules"])
    rules: list[RuleConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        label = f"rules[{i}]" + (
            f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else ""
        )
        try:
            rule = RuleConfig.model_validate(item)
        except ValidationError as exc:
            problems += [f"{label}.{where(e)}" for e in exc.errors()]
            continue
        if rule.name in seen:
            problems.append(f"{label}: the name is used twice")
        seen.add(rule.name)
        try:
            rule.typed_params()
        except ValidationError as exc:
            problems += [f"{label}.params.{where(e)}" for e in exc.errors()]
        rules.append(rule)
    if problems:
        raise RulesError(source, problems)
    return RulesFile(version=1, rules=rules)


def load_rules(path: Path) -> RulesFile:
    """Read and validate a rules file."""
    return load_file(path, parse_rules, error=RulesError)


DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.yaml")
