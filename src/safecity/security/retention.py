"""The retention policy: how long each kind of data is kept, and which lake partitions are due.

```yaml
version: 1
lake:                  # days a lake partition (one UTC day of one record kind) is kept
  rfid_read: 30        # every record kind of core/kinds.py must be listed
registry:              # days a registry row is kept after what it records ended
  closed_alerts: 365   # every installed RetentionEntry must be listed
```

Days count back from the start (00:00 UTC) of the day a run is for: with 30 days, a run for
2026-11-22 keeps lake days from 2026-10-23 on, and registry rows that ended at or after
2026-10-23 00:00. Audit records are never deleted here (see AUDIT_KEPT). The policy is pure
data; `safecity.security.retention_run` applies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from safecity.core.capabilities import extensions
from safecity.core.configfile import ConfigFileError, load_file, parse_mapping, where
from safecity.core.kinds import KIND_SPECS
from safecity.lake import PartitionInfo
from safecity.security.models import Case, CaseHold, CaseStatus
from safecity.store.retention import RetentionEntry

DEFAULT_RETENTION_FILE = Path(__file__).with_name("retention.yaml")

# The most a policy may keep anything: a hundred years is "for ever" written down honestly.
MAX_DAYS = 36_500
Days = Annotated[int, Field(strict=True, ge=1, le=MAX_DAYS)]

AUDIT_KEPT = (
    "audit records are never deleted by retention: each record's hash covers its predecessor, so "
    "removing old records would break verification of every later one (see docs/retention.md)"
)
_AUDIT_KEYS = frozenset({"audit", "audit_records", "audit_trail", "audit_chain"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def registry_entries() -> tuple[RetentionEntry, ...]:
    """Every entry the installed capabilities contribute, in capability order."""
    return tuple(extensions(RetentionEntry))


@cache
def _registry_model() -> type[BaseModel]:
    """The `registry:` section's model: one required period per installed entry."""
    fields: dict[str, Any] = {e.name: (Days, Field(description=e.description)) for e in registry_entries()}
    return create_model("RegistryRetention", __base__=_Strict, **fields)


class RetentionPolicy(_Strict):
    """The whole policy file."""

    version: Literal[1] = 1
    lake: dict[str, Days]
    # Days registry rows are kept after what they record ended, by entry (validated against the
    # installed entries: every one must be stated, no other may be).
    registry: Any

    def lake_cutoff(self, kind: str, as_of: date) -> date | None:
        """Partitions of this kind dated before the returned day are due; None for a kind with no policy."""
        days = self.lake.get(kind)
        return None if days is None else as_of - timedelta(days=days)

    def registry_cutoff(self, entry: str, as_of: date) -> datetime:
        """Rows of this registry entry that ended before the returned instant are due."""
        days: int = getattr(self.registry, entry)
        return day_start(as_of) - timedelta(days=days)

    def registry_days(self, entry: str) -> int:
        """The period of one registry entry."""
        days: int = getattr(self.registry, entry)
        return days


class RetentionError(ConfigFileError):
    """The policy file is wrong; `problems` lists each problem with where it is."""

    what = "retention policy"


def parse_policy(text: str, *, source: str = "<retention>") -> RetentionPolicy:
    """Parse and validate a policy document; raise RetentionError naming every problem."""
    raw = parse_mapping(text, source=source, error=RetentionError, shape="'version', 'lake' and 'registry'")
    problems = _audit_problems(raw) + _lake_problems(raw.get("lake"))
    clean = _without_audit_keys(raw)
    policy: RetentionPolicy | None = None
    registry: BaseModel | None = None
    try:
        policy = RetentionPolicy.model_validate(clean)
    except ValidationError as exc:
        problems += [_where(e) for e in exc.errors() if not _is_reported(e, problems)]
    section = clean.get("registry")
    if isinstance(section, dict):
        try:
            registry = _registry_model().model_validate(section)
        except ValidationError as exc:
            problems += [_where(e, prefix="registry") for e in exc.errors()]
    elif "registry" in clean:
        problems.append("registry: must be a mapping of entry: days")
    if policy is None or registry is None:
        raise RetentionError(source, problems)
    policy = policy.model_copy(update={"registry": registry})
    for entry in registry_entries():
        for other, reason in entry.at_least:
            mine, theirs = policy.registry_days(entry.name), policy.registry_days(other)
            if mine < theirs:
                problems.append(
                    f"registry.{entry.name}: {mine} days is shorter than registry.{other} "
                    f"({theirs} days), but {reason}"
                )
    if problems:
        raise RetentionError(source, problems)
    return policy


def load_policy(path: Path) -> RetentionPolicy:
    """Read and validate a policy file."""
    return load_file(path, parse_policy, error=RetentionError)


def _audit_problems(raw: dict[Any, Any]) -> list[str]:
    found = [str(k) for k in raw if k in _AUDIT_KEYS]
    registry = raw.get("registry")
    if isinstance(registry, dict):
        found += [f"registry.{k}" for k in registry if k in _AUDIT_KEYS]
    return [f"{where}: {AUDIT_KEPT}" for where in found]


