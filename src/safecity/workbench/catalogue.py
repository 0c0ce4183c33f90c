"""The data catalogue: every source in the pool described once, with its figures and freshness.

A source is a record kind of the lake or a table of the registry. Both are found, not listed:
every kind the platform accepts or the lake holds and every table of the registry's schema is a
source, so a new kind or a capability's new table registers itself (shown as not described until
an operator describes it). The taxonomy (category and sub-category), owner, sensitivity and the
cadence a source is expected at come from the packaged `catalogue.yaml`, which the operator's
file (`SAFECITY_CATALOGUE_FILE`) extends. Figures (records, the time of the last one) are read
from the lake's partitions and the registry's tables, at most once a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.configfile import in_force
from safecity.core.errors import DomainError
from safecity.core.kinds import KIND_SPECS, spec_for
from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake
from safecity.store import Base

PACKAGED = Path(__file__).with_name("catalogue.yaml")
REFRESH_S = 60.0
# A table's "last record": the first of these time columns it has.
TIME_COLUMNS = ("created_at", "registered_at", "reported_at", "opened_at", "recorded_at", "at", "received_at")


class CatalogueError(DomainError):
    """The catalogue file is wrong."""

    code = "catalogue_invalid"
    status = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryIn(_Strict):
    name: str
    subcategories: dict[str, str] = Field(default_factory=dict)


class SourceIn(_Strict):
    category: str
    subcategory: str
    owner: str = ""
    sensitivity: str = Field("internal", pattern="^(public|internal|personal|restricted)$")
    description: str = ""
    expected_every_minutes: float | None = Field(None, gt=0)


class CatalogueFile(_Strict):
    version: int = 1
    categories: dict[str, CategoryIn] = Field(default_factory=dict)
    sources: dict[str, SourceIn] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Source:
    """One source of the pool as the catalogue shows it."""

    id: str  # "records:rfid_read", "table:people"
    kind: str  # records, table
    name: str
    category: str
    category_name: str
    subcategory: str
    subcategory_name: str
    owner: str
    sensitivity: str
    description: str
    schema: list[tuple[str, str]]
    retention_days: int | None
    records: int
    last_record: datetime | None
    expected_every_minutes: float | None
    described: bool
    status: str  # fresh, stale (stopped arriving), empty, not_described, registry


def load_taxonomy(operator_file: Path | None) -> CatalogueFile:
    """The packaged taxonomy extended by the operator's file (its categories and sources win)."""
    files = [PACKAGED] + ([operator_file] if operator_file is not None else [])
    categories: dict[str, CategoryIn] = {}
    sources: dict[str, SourceIn] = {}
    for path in files:
        try:
            parsed = CatalogueFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise CatalogueError(f"catalogue file {path} is not valid: {exc}") from exc
        for key, category in parsed.categories.items():
            merged = {
                **(categories[key].subcategories if key in categories else {}),
                **category.subcategories,
            }
            categories[key] = CategoryIn(name=category.name, subcategories=merged)
        sources.update(parsed.sources)
    for key, source in sources.items():
        taxon = categories.get(source.category)
        if taxon is None or source.subcategory not in taxon.subcategories:
            raise CatalogueError(
                f"catalogue source {key!r} names {source.category}/{source.subcategory}, "
                "which is not in the taxonomy"
            )
    return CatalogueFile(categories=categories, sources=sources)


