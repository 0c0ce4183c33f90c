"""Visitor passes: a visitor let through a compound's doors for a while, and nothing longer.

A guard, a committee worker or the community officer registers a pass for a compound of their
areas; a resident (a citizen whose account is linked to a person with an open tenancy there) for
their own flat. The pass names the visitor by the card they show; the answer repeats the name the
registrar gave, never the registry's name for that number, so a pass cannot be used to learn who
a number belongs to. A pass starts no earlier than now, ends after it starts and at most
`MAX_PASS` later; the doors of the compound follow at once (places.events), and everything is
audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.core.masking import mask_id_number
from safecity.places import cards
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import access_changed
from safecity.places.models import Building, Compound, Flat, Tenancy, VisitorPass
from safecity.places.schemas import VisitorPassIn, VisitorPassOut
from safecity.store import transaction

MAX_PASS = timedelta(days=7)
# A pass may be written a little before the clock of the server says it starts (a guard's phone
# runs a few seconds behind); earlier than that it would let someone in for time already past.
CLOCK_SLACK = timedelta(minutes=5)
MAX_LIST = 500


class Visitors:
    """The visitor-pass use cases of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        pseudonymize: registry.Pseudonymize,
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._pseudonymize = pseudonymize

    def register(self, ctx: Context, body: VisitorPassIn, *, resource: str) -> VisitorPassOut:
        """Issue a pass for a compound the caller guards, or for the caller's own flat as a resident."""
        now = self._now()
        starts = body.valid_from or now
        if starts < now - CLOCK_SLACK:
            raise PlacesError("a pass cannot start in the past", field="valid_from")
        if body.valid_until <= starts:
            raise PlacesError("valid_until must be after valid_from", field="valid_until")
        if body.valid_until - starts > MAX_PASS:
            raise PlacesError(
                f"a visitor pass lasts at most {MAX_PASS.days} days; register the person as a tenant "
                "if they stay longer",
                field="valid_until",
            )
        with transaction(self._sessions) as session:
            compound = session.get(Compound, body.compound_id)
            if compound is None:
                raise PlaceNotFound("compound", body.compound_id)
            flat_id = self._flat_of(session, ctx, compound, body.flat_id)
            person = cards.person_of(
                session,
                id_number=body.id_number,
                name=body.name,
                phone=None,
                now=now,
                pseudonymize=self._pseudonymize,
                field="id_number",
            )
            issued = VisitorPass(
                compound_id=compound.id,
                flat_id=flat_id,
                person_id=person.id,
                name=body.name,
                valid_from=starts,
                valid_until=body.valid_until,
                registered_by=ctx.actor,
                registered_at=now,
            )
            session.add(issued)
            session.flush()
            access_changed(session, compound_id=compound.id)
            out = _out(issued, person.id_number)
        self._recorder.record(
            ctx,
            AuditEntry(
                "visitors.register",
                resource,
                status=201,
                subjects=[subject("person", person.id)],
                detail={"pass": out.id, "compound": out.compound_id, "flat": out.flat_id},
            ),
        )
        return out

    def revoke(self, ctx: Context, pass_id: int, *, resource: str) -> VisitorPassOut:
        """End a pass before its time: its visitor's card stops opening the doors at once."""
        now = self._now()
        with transaction(self._sessions) as session:
            found = session.get(VisitorPass, pass_id)
            if found is None:
                raise PlaceNotFound("pass", pass_id)
            compound = session.get(Compound, found.compound_id)
            assert compound is not None  # a foreign key
            self._may_manage(session, ctx, compound, found)
            if found.revoked_at is not None:
                raise PlaceConflict(f"pass {pass_id} was revoked already", field="pass_id")
            found.revoked_at = now
            access_changed(session, compound_id=compound.id)
            person = registry.get_person(session, person_id=found.person_id)
            out = _out(found, person.id_number if person else None)
        self._recorder.record(
            ctx,
            AuditEntry(
                "visitors.revoke",
                resource,
                subjects=[subject("person", found.person_id)],
                detail={"pass": pass_id},
            ),
        )
        return out

    def passes(
        self, ctx: Context, *, compound_id: str | None = None, expired: bool = False, resource: str
    ) -> list[VisitorPassOut]:
        """Passes the caller may see (a resident: their own), newest first; the read is audited."""
        now = self._now()
        with self._sessions() as session:
            stmt = select(VisitorPass).order_by(VisitorPass.valid_from.desc()).limit(MAX_LIST)
            if not expired:
                stmt = stmt.where(VisitorPass.valid_until > now, VisitorPass.revoked_at.is_(None))
            if compound_id is not None:
                stmt = stmt.where(VisitorPass.compound_id == compound_id)
            if _resident(ctx):
                stmt = stmt.where(VisitorPass.registered_by == ctx.actor)
            elif not ctx.city_wide:
                stmt = stmt.join(Compound, Compound.id == VisitorPass.compound_id).where(
                    Compound.community_id.in_(sorted(ctx.areas))
                )
            rows = list(session.scalars(stmt))
            people = {p.id: p for p in registry.people_by_ids(session, [r.person_id for r in rows])}
            out = [_out(r, people[r.person_id].id_number if r.person_id in people else None) for r in rows]
        self._recorder.record(
            ctx,
            AuditEntry(
                "visitors.read",
                resource,
                subjects=[subject("person", r.person_id) for r in rows],
                result_count=len(out),
                purpose="visitor management",
            ),
        )
        return out

    # --- reach ----------------------------------------------------------------------------------

    @staticmethod
    def _flat_of(session: Session, ctx: Context, compound: Compound, flat_id: int | None) -> int | None:
        """The flat visited, checked against who the caller is (a resident: theirs; staff: the area)."""
        if flat_id is not None:
            flat = session.get(Flat, flat_id)
            building = session.get(Building, flat.building_id) if flat is not None else None
            if flat is None or building is None or building.compound_id != compound.id:
                raise PlacesError(f"flat {flat_id} is not in compound {compound.id}", field="flat_id")
        if not _resident(ctx):
            ctx.require_area(compound.community_id, what=f"compound {compound.id}")
            return flat_id
        homes = _homes(session, ctx, compound.id)
        if flat_id is None:
            if len(homes) != 1:
                raise AccessDenied(
                    "forbidden", f"you have no home in compound {compound.id}", field="compound_id"
                )
            return homes[0]
        if flat_id not in homes:
            raise AccessDenied("forbidden", f"flat {flat_id} is not your home", field="flat_id")
        return flat_id

    @staticmethod
    def _may_manage(session: Session, ctx: Context, compound: Compound, found: VisitorPass) -> None:
        if _resident(ctx):
            if found.registered_by != ctx.actor:
                raise AccessDenied("forbidden", "you may revoke only the passes you issued", field="pass_id")
            return
        ctx.require_area(compound.community_id, what=f"compound {compound.id}")


