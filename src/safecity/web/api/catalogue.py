"""The data catalogue over HTTP: every source in the pool, its taxonomy, figures and freshness."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need
from safecity.web.deps import PlatformDep
from safecity.workbench.catalogue import Catalogue, Source

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


class SourceOut(BaseModel):
    """One source of the pool (no records, only what and how much)."""

    id: str = Field(
        description='"records:<kind>" for a lake record kind, "table:<name>" for a registry table'
    )
    kind: str = Field(description="records or table")
    name: str
    category: str
    category_name: str
    subcategory: str
    subcategory_name: str
    owner: str = Field(description="the department answerable for the source")
    sensitivity: str = Field(
        description="public, internal, personal, restricted, or unknown when not described"
    )
    description: str
    columns: list[list[str]] = Field(description="[name, type] of each column")
    retention_days: int | None = Field(description="days the lake keeps it (record kinds)")
    records: int
    last_record: datetime | None
    expected_every_minutes: float | None
    described: bool
    status: str = Field(
        description="fresh; stale (no record for longer than expected: it stopped arriving); empty; "
        "not_described (it registered itself: describe it in the catalogue file); registry"
    )


def source_out(source: Source) -> SourceOut:
    return SourceOut(
        id=source.id,
        kind=source.kind,
        name=source.name,
        category=source.category,
        category_name=source.category_name,
        subcategory=source.subcategory,
        subcategory_name=source.subcategory_name,
        owner=source.owner,
        sensitivity=source.sensitivity,
        description=source.description,
        columns=[list(c) for c in source.schema],
        retention_days=source.retention_days,
        records=source.records,
        last_record=source.last_record,
        expected_every_minutes=source.expected_every_minutes,
        described=source.described,
        status=source.status,
    )


@router.get("/catalogue", response_model=list[SourceOut], summary="The data catalogue")
def catalogue(platform: PlatformDep, who: Principal = need(P.CATALOGUE_READ)) -> list[SourceOut]:
    """Every record kind of the lake and table of the registry, by category, with figures."""
    return [source_out(s) for s in platform.service(Catalogue).sources()]


__all__ = ["router"]
