"""Importing the city's vehicle registry (机动车登记): a vehicle office's CSV export, all or nothing.

One row per plate: `plate`, `plate_colour`, `vehicle_type`, `body_colour`, `registered_at`
(required), `make_model`, `owner_id` (a registry person's id), `status` (default registered).
The whole file is checked first and refused with every problem by line and field (the header
is line 1); then each plate's row is created or replaced by plate (a replaced plate keeps its
id, which warnings refer to), or, with `replace`, the whole registry is swapped for the file.
Rows go straight to the driver (`store.bulk.insert_frame`) as the other registries' bulk loads
do: a city holds millions of vehicles. Commit announces `RegistryChanged("vehicle_registry")`,
so the rules' in-memory copy (`vehicle_facts.py`) reloads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.errors import AccessDenied, DomainError
from safecity.core.ids import is_valid_plate, normalise_plate
from safecity.registry.events import changed
from safecity.security import Security
from safecity.store import transaction
from safecity.store.bulk import advance_sequences, among, chunked, insert_frame, large_cache
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_models import RegistrationStatus, VehicleRegistration
from safecity.workbench.vehicle_vocabulary import canonical

REQUIRED = ("plate", "plate_colour", "vehicle_type", "body_colour", "registered_at")
OPTIONAL = ("make_model", "owner_id", "status")
COLUMNS = REQUIRED + OPTIONAL
MAX_ROWS = 10_000_000
MAX_PROBLEMS = 20  # named in one refusal; the rest are counted
MAX_MAKE_MODEL = 64
_TABLE = "vehicle_registrations"
_FRAME_SCHEMA: dict[str, Any] = {
    "plate": pl.String,
    "plate_colour": pl.String,
    "vehicle_type": pl.String,
    "body_colour": pl.String,
    "make_model": pl.String,
    "owner_id": pl.Int64,
    "status": pl.String,
    "registered_at": pl.Datetime("us", "UTC"),
}
_VOCABULARY_FIELDS = {
    "plate_colour": "plate_colour",
    "vehicle_type": "vehicle_type",
    "body_colour": "vehicle_colour",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file: where (line, column) and what to change."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


class RegistrationsRefused(DomainError):
    """The file was not imported; `problems` says every problem by line and field."""

    code = "registrations_refused"

    def __init__(self, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(
            f"{len(problems)} problem(s), nothing imported: {shown}{more}",
            field=f"line {problems[0].line}: {problems[0].field}",
        )
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did."""

    created: int
    updated: int
    removed: int  # registrations the file did not hold, when it replaced the registry


def parse_csv(text: str, *, owners_exist: Callable[[list[int]], set[int]] | None = None) -> pl.DataFrame:
    """The registrations of a CSV text (with a header), or RegistrationsRefused naming every problem."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    problems = [Problem(1, h or f"column {i + 1}", f"unknown column; the columns are {', '.join(COLUMNS)}")
                for i, h in enumerate(header) if h not in COLUMNS]  # fmt: skip
    problems += [Problem(1, c, "missing column") for c in REQUIRED if c not in header]
    if problems:
        raise RegistrationsRefused(problems)
    width: list[Problem] = []

    def rows() -> Iterator[dict[str, str]]:
        for line, values in enumerate(reader, start=2):
            if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
                # A comma in an unquoted make_model shifts every value after it.
                width.append(Problem(line, "row", f"{len(values)} values, the header names {len(header)}"))
                yield {}
                continue
            yield dict(zip(header, values, strict=False))

    return parse_rows(rows(), owners_exist=owners_exist, problems=width)


def parse_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    first_line: int = 2,
    owners_exist: Callable[[list[int]], set[int]] | None = None,
    problems: list[Problem] | None = None,
) -> pl.DataFrame:
    """Registrations checked and normalised (columns of `_FRAME_SCHEMA`), or every problem by line
    (with `problems` found before, which the list is filled with as rows are read)."""
    problems = [] if problems is None else problems
    parsed: list[dict[str, Any]] = []
    lines: dict[str, int] = {}
    owner_lines: dict[int, list[int]] = {}
    for line, row in enumerate(rows, start=first_line):
        if len(parsed) >= MAX_ROWS:
            problems.append(Problem(line, "plate", f"a file holds at most {MAX_ROWS:,} registrations"))
            break
        if not any(str(v or "").strip() for v in row.values()):
            continue  # a blank line
        found = _row(row, line, problems)
        if found is None:
            continue
        if found["plate"] in lines:
            problems.append(
                Problem(line, "plate", f"{found['plate']} is also on line {lines[found['plate']]}")
            )
            continue
        lines[found["plate"]] = line
        if found["owner_id"] is not None:
            owner_lines.setdefault(found["owner_id"], []).append(line)
        parsed.append(found)
    if owners_exist is not None and owner_lines:
        known = owners_exist(sorted(owner_lines))
        for owner in sorted(set(owner_lines) - known):
            problems += [
                Problem(n, "owner_id", f"there is no person {owner} in the registry")
                for n in owner_lines[owner]
            ]
    if problems:
        raise RegistrationsRefused(sorted(problems, key=lambda p: p.line))
    return pl.DataFrame(parsed, schema=_FRAME_SCHEMA, orient="row")


def _row(row: Mapping[str, Any], line: int, problems: list[Problem]) -> dict[str, Any] | None:
    """One row checked; its problems appended (None when it has any)."""
    before = len(problems)
    text = {k: str(row.get(k) or "").strip() for k in COLUMNS}
    plate = normalise_plate(text["plate"])
    if not is_valid_plate(plate):
        problems.append(Problem(line, "plate", f"{text['plate']!r} is not a GA 36 plate such as 浙C12345"))
    values: dict[str, Any] = {"plate": plate}
    for column, field in _VOCABULARY_FIELDS.items():
        word = canonical(field, text[column])  # type: ignore[arg-type]
        if word is None:
            problems.append(
                Problem(
                    line, column, f"{text[column]!r} is not a {column.replace('_', ' ')} this registry knows"
                )
            )
        values[column] = word
    values["make_model"] = text["make_model"]
    if len(text["make_model"]) > MAX_MAKE_MODEL:
        problems.append(Problem(line, "make_model", f"at most {MAX_MAKE_MODEL} characters"))
    values["owner_id"] = None
    if text["owner_id"]:
        if text["owner_id"].isdigit() and 0 < int(text["owner_id"]) < 2**63:
            values["owner_id"] = int(text["owner_id"])
        else:
            problems.append(Problem(line, "owner_id", "a registry person's id (a whole number), or empty"))
    status = text["status"].lower() or RegistrationStatus.REGISTERED.value
    if status not in {s.value for s in RegistrationStatus}:
        problems.append(Problem(line, "status", f"one of {', '.join(s.value for s in RegistrationStatus)}"))
    values["status"] = status
    values["registered_at"] = _when(text["registered_at"], line, problems)
    return values if len(problems) == before else None


def _when(text: str, line: int, problems: list[Problem]) -> datetime | None:
    """A date (taken as midnight UTC) or a time with its UTC offset; a time without one is refused."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        problems.append(
            Problem(line, "registered_at", f"{text!r} is not a date (2024-03-05) or a time with its offset")
        )
        return None
    if len(text) == 10:  # a date alone
        return when.replace(tzinfo=UTC)
    if when.tzinfo is None:
        problems.append(
            Problem(line, "registered_at", "give the time's UTC offset (+08:00), or a date alone")
        )
        return None
    return when.astimezone(UTC)


