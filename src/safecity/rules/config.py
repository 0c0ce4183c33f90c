"""The rules file: which rules run, with what parameters; validated with clear errors.

```yaml
version: 1
rules:
  - name: stolen-bike            # unique; appears on every warning it raises
    kind: hotlist                # the evaluator: a registered RuleKind (rules/kinds.py)
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
from safecity.rules.kinds import rule_kinds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleParams(_Strict):
    """Base of every rule kind's parameter model: unknown keys are refused, values are frozen."""


REVIEWED_ONLY = frozenset({"face_match"})  # kinds that reach units only through a human reviewer


def known_record_kinds(kinds: list[str]) -> list[str]:
    """A validator for `record_kinds` parameters: every kind must exist, and none may be one that
    reaches units only after a person has confirmed it (a face match: the recognition review queue)."""
    unknown = sorted(set(kinds) - ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown record kinds {unknown}; known: {sorted(ALL_KINDS)}")
    reviewed = sorted(set(kinds) & REVIEWED_ONLY)
    if reviewed:
        raise ValueError(
            f"{', '.join(reviewed)}: a face hit reaches units only once a face reviewer has confirmed it "
            "(the review queue raises that warning); no rule may alert on it directly"
        )
    return kinds


class RuleConfig(_Strict):
    """One configured rule."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    kind: str
    enabled: bool = True
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    title: str | None = Field(None, max_length=200, description="Headline of its warnings.")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        kinds = rule_kinds()
        if kind not in kinds:
            raise ValueError(f"unknown rule kind {kind!r}; known: {', '.join(sorted(kinds))}")
        return kind

    def typed_params(self) -> Any:
        """The parameters validated against this rule kind's schema."""
        return rule_kinds()[self.kind].params.model_validate(self.params)


class RulesFile(_Strict):
    """The whole file."""

    version: Literal[1] = 1
    rules: list[RuleConfig]


class RulesError(ConfigFileError):
    """The rules file is wrong; `problems` lists each problem with where it is."""

    what = "rules file"


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
