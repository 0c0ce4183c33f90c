"""Rental housing as use cases: register places and landlords, register and check out tenants.

A landlord acts on the flats they let and nothing else; a community officer (or an
administrator) on the places of their areas. A tenant is registered from what an identity-card
reader returns (or typed), checked before anything is stored; what is unusual but allowed (the
tenant holds another open tenancy, the flat goes over its capacity) is told to the registrar
and raised as a warning for the community officer, never silently accepted or refused.
Everything is audited, and a change of who lives where tells the doors (places.events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.core.finding import Finding
from safecity.core.masking import mask_id_number
from safecity.places import cards
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import access_changed, places_changed
from safecity.places.models import Building, Compound, Flat, Landlord, Tenancy
from safecity.places.schemas import (
    BuildingIn,
    BuildingOut,
    CheckOutIn,
    CompoundIn,
    CompoundOut,
    FlatIn,
    FlatOut,
    LandlordIn,
    LandlordOut,
    RegisteredOut,
    TenantIn,
    TenantOut,
)
from safecity.places.warnings import registration_findings
from safecity.security import accounts
from safecity.store import transaction

if TYPE_CHECKING:
    from safecity.registry.models import Person

MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class FlatPlace:
    """A flat with where it is: what reach and warnings are decided on."""

    flat: Flat
    building: Building
    compound: Compound


class Places:
    """The housing use cases of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        pseudonymize: registry.Pseudonymize,
        raise_findings: Callable[[list[Finding]], None],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._pseudonymize = pseudonymize
        self._raise = raise_findings

    # --- places ---------------------------------------------------------------------------------

    def add_compound(self, ctx: Context, body: CompoundIn, *, resource: str) -> CompoundOut:
        """Register a compound in a community the caller reaches."""
        ctx.require_area(body.community_id, what=f"community {body.community_id}")
        with transaction(self._sessions) as session:
            if registry.get_area(session, area_id=body.community_id) is None:
                raise PlacesError(f"there is no area {body.community_id!r}", field="community_id")
            if session.get(Compound, body.id) is not None:
                raise PlaceConflict(f"compound {body.id} is registered already", field="id")
            compound = Compound(**body.model_dump())
            session.add(compound)
            session.flush()
            places_changed(session)
            out = CompoundOut.model_validate(compound, from_attributes=True)
        self._recorder.record(
            ctx, AuditEntry("places.compound_add", resource, status=201, detail={"compound": out.id})
        )
        return out

    def add_building(self, ctx: Context, body: BuildingIn, *, resource: str) -> BuildingOut:
        """Register a building of a compound the caller reaches."""
        with transaction(self._sessions) as session:
            compound = self._compound(session, ctx, body.compound_id)
            if session.get(Building, body.id) is not None:
                raise PlaceConflict(f"building {body.id} is registered already", field="id")
            building = Building(**body.model_dump())
            session.add(building)
            session.flush()
            places_changed(session)
            out = BuildingOut.model_validate(building, from_attributes=True)
        detail = {"building": out.id, "compound": compound.id}
        self._recorder.record(ctx, AuditEntry("places.building_add", resource, status=201, detail=detail))
        return out

    def add_flat(self, ctx: Context, body: FlatIn, *, resource: str) -> FlatOut:
        """Register a flat of a building the caller reaches."""
        with transaction(self._sessions) as session:
            building = session.get(Building, body.building_id)
            if building is None:
                raise PlaceNotFound("building", body.building_id)
            compound = self._compound(session, ctx, building.compound_id)
            if body.landlord_id is not None and session.get(Landlord, body.landlord_id) is None:
                raise PlaceNotFound("landlord", body.landlord_id)
            taken = session.scalar(
                select(Flat.id).where(Flat.building_id == building.id, Flat.number == body.number)
            )
            if taken is not None:
                raise PlaceConflict(
                    f"flat {body.number} of building {building.id} exists already", field="number"
                )
            flat = Flat(**body.model_dump())
            session.add(flat)
            session.flush()
            places_changed(session)
            out = _flat_out(FlatPlace(flat, building, compound), tenants=0)
        self._recorder.record(
            ctx, AuditEntry("places.flat_add", resource, status=201, detail={"flat": out.id})
        )
        return out

    def add_landlord(self, ctx: Context, body: LandlordIn, *, resource: str) -> LandlordOut:
        """Register a landlord (a person) and, if given, the landlord account that acts for them."""
        if not ctx.city_wide and not ctx.areas:
            raise AccessDenied("forbidden", "registering landlords needs an account with areas")
        with transaction(self._sessions) as session:
            account_id = None
            if body.account is not None:
                account = accounts.find_account(session, body.account)
                if account.role != "landlord":
                    raise PlacesError(f"account {body.account} is not a landlord's account", field="account")
                account_id = account.id
            person = cards.person_of(
                session,
                id_number=body.id_number,
                name=body.name,
                phone=body.phone,
                now=self._now(),
                pseudonymize=self._pseudonymize,
                field="id_number",
            )
            if session.scalar(select(Landlord.id).where(Landlord.person_id == person.id)) is not None:
                raise PlaceConflict("this person is registered as a landlord already", field="id_number")
            landlord = Landlord(
                person_id=person.id,
                account_id=account_id,
                kind=body.kind,
                registered_at=self._now(),
                registered_by=ctx.actor,
            )
            session.add(landlord)
            session.flush()
            places_changed(session)
            out = LandlordOut(id=landlord.id, name=person.name, kind=landlord.kind, account=body.account)
            named = [subject("person", person.id)]
        self._recorder.record(ctx, AuditEntry("places.landlord_add", resource, status=201, subjects=named))
        return out

    def compounds(
        self, ctx: Context, *, community_id: str | None = None, limit: int = 500
    ) -> list[CompoundOut]:
        """Compounds of the caller's areas (of one community, if given), by id."""
        stmt = select(Compound).order_by(Compound.id).limit(min(limit, MAX_LIST))
        if community_id is not None:
            ctx.require_area(community_id, what=f"community {community_id}")
            stmt = stmt.where(Compound.community_id == community_id)
        if not ctx.city_wide:
            stmt = stmt.where(Compound.community_id.in_(sorted(ctx.areas)))
        with self._sessions() as session:
            return [CompoundOut.model_validate(c, from_attributes=True) for c in session.scalars(stmt)]

    def flats(self, ctx: Context, *, compound_id: str | None = None, limit: int = 200) -> list[FlatOut]:
        """Flats with their occupancy: a landlord's own, or those of the caller's areas."""
        with self._sessions() as session:
            stmt = (
                select(Flat, Building, Compound)
                .join(Building, Flat.building_id == Building.id)
                .join(Compound, Building.compound_id == Compound.id)
                .order_by(Compound.id, Building.id, Flat.number)
                .limit(min(limit, MAX_LIST))
            )
            if compound_id is not None:
                stmt = stmt.where(Compound.id == compound_id)
            landlord = _landlord_of(session, ctx)
            if landlord is not None:
                stmt = stmt.where(Flat.landlord_id == landlord)
            elif not ctx.city_wide:
                stmt = stmt.where(Compound.community_id.in_(sorted(ctx.areas)))
            places = [FlatPlace(f, b, c) for f, b, c in session.execute(stmt)]
            counts = _open_counts(session, [p.flat.id for p in places])
            return [_flat_out(p, tenants=counts.get(p.flat.id, 0)) for p in places]

    # --- tenants --------------------------------------------------------------------------------

    def register_tenant(self, ctx: Context, flat_id: int, body: TenantIn, *, resource: str) -> RegisteredOut:
        """Register a tenant of a flat the caller lets (or reaches); takes effect at its doors at once."""
        now = self._now()
        with transaction(self._sessions) as session:
            place = self._flat_for(session, ctx, flat_id)
            cards.check_card(body.card)
            person = cards.person_of(
                session,
                id_number=body.card.id_number,
                name=body.card.name,
                phone=body.phone,
                now=now,
                pseudonymize=self._pseudonymize,
                field="card.id_number",
                home_area_id=place.compound.community_id,
            )
            claimed = cards.same_name(person.name, body.card.name)
            if claimed:
                cards.keep_card(session, person.id, body.card, by=ctx.actor, now=now)
            elsewhere = _open_tenancies(session, person.id)
            if any(t.flat_id == flat_id for t in elsewhere):
                raise PlaceConflict(
                    "this person already lives in this flat (an open tenancy)", field="card.id_number"
                )
            tenancy = Tenancy(
                flat_id=flat_id,
                person_id=person.id,
                name=body.card.name,
                starts_at=body.starts_at or now,
                planned_end=body.planned_end,
                registered_at=now,
                registered_by=ctx.actor,
                registered_via=body.via,
            )
            if body.planned_end is not None and body.planned_end <= tenancy.starts_at:
                raise PlacesError("planned_end must be after starts_at", field="planned_end")
            session.add(tenancy)
            session.flush()
            occupants = _open_counts(session, [flat_id]).get(flat_id, 0)
            notices, findings = registration_findings(
                place,
                tenancy,
                person,
                others=elsewhere,
                occupants=occupants,
                name_matches=claimed,
                by=ctx,
                now=now,
            )
            access_changed(session, compound_id=place.compound.id)
            out = RegisteredOut(tenant=_tenant_out(tenancy, person), notices=notices)
        self._recorder.record(
            ctx,
            AuditEntry(
                "tenants.register",
                resource,
                status=201,
                subjects=[subject("person", person.id)],
                detail={"flat": flat_id, "tenancy": tenancy.id, "notices": len(notices)},
            ),
        )
        if findings:
            self._raise(findings)
        return out

    def check_out(self, ctx: Context, tenancy_id: int, body: CheckOutIn, *, resource: str) -> TenantOut:
        """End a tenancy: the tenant's card stops opening the place's doors at once."""
        now = self._now()
        with transaction(self._sessions) as session:
            tenancy = session.get(Tenancy, tenancy_id)
            if tenancy is None:
                raise PlaceNotFound("tenancy", tenancy_id)
            place = self._flat_for(session, ctx, tenancy.flat_id)
            if tenancy.checked_out_at is not None:
                raise PlaceConflict(f"tenancy {tenancy_id} was checked out already", field="tenancy_id")
            at = body.at or now
            if at < tenancy.starts_at:
                raise PlacesError("a tenant cannot move out before moving in", field="at")
            tenancy.checked_out_at, tenancy.checked_out_by = at, ctx.actor
            person = registry.get_person(session, person_id=tenancy.person_id)
            assert person is not None
            access_changed(session, compound_id=place.compound.id)
            out = _tenant_out(tenancy, person)
        named = [subject("person", out.person_id)]
        self._recorder.record(
            ctx, AuditEntry("tenants.check_out", resource, subjects=named, detail={"tenancy": tenancy_id})
        )
        return out

    def tenants(self, ctx: Context, flat_id: int, *, ended: bool = False, resource: str) -> list[TenantOut]:
        """Who lives in a flat the caller lets (or reaches), numbers masked; the read is audited."""
        with self._sessions() as session:
            self._flat_for(session, ctx, flat_id)
            stmt = select(Tenancy).where(Tenancy.flat_id == flat_id).order_by(Tenancy.starts_at.desc())
            if not ended:
                stmt = stmt.where(Tenancy.checked_out_at.is_(None))
            rows = list(session.scalars(stmt.limit(MAX_LIST)))
            people = {p.id: p for p in registry.people_by_ids(session, [t.person_id for t in rows])}
            out = [_tenant_out(t, people[t.person_id]) for t in rows]
        self._recorder.record(
            ctx,
            AuditEntry(
                "tenants.read",
                resource,
                subjects=[subject("person", t.person_id) for t in out],
                result_count=len(out),
                purpose="tenancy management",
                detail={"flat": flat_id},
            ),
        )
        return out

    # --- reach ----------------------------------------------------------------------------------

    @staticmethod
    def _compound(session: Session, ctx: Context, compound_id: str) -> Compound:
        compound = session.get(Compound, compound_id)
        if compound is None:
            raise PlaceNotFound("compound", compound_id)
        ctx.require_area(compound.community_id, what=f"compound {compound_id}")
        return compound

    @staticmethod
    def _flat_for(session: Session, ctx: Context, flat_id: int) -> FlatPlace:
        """The flat, if the caller lets it or reaches its community (refused otherwise, and audited)."""
        flat = session.get(Flat, flat_id)
        if flat is None:
            raise PlaceNotFound("flat", flat_id)
        building = session.get(Building, flat.building_id)
        assert building is not None  # a flat's building and compound are foreign keys
        compound = session.get(Compound, building.compound_id)
        assert compound is not None
        landlord = _landlord_of(session, ctx)
        if landlord is not None:
            if flat.landlord_id != landlord:
                raise AccessDenied("forbidden", f"flat {flat_id} is not one you let", field="flat_id")
        else:
            ctx.require_area(compound.community_id, what=f"flat {flat_id}")
        return FlatPlace(flat, building, compound)


