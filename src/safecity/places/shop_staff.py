"""Shop staff as use cases: the owner (or an officer of the shop's area) adds and removes employees.

A staff member is a person whose card opens the shop's doors, from being added until removed (or
until the end date given, which the door controllers enforce themselves). They are resolved in the
registry exactly as a tenant is (places/cards.py: the number checked, the person found or created,
the name as given kept on the entry, never the registry's name for the number). Adding or removing
one announces AccessChanged for the shop, so its doors' whitelists follow within seconds
(places/sync.py), and RegistryChanged "places", so the breach rule's facts name the card's holder.

Staff have no account: arming and disarming stay with the owner and the officers
(docs/decisions/0007-shop-staff-are-door-cards.md). Every change and every read is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.masking import mask_id_number
from safecity.places import cards
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import access_changed
from safecity.places.models import ShopStaff
from safecity.places.shop_schemas import StaffIn, StaffOut
from safecity.places.shops import shop_for
from safecity.store import transaction
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry

MAX_LIST = 500


class ShopStaffRoster:
    """The shop-staff use cases of one platform."""

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

    def add(self, ctx: Context, shop_id: int, body: StaffIn, *, resource: str) -> StaffOut:
        """Add a staff member to a shop the caller owns (or reaches); their card opens its doors at once."""
        now = self._now()
        with transaction(self._sessions) as session:
            shop = shop_for(session, ctx, shop_id)
            if body.until is not None and body.until <= now:
                raise PlacesError("until must be in the future", field="until")
            cards.check_card(body.card)
            person = cards.person_of(
                session,
                id_number=body.card.id_number,
                name=body.card.name,
                phone=None,
                now=now,
                pseudonymize=self._pseudonymize,
                field="card.id_number",
            )
            if person.id == shop.owner_person_id:
                raise PlaceConflict(
                    "this is the shop's owner: their card opens its doors already", field="card.id_number"
                )
            same = (ShopStaff.shop_id == shop.id, ShopStaff.person_id == person.id)
            if session.scalar(select(ShopStaff.id).where(*same, *_in_force(now))) is not None:
                raise PlaceConflict("this person is on the shop's staff already", field="card.id_number")
            row = ShopStaff(
                shop_id=shop.id,
                person_id=person.id,
                name=body.card.name,
                added_by=ctx.actor,
                added_at=now,
                until=body.until,
            )
            session.add(row)
            session.flush()
            access_changed(session, shop_id=shop.id)
            out = _out(row, person.id_number)
            detail: dict[str, Any] = {
                "shop": shop.id,
                "staff": row.id,
                "via": body.via,
                # A number the registry knows under another name: kept for the officer to check (as tenants').
                "name_matches": cards.same_name(person.name, body.card.name),
            }
        self._recorder.record(
            ctx,
            AuditEntry(
                "shops.staff_add",
                resource,
                status=201,
                subjects=[subject("person", person.id)],
                detail=detail,
            ),
        )
        return out

    def remove(self, ctx: Context, shop_id: int, staff_id: int, *, resource: str) -> StaffOut:
        """Take a staff member off a shop: their card stops opening its doors at once."""
        now = self._now()
        with transaction(self._sessions) as session:
            shop = shop_for(session, ctx, shop_id)
            row = session.get(ShopStaff, staff_id)
            if row is None or row.shop_id != shop.id:
                raise PlaceNotFound("staff", staff_id)
            if row.removed_at is not None:
                raise PlaceConflict(f"staff member {staff_id} was removed already", field="staff_id")
            row.removed_at, row.removed_by = now, ctx.actor
            access_changed(session, shop_id=shop.id)
            out = _out(row, _number(session, row.person_id))
            person_id = row.person_id
        self._recorder.record(
            ctx,
            AuditEntry(
                "shops.staff_remove",
                resource,
                subjects=[subject("person", person_id)],
                detail={"shop": shop_id, "staff": staff_id},
            ),
        )
        return out

    def staff(self, ctx: Context, shop_id: int, *, ended: bool = False, resource: str) -> list[StaffOut]:
        """The staff of a shop the caller owns (or reaches), numbers masked; the read is audited."""
        now = self._now()
        with self._sessions() as session:
            shop_for(session, ctx, shop_id)
            stmt = select(ShopStaff).where(ShopStaff.shop_id == shop_id)
            if not ended:
                stmt = stmt.where(*_in_force(now))
            stmt = stmt.order_by(ShopStaff.added_at, ShopStaff.id)
            rows = list(session.scalars(stmt.limit(MAX_LIST)))
            people = {p.id: p for p in registry.people_by_ids(session, [r.person_id for r in rows])}
            out = [_out(r, people[r.person_id].id_number) for r in rows]
            named = [subject("person", r.person_id) for r in rows]
        self._recorder.record(
            ctx,
            AuditEntry(
                "shops.staff_read",
                resource,
                subjects=named,
                result_count=len(out),
                purpose="shop staff management",
                detail={"shop": shop_id},
            ),
        )
        return out


def _in_force(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Conditions of a staff entry in force at `now`: not removed, and not past its end."""
    return (ShopStaff.removed_at.is_(None), or_(ShopStaff.until.is_(None), ShopStaff.until > now))


def _number(session: Session, person_id: int) -> str:
    person = registry.get_person(session, person_id=person_id)
    return person.id_number if person is not None else ""


def _out(row: ShopStaff, id_number: str) -> StaffOut:
    return StaffOut(
        id=row.id,
        shop_id=row.shop_id,
        name=row.name,
        id_number=mask_id_number(id_number) or "",
        added_by=row.added_by,
        added_at=row.added_at,
        until=row.until,
        removed_at=row.removed_at,
    )


def _ended_staff(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("ended_shop_staff")
    ended = or_(ShopStaff.removed_at < before, ShopStaff.until < before)
    return [Purgeable("shop_staff", ShopStaff, ended)]


ENDED_SHOP_STAFF = RetentionEntry(
    name="ended_shop_staff",
    description="Shop staff removed (or past their end date), counted from then.",
    tables=("shop_staff",),
    due=_ended_staff,
)


def build_staff(platform: Any) -> ShopStaffRoster:
    """The shop-staff use cases on a platform's parts (core.capabilities.Service)."""
    return ShopStaffRoster(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        pseudonymize=platform.pseudonyms.pseudonym,
    )


__all__ = ["ENDED_SHOP_STAFF", "ShopStaffRoster", "build_staff"]