def _resident(ctx: Context) -> bool:
    """A citizen acts as a resident: for the flats they live in, nothing else."""
    return ctx.role == "citizen"


def _homes(session: Session, ctx: Context, compound_id: str) -> list[int]:
    """The flats of a compound where the caller's linked person holds an open tenancy."""
    if ctx.person_id is None:
        raise AccessDenied(
            "forbidden", "link your account to yourself first (/api/v1/me/person)", field="compound_id"
        )
    rows = session.scalars(
        select(Tenancy.flat_id)
        .join(Flat, Flat.id == Tenancy.flat_id)
        .join(Building, Building.id == Flat.building_id)
        .where(
            Tenancy.person_id == ctx.person_id,
            Tenancy.checked_out_at.is_(None),
            Building.compound_id == compound_id,
        )
    )
    return sorted(set(rows))


def _out(found: VisitorPass, id_number: str | None) -> VisitorPassOut:
    return VisitorPassOut(
        id=found.id,
        compound_id=found.compound_id,
        flat_id=found.flat_id,
        name=found.name,
        id_number=mask_id_number(id_number) or "",
        valid_from=found.valid_from,
        valid_until=found.valid_until,
        registered_by=found.registered_by,
        revoked_at=found.revoked_at,
    )


__all__ = ["MAX_PASS", "Visitors"]