def _landlord_of(session: Session, ctx: Context) -> int | None:
    """The landlord id a landlord-role caller acts for (None for everyone else)."""
    if ctx.role != "landlord":
        return None
    if ctx.account_id is None:
        raise AccessDenied("forbidden", "this account lets no flats")
    found = session.scalar(select(Landlord.id).where(Landlord.account_id == ctx.account_id))
    if found is None:
        raise AccessDenied(
            "forbidden", "this account lets no flats: a community officer registers its landlord"
        )
    return int(found)


def _open_tenancies(session: Session, person_id: int) -> list[Tenancy]:
    return list(
        session.scalars(
            select(Tenancy).where(Tenancy.person_id == person_id, Tenancy.checked_out_at.is_(None))
        )
    )


def _open_counts(session: Session, flat_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(flat_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Tenancy.flat_id, func.count())
        .where(Tenancy.flat_id.in_(ids), Tenancy.checked_out_at.is_(None))
        .group_by(Tenancy.flat_id)
    )
    return {int(f): int(n) for f, n in rows}


def _flat_out(place: FlatPlace, *, tenants: int) -> FlatOut:
    flat = place.flat
    return FlatOut(
        id=flat.id,
        building_id=flat.building_id,
        compound_id=place.compound.id,
        compound_name=place.compound.name,
        building_name=place.building.name,
        number=flat.number,
        capacity=flat.capacity,
        use=flat.use,
        landlord_id=flat.landlord_id,
        tenants=tenants,
        over_capacity=tenants > flat.capacity,
        visited_on=flat.visited_on,
    )


def _tenant_out(tenancy: Tenancy, person: Person) -> TenantOut:
    return TenantOut(
        tenancy_id=tenancy.id,
        flat_id=tenancy.flat_id,
        person_id=person.id,
        name=tenancy.name or person.name,
        id_number=mask_id_number(person.id_number) or "",
        starts_at=tenancy.starts_at,
        planned_end=tenancy.planned_end,
        registered_by=tenancy.registered_by,
        checked_out_at=tenancy.checked_out_at,
    )


__all__ = ["FlatPlace", "Places"]