class Catalogue:
    """The sources of one platform, their figures refreshed at most every REFRESH_S."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        lake: Lake,
        *,
        taxonomy: CatalogueFile,
        lake_retention: dict[str, int],
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = session_factory
        self._lake = lake
        self.taxonomy = taxonomy
        self._retention = lake_retention
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Source]] | None = None

    @classmethod
    def build(cls, platform: Any) -> Catalogue:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        from safecity.security.retention import DEFAULT_RETENTION_FILE, load_policy
        from safecity.security.settings import SecuritySettings
        from safecity.workbench.settings import WorkbenchSettings

        settings = platform.settings
        policy_file = in_force(
            settings.section(SecuritySettings).retention_file,
            settings.data_dir / "retention.yaml",
            DEFAULT_RETENTION_FILE,
        )
        retention = dict(load_policy(policy_file).lake)
        taxonomy = load_taxonomy(settings.section(WorkbenchSettings).catalogue_file)
        return cls(
            platform.session_factory,
            platform.lake,
            taxonomy=taxonomy,
            lake_retention=retention,
            now=platform.clock.now,
        )

    def sources(self) -> list[Source]:
        """Every source: those not described first, then by the taxonomy's categories and sub-categories."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < REFRESH_S:
                return self._cached[1]
            # Sources waiting to be described first, then the taxonomy's own order.
            order = {c: i for i, c in enumerate(self.taxonomy.categories)}
            subs = {
                (c, sub): i
                for c, taxon in self.taxonomy.categories.items()
                for i, sub in enumerate(taxon.subcategories)
            }
            found = sorted(
                self._record_sources() + self._table_sources(),
                key=lambda s: (
                    order.get(s.category, -1),
                    subs.get((s.category, s.subcategory), -1),
                    s.kind,
                    s.name,
                ),
            )
            self._cached = (time.monotonic(), found)
            return found

    def _record_sources(self) -> list[Source]:
        partitions = self._lake.partitions()
        rows: dict[str, int] = {}
        newest: dict[str, Any] = {}
        for p in partitions:
            rows[p.kind] = rows.get(p.kind, 0) + p.rows
            newest[p.kind] = max(newest.get(p.kind, p.date), p.date)
        kinds = sorted({spec.kind.value for spec in KIND_SPECS.values()} | set(rows))
        schema = [(name, str(dtype)) for name, dtype in RECORD_SCHEMA.items()]
        now = self._now()
        out = []
        for kind in kinds:
            last = self._last_record(kind, newest[kind]) if kind in newest else None
            spec = spec_for(kind)
            out.append(
                self._source(
                    f"records:{kind}",
                    "records",
                    kind,
                    self.taxonomy.sources.get(kind),
                    description=spec.description if spec is not None else "",
                    schema=schema,
                    retention_days=self._retention.get(kind),
                    records=rows.get(kind, 0),
                    last=last,
                    now=now,
                )
            )
        return out

    def _last_record(self, kind: str, day: Any) -> datetime | None:
        start = datetime.combine(day, datetime.min.time()).replace(tzinfo=self._now().tzinfo)
        try:
            frame = self._lake.scan(start=start, end=start + timedelta(days=1), kinds=[kind])
            value = frame.select(pl.col("ts").max()).collect().item()
        except FileNotFoundError:  # compacted away between listing and reading: next refresh
            return None
        return value if isinstance(value, datetime) else None

    def _table_sources(self) -> list[Source]:
        out = []
        now = self._now()
        prefixes = [
            (k.removeprefix("table:"), v) for k, v in self.taxonomy.sources.items() if k.startswith("table:")
        ]
        with self._sessions() as session:
            for name, table in sorted(Base.metadata.tables.items()):
                described = next((v for prefix, v in prefixes if name.startswith(prefix)), None)
                out.append(
                    self._source(
                        f"table:{name}",
                        "table",
                        name,
                        described,
                        description=(table.comment or ""),
                        schema=[(c.name, str(c.type)) for c in table.columns],
                        retention_days=None,
                        records=int(session.scalar(select(func.count()).select_from(table)) or 0),
                        last=_table_last(session, table),
                        now=now,
                    )
                )
        return out

    def _source(
        self,
        source_id: str,
        kind: str,
        name: str,
        described: SourceIn | None,
        *,
        description: str,
        schema: list[tuple[str, str]],
        retention_days: int | None,
        records: int,
        last: datetime | None,
        now: datetime,
    ) -> Source:
        if described is None:
            status = "not_described"
            category, subcategory = "undescribed", "undescribed"
            category_name, subcategory_name = "Not described yet 未编目", "—"
        else:
            category, subcategory = described.category, described.subcategory
            taxon = self.taxonomy.categories[category]
            category_name, subcategory_name = taxon.name, taxon.subcategories[subcategory]
            expected = described.expected_every_minutes
            if kind == "table":
                status = "registry"
            elif last is None:
                status = "empty"
            elif expected is not None and now - last > timedelta(minutes=expected):
                status = "stale"
            else:
                status = "fresh"
        return Source(
            id=source_id,
            kind=kind,
            name=name,
            category=category,
            category_name=category_name,
            subcategory=subcategory,
            subcategory_name=subcategory_name,
            owner=described.owner if described else "",
            sensitivity=described.sensitivity if described else "unknown",
            description=(described.description if described and described.description else description),
            schema=schema,
            retention_days=retention_days,
            records=records,
            last_record=last,
            expected_every_minutes=described.expected_every_minutes if described else None,
            described=described is not None,
            status=status,
        )


def _table_last(session: Session, table: Table) -> datetime | None:
    column = next((table.c[name] for name in TIME_COLUMNS if name in table.c), None)
    if column is None:
        return None
    value = session.scalar(select(func.max(column)))
    return value if isinstance(value, datetime) else None


__all__ = ["Catalogue", "CatalogueError", "Source", "load_taxonomy"]