def _without_audit_keys(raw: dict[Any, Any]) -> dict[Any, Any]:
    clean = {k: v for k, v in raw.items() if k not in _AUDIT_KEYS}
    if isinstance(clean.get("registry"), dict):
        clean["registry"] = {k: v for k, v in clean["registry"].items() if k not in _AUDIT_KEYS}
    return clean


def _lake_problems(lake: object) -> list[str]:
    if not isinstance(lake, dict):
        return []  # the model reports a missing or mistyped section
    known = {k.value for k in KIND_SPECS}
    problems = [
        f"lake.{kind}: unknown record kind; known: {', '.join(sorted(known))}"
        for kind in sorted(map(str, set(lake) - known))
    ]
    missing = sorted(known - set(lake))
    if missing:
        problems.append(f"lake: no retention stated for {', '.join(missing)}; every record kind needs one")
    return problems


def _is_reported(error: Any, problems: list[str]) -> bool:
    # An unknown lake kind is reported once, by _lake_problems, with the known kinds listed.
    loc = ".".join(str(p) for p in error["loc"])
    return any(p.startswith(f"{loc}: unknown record kind") for p in problems)


_MESSAGES = {"extra_forbidden": "extra key not allowed", "missing": "missing; every retention must be stated"}


def _where(error: Any, *, prefix: str = "") -> str:
    if prefix:
        error = {**error, "loc": (prefix, *error["loc"])}
    return where(error, messages=_MESSAGES)


def day_start(day: date) -> datetime:
    """00:00 UTC of a day."""
    return datetime.combine(day, time(), UTC)


# --- cases and the lake data they hold ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """Lake data one case keeps past normal retention: one kind, from..to inclusive."""

    case_id: str
    kind: str
    from_date: date
    to_date: date

    def covers(self, day: date, kind: str) -> bool:
        """Whether this hold keeps the (day, kind) partition."""
        return kind == self.kind and self.from_date <= day <= self.to_date


def expired_cases(policy: RetentionPolicy, as_of: date) -> ColumnElement[bool]:
    """The condition on Case of cases retention deletes: closed, and closed before the cutoff.

    Open cases are never deleted, nor a closed case without a closing time (kept, not guessed).
    """
    return cases_closed_before(policy.registry_cutoff("closed_cases", as_of))


def cases_closed_before(cutoff: datetime) -> ColumnElement[bool]:
    """The condition on Case of cases closed before an instant (never an open one)."""
    return and_(Case.status == CaseStatus.CLOSED, Case.closed_at.is_not(None), Case.closed_at < cutoff)


def closed_case_ids(cutoff: datetime) -> Select[str]:
    """The ids of cases closed before an instant: another package's rows kept with a case go then."""
    return select(Case.id).where(cases_closed_before(cutoff))


def all_case_ids() -> Select[str]:
    """The ids of every case still held (rows naming any other case outlived it)."""
    return select(Case.id)


def active_holds(session: Session, policy: RetentionPolicy, as_of: date) -> list[Hold]:
    """Holds that protect lake data: those of open cases and of closed cases still retained."""
    expired = select(Case.id).where(expired_cases(policy, as_of))
    rows = session.execute(
        select(CaseHold.case_id, CaseHold.kind, CaseHold.from_date, CaseHold.to_date).where(
            CaseHold.case_id.not_in(expired)
        )
    )
    return [Hold(c, k, date.fromisoformat(f), date.fromisoformat(t)) for c, k, f, t in rows]


@dataclass(frozen=True, slots=True)
class HeldPartition:
    """A partition past its retention, kept because cases hold it."""

    partition: PartitionInfo
    case_ids: tuple[str, ...]


def partitions_due(
    partitions: Iterable[PartitionInfo],
    policy: RetentionPolicy,
    *,
    as_of: date,
    holds: Sequence[Hold],
    accepting_since: date | None = None,
) -> tuple[list[PartitionInfo], list[HeldPartition]]:
    """Split partitions past their kind's retention into those due for deletion and those held.

    Partitions dated on or after `accepting_since` may still receive late events and are never
    due, whatever the policy says; nor are partitions of a kind the policy does not know.
    """
    due: list[PartitionInfo] = []
    held: list[HeldPartition] = []
    for partition in partitions:
        cutoff = policy.lake_cutoff(partition.kind, as_of)
        if cutoff is None or partition.date >= cutoff:
            continue
        if accepting_since is not None and partition.date >= accepting_since:
            continue
        cases = tuple(sorted({h.case_id for h in holds if h.covers(partition.date, partition.kind)}))
        if cases:
            held.append(HeldPartition(partition, cases))
        else:
            due.append(partition)
    return due, held


__all__ = [
    "AUDIT_KEPT",
    "DEFAULT_RETENTION_FILE",
    "HeldPartition",
    "Hold",
    "RetentionError",
    "RetentionPolicy",
    "active_holds",
    "day_start",
    "cases_closed_before",
    "expired_cases",
    "registry_entries",
    "load_policy",
    "parse_policy",
    "partitions_due",
]
