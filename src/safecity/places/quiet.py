"""Which of a landlord's tenants have not swiped at their compound's doors for a while.

A tenant whose card has opened none of the doors of their compound for N days has probably moved
out without being checked out (or lends the card to nobody and stays in: the landlord asks). The
swipes are read from the lake, where door_swipe subjects are keyed pseudonyms: the tenants' ID
numbers are turned into their pseudonyms under every key held (a key rotation splits nobody's
history), and one subject-indexed path read covers all of a landlord's tenants. Only swipes at
doors of the tenant's own compound count (a compound gate, or a door of one of its buildings);
tenants of compounds without a registered door cannot be judged and are not listed. The answer
says when the tenant last swiped, never where; the read is audited like the tenant list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.kinds import SubjectKind
from safecity.core.masking import mask_id_number
from safecity.lake import Lake
from safecity.places.errors import PlacesError
from safecity.places.housing import _landlord_of
from safecity.places.models import Building, Compound, Door, Flat, Tenancy
from safecity.places.visit_schemas import QuietTenantOut

MAX_QUIET_DAYS = 60
LOOKBACK = timedelta(days=60)  # how far back "last swiped" is looked for (the lake keeps swipes longer)
MAX_TENANTS = 2000  # a sub-landlord runs about 300 (the seed); room for the largest


@dataclass(frozen=True, slots=True)
class _Tenant:
    tenancy: Tenancy
    flat: Flat
    compound_id: str


class TenantSwipes:
    """The quiet-tenant question of one platform: tenancies from the registry, swipes from the lake."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        lake: Lake,
        *,
        now: Callable[[], datetime],
        pseudonyms: Callable[[str], list[str]],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._lake = lake
        self._now = now
        self._pseudonyms = pseudonyms

    def quiet(self, ctx: Context, *, days: int = 7, resource: str) -> list[QuietTenantOut]:
        """Open tenants of flats the caller lets (or reaches) with no swipe at their doors for `days`."""
        if not 1 <= days <= MAX_QUIET_DAYS:
            raise PlacesError(f"days must be 1 to {MAX_QUIET_DAYS}", field="days")
        now = self._now()
        since = now - timedelta(days=days)
        with self._sessions() as session:
            tenants = _open_tenants(session, ctx, moved_in_before=since)
            doors = _doors_by_compound(session, {t.compound_id for t in tenants})
            tenants = [t for t in tenants if doors.get(t.compound_id)]
            people = {
                p.id: p for p in registry.people_by_ids(session, [t.tenancy.person_id for t in tenants])
            }
        by_pseudonym = {
            alias: t for t in tenants for alias in self._pseudonyms(people[t.tenancy.person_id].id_number)
        }
        last = self._last_swipes(
            by_pseudonym, doors, start=now - max(LOOKBACK, timedelta(days=days)), end=now
        )
        out: list[QuietTenantOut] = []
        for t in tenants:
            seen = last.get(t.tenancy.id)
            quiet_from = max(seen, t.tenancy.starts_at) if seen is not None else t.tenancy.starts_at
            if quiet_from > since:
                continue
            person = people[t.tenancy.person_id]
            out.append(
                QuietTenantOut(
                    tenancy_id=t.tenancy.id,
                    flat_id=t.flat.id,
                    flat_number=t.flat.number,
                    # As the registrar gave it, like the tenant list (older tenancies kept none).
                    name=t.tenancy.name or person.name,
                    id_number=mask_id_number(person.id_number) or "",
                    starts_at=t.tenancy.starts_at,
                    last_swipe_at=seen,
                    quiet_days=(now - quiet_from).days,
                )
            )
        out.sort(key=lambda q: (-q.quiet_days, q.flat_number, q.tenancy_id))
        self._recorder.record(
            ctx,
            AuditEntry(
                "tenants.quiet",
                resource,
                subjects=[subject("person", people[t.tenancy.person_id].id) for t in tenants],
                result_count=len(out),
                purpose="tenancy management",
                detail={"days": days, "judged": len(tenants)},
            ),
        )
        return out

    def _last_swipes(
        self,
        by_pseudonym: dict[str, _Tenant],
        doors: dict[str, set[str]],
        *,
        start: datetime,
        end: datetime,
    ) -> dict[int, datetime]:
        """The last swipe of each tenancy's card at a door of its compound, by tenancy id."""
        if not by_pseudonym:
            return {}
        swipes = self._lake.path(
            subject_kind=SubjectKind.ID_CARD.value, subject=sorted(by_pseudonym), start=start, end=end
        )
        if swipes.is_empty():
            return {}
        latest = (
            swipes.lazy()
            .filter(pl.col("kind") == "door_swipe")
            .group_by("subject", "device")
            .agg(pl.col("ts").max())
            .collect()
        )
        last: dict[int, datetime] = {}
        for alias, device, ts in latest.iter_rows():
            tenant = by_pseudonym[alias]
            if device in doors.get(tenant.compound_id, ()):
                key = tenant.tenancy.id
                last[key] = max(ts, last[key]) if key in last else ts
        return last


def _open_tenants(session: Session, ctx: Context, *, moved_in_before: datetime) -> list[_Tenant]:
    """Open tenancies the caller may see that began before the window (newer tenants are not quiet yet)."""
    stmt = (
        select(Tenancy, Flat, Building.compound_id)
        .join(Flat, Tenancy.flat_id == Flat.id)
        .join(Building, Flat.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Tenancy.checked_out_at.is_(None), Tenancy.starts_at <= moved_in_before)
        .order_by(Flat.id, Tenancy.id)
        .limit(MAX_TENANTS)
    )
    landlord = _landlord_of(session, ctx)
    if landlord is not None:
        stmt = stmt.where(Flat.landlord_id == landlord)
    elif not ctx.city_wide:
        stmt = stmt.where(Compound.community_id.in_(sorted(ctx.areas)))
    return [_Tenant(t, f, str(c)) for t, f, c in session.execute(stmt)]


def _doors_by_compound(session: Session, compound_ids: set[str]) -> dict[str, set[str]]:
    """The door controllers of each compound: its gates and its buildings' doors."""
    if not compound_ids:
        return {}
    of_compound = func.coalesce(Door.compound_id, Building.compound_id)
    rows = session.execute(
        select(Door.device_id, of_compound)
        .outerjoin(Building, Door.building_id == Building.id)
        .where(of_compound.in_(sorted(compound_ids)))
    )
    doors: dict[str, set[str]] = {}
    for device_id, compound_id in rows:
        doors.setdefault(str(compound_id), set()).add(str(device_id))
    return doors


__all__ = ["MAX_QUIET_DAYS", "TenantSwipes"]