def store_registrations(session: Session, rows: pl.DataFrame, *, replace: bool) -> ImportReport:
    """Create or replace each row's registration by plate (or swap the whole registry) in `session`."""
    table: Table = VehicleRegistration.__table__  # type: ignore[assignment]
    plates = rows["plate"].to_list()
    known: dict[str, int] = {}
    if replace:
        known = {str(p): int(i) for p, i in session.execute(select(table.c.plate, table.c.id))}
        session.execute(delete(table))
    else:
        for chunk in chunked(plates):
            found = session.execute(select(table.c.plate, table.c.id).where(among(table.c.plate, chunk)))
            known.update({str(p): int(i) for p, i in found})
        for chunk in chunked(sorted(known)):
            session.execute(delete(table).where(among(table.c.plate, chunk)))
    start = int(session.scalar(select(func.max(table.c.id))) or 0) + 1
    with large_cache(session):
        ids = pl.Series("id", [known.get(p) for p in plates], dtype=pl.Int64)
        fresh = ids.is_null()
        ids = ids.scatter(fresh.arg_true(), pl.int_range(start, start + int(fresh.sum()), eager=True))
        insert_frame(session, _TABLE, rows.with_columns(ids).select(["id", *_FRAME_SCHEMA]))
    advance_sequences(session, (_TABLE,))
    changed(session, VEHICLE_REGISTRY)
    updated = len(plates) - int(fresh.sum())
    return ImportReport(
        created=int(fresh.sum()), updated=updated, removed=len(known) - updated if replace else 0
    )


class VehicleRegistry:
    """The city's vehicle registry: bulk imports, each audited."""

    def __init__(self, session_factory: sessionmaker[Session], security: Security) -> None:
        self._sessions = session_factory
        self._security = security

    @classmethod
    def build(cls, platform: Any) -> VehicleRegistry:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        return cls(platform.session_factory, platform.security)

    def import_csv(self, ctx: Context, text: str, *, replace: bool = False, resource: str) -> ImportReport:
        """Import a CSV export (all or nothing): every problem is named by line and field."""
        self._require(ctx)
        return self._store(ctx, parse_csv(text, owners_exist=self._owners_exist), replace, resource)

    def import_rows(
        self, ctx: Context, rows: Iterable[Mapping[str, Any]], *, replace: bool = False, resource: str
    ) -> ImportReport:
        """Import rows given as mappings of the CSV's columns (the demo city's registrations)."""
        self._require(ctx)
        return self._store(ctx, parse_rows(rows, owners_exist=self._owners_exist), replace, resource)

    def count(self) -> int:
        """How many registrations the registry holds."""
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(VehicleRegistration.__table__)) or 0)

    def _store(self, ctx: Context, rows: pl.DataFrame, replace: bool, resource: str) -> ImportReport:
        with transaction(self._sessions) as session:
            report = store_registrations(session, rows, replace=replace)
        self._security.record(
            ctx,
            AuditEntry(
                "vehicle_registry.import",
                resource,
                result_count=report.created + report.updated,
                detail={
                    "created": report.created,
                    "updated": report.updated,
                    "removed": report.removed,
                    "replace": replace,
                },
            ),
        )
        return report

    def _owners_exist(self, owner_ids: list[int]) -> set[int]:
        with self._sessions() as session:
            return {
                p.id for chunk in chunked(owner_ids) for p in registry.people_by_ids(session, list(chunk))
            }

    @staticmethod
    def _require(ctx: Context) -> None:
        if not ctx.city_wide:
            raise AccessDenied("forbidden", "only a city-wide account imports the city's vehicle registry")


__all__ = [
    "COLUMNS",
    "ImportReport",
    "Problem",
    "RegistrationsRefused",
    "VehicleRegistry",
    "parse_csv",
    "parse_rows",
    "store_registrations",
]
