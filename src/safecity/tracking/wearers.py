"""Elderly locators as use cases: enrol wearers, their guardians, consents and safe zones; read them.

A community officer (`wearers.manage`) acts on the wearers of their areas; officers who may read
wearers (`wearers.read`) read those of their areas. A guardian signs in with the citizen account
linked to their registry person (security/linking.py) and reads only the wearers they guard
(`wearers.guard`): any other wearer is refused alike, whether it exists or not. Nobody is enrolled
without a consent recorded, and a wearer whose every consent is withdrawn is no longer watched by
the rules (tracking/wearer_facts.py). Every change and every read is audited, and every change
announces RegistryChanged("wearers") so that the rules' facts follow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.alerts import AlertFilter, AlertService
from safecity.alerts.query import MAX_PAGE
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.registry.events import changed
from safecity.store import transaction
from safecity.tracking import wearer_records as records
from safecity.tracking.errors import TrackingError
from safecity.tracking.models import WEARER, Consent, Guardian, SafeZone, Wearer, WearerStatus, WornTracker
from safecity.tracking.wearer_errors import WearerConflict, WearerNotFound
from safecity.tracking.wearer_schemas import (
    ConsentIn,
    ConsentOut,
    GuardianIn,
    GuardianOut,
    SafeZoneOut,
    SafeZonesIn,
    WarningOut,
    WearerDetail,
    WearerIn,
    WearerOut,
)
from safecity.tracking.wearer_zones import checked, rows_of, zone_out

WEARERS = "wearers"  # the RegistryChanged group of wearers' facts
READ, MANAGE, GUARD = "wearers.read", "wearers.manage", "wearers.guard"
MAX_LIST = 500
PURPOSE = "elderly locator care"


class Wearers:
    """The wearer use cases of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        pseudonymize: registry.Pseudonymize,
        alerts: AlertService | None = None,
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._pseudonymize = pseudonymize
        self._alerts = alerts

    # --- who may act on which wearer ---------------------------------------------------------------

    def _wearer(self, session: Session, ctx: Context, wearer_id: int, *, manage: bool = False) -> Wearer:
        return wearer_in_reach(session, ctx, wearer_id, manage=manage)

    @staticmethod
    def _guarded(session: Session, ctx: Context) -> set[int]:
        return guarded_wearers(session, ctx)

    def _audit(self, ctx: Context, action: str, resource: str, **entry: Any) -> None:
        self._recorder.record(ctx, AuditEntry(f"wearers.{action}", resource, **entry))

    # --- enrolment ---------------------------------------------------------------------------------

    def enrol(self, ctx: Context, body: WearerIn, *, resource: str) -> WearerOut:
        """Enrol a wearer of an area the caller reaches: consent given, trackers, guardians, zones."""
        ctx.require_area(body.area_id, what=f"area {body.area_id}")
        checked(body.safe_zones, field="safe_zones")
        now = self._now()
        with transaction(self._sessions) as session:
            if registry.get_area(session, area_id=body.area_id) is None:
                raise TrackingError(f"there is no area {body.area_id!r}", field="area_id")
            person = records.person_of(
                session,
                id_number=body.id_number,
                name=body.name,
                phone=body.phone,
                now=now,
                pseudonymize=self._pseudonymize,
                field="id_number",
            )
            enrolled = select(Wearer.id).where(
                Wearer.person_id == person.id, Wearer.status == WearerStatus.ACTIVE
            )
            if session.scalar(enrolled) is not None:
                raise WearerConflict("this person is enrolled as a wearer already", field="id_number")
            records.check_trackers(session, body.device_ids)
            wearer = Wearer(
                person_id=person.id,
                area_id=body.area_id,
                notes=body.notes,
                status=WearerStatus.ACTIVE,
                enrolled_at=now,
                enrolled_by=ctx.actor,
            )
            try:  # the checks above raced with another enrolment: the unique indexes decide
                session.add(wearer)
                session.flush()
                session.add_all(
                    WornTracker(wearer_id=wearer.id, device_id=d, added_at=now) for d in body.device_ids
                )
                session.flush()
            except IntegrityError:
                raise WearerConflict(
                    "enrolled at the same moment by someone else", field="id_number"
                ) from None
            kw: dict[str, Any] = {"now": now, "by": ctx.actor, "pseudonymize": self._pseudonymize}
            records.add_consent(session, wearer.id, body.consent, prefix="consent.", **kw)
            named = [subject("person", person.id)]
            for n, guardian in enumerate(body.guardians):
                _, guardian_person = records.add_guardian(
                    session, wearer, guardian, field=f"guardians.{n}.id_number", **kw
                )
                named.append(subject("person", guardian_person.id))
            session.add_all(rows_of(body.safe_zones, wearer_id=wearer.id, now=now, by=ctx.actor))
            session.flush()
            changed(session, WEARERS)
            [out] = records.wearers_out(session, [wearer])
        detail = {
            "wearer": out.id,
            "area": out.area_id,
            "devices": out.device_ids,
            "zones": len(body.safe_zones),
        }
        self._audit(ctx, "enrol", resource, status=201, subjects=named, detail=detail)
        return out

    def end(self, ctx: Context, wearer_id: int, *, resource: str) -> WearerOut:
        """Stop watching a wearer (locator returned, moved away): kept for the record, trackers freed."""
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            if wearer.status == WearerStatus.ENDED:
                raise WearerConflict(f"wearer {wearer_id} is ended already", field="wearer_id")
            wearer.status, wearer.ended_at, wearer.ended_by = WearerStatus.ENDED, now, ctx.actor
            for worn in session.scalars(
                select(WornTracker).where(
                    WornTracker.wearer_id == wearer.id, WornTracker.removed_at.is_(None)
                )
            ):
                worn.removed_at = now
            changed(session, WEARERS)
            [out] = records.wearers_out(session, [wearer])
        self._audit(
            ctx, "end", resource, subjects=[subject("person", out.person_id)], detail={"wearer": wearer_id}
        )
        return out

    # --- guardians ---------------------------------------------------------------------------------

    def add_guardian(self, ctx: Context, wearer_id: int, body: GuardianIn, *, resource: str) -> GuardianOut:
        """Add a guardian (a registry person, found or registered) to a wearer of the caller's areas."""
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            row, person = records.add_guardian(
                session, wearer, body, now=now, by=ctx.actor, pseudonymize=self._pseudonymize
            )
            changed(session, WEARERS)
            [out] = records.guardians_out(session, [row])
        named = [subject("person", wearer.person_id), subject("person", person.id)]
        detail = {"wearer": wearer_id, "guardian": out.id}
        self._audit(ctx, "guardian_add", resource, status=201, subjects=named, detail=detail)
        return out

    def remove_guardian(
        self, ctx: Context, wearer_id: int, guardian_id: int, *, resource: str
    ) -> GuardianOut:
        """Take a guardian off a wearer: no more warnings to them, nor reads by their account."""
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            row = session.get(Guardian, guardian_id)
            if row is None or row.wearer_id != wearer.id:
                raise WearerNotFound("guardian", guardian_id)
            if row.removed_at is not None:
                raise WearerConflict(f"guardian {guardian_id} was removed already", field="guardian_id")
            row.removed_at, row.removed_by = now, ctx.actor
            changed(session, WEARERS)
            [out] = records.guardians_out(session, [row])
        named = [subject("person", wearer.person_id), subject("person", row.person_id)]
        detail = {"wearer": wearer_id, "guardian": guardian_id}
        self._audit(ctx, "guardian_remove", resource, subjects=named, detail=detail)
        return out

    def guardians(self, ctx: Context, wearer_id: int, *, resource: str) -> list[GuardianOut]:
        """A wearer's guardians now (phones masked); the read is audited."""
        with self._sessions() as session:
            wearer = self._wearer(session, ctx, wearer_id)
            out = records.guardians_out(session, _guardian_rows(session, wearer.id))
        named = [subject("person", wearer.person_id), *(subject("person", g.person_id) for g in out)]
        self._audit(ctx, "guardians_read", resource, subjects=named, result_count=len(out), purpose=PURPOSE)
        return out

    # --- consent -----------------------------------------------------------------------------------

    def record_consent(self, ctx: Context, wearer_id: int, body: ConsentIn, *, resource: str) -> ConsentOut:
        """Record a consent given for a wearer (a renewed form, a new guardian's signature)."""
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            row = records.add_consent(
                session, wearer.id, body, now=now, by=ctx.actor, pseudonymize=self._pseudonymize
            )
            changed(session, WEARERS)
            out = records.consent_out(row)
            named = [subject("person", wearer.person_id), subject("person", row.given_by_person_id)]
        self._audit(ctx, "consent_record", resource, status=201, subjects=named, detail={"consent": out.id})
        return out

    def withdraw_consent(self, ctx: Context, wearer_id: int, consent_id: int, *, resource: str) -> ConsentOut:
        """Mark a consent withdrawn; with none left in force the rules stop watching the wearer."""
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            row = session.get(Consent, consent_id)
            if row is None or row.wearer_id != wearer.id:
                raise WearerNotFound("consent", consent_id)
            if row.withdrawn_at is not None:
                raise WearerConflict(f"consent {consent_id} was withdrawn already", field="consent_id")
            row.withdrawn_at, row.withdrawn_by = now, ctx.actor
            changed(session, WEARERS)
            out = records.consent_out(row)
        named = [subject("person", wearer.person_id)]
        self._audit(ctx, "consent_withdraw", resource, subjects=named, detail={"consent": consent_id})
        return out

    def consents(self, ctx: Context, wearer_id: int, *, resource: str) -> list[ConsentOut]:
        """Every consent recorded for a wearer, withdrawn ones too, oldest first."""
        with self._sessions() as session:
            wearer = self._wearer(session, ctx, wearer_id)
            out = [records.consent_out(c) for c in _consent_rows(session, wearer.id)]
        named = [subject("person", wearer.person_id)]
        self._audit(ctx, "consents_read", resource, subjects=named, result_count=len(out), purpose=PURPOSE)
        return out

    # --- safe zones --------------------------------------------------------------------------------

    def set_safe_zones(
        self, ctx: Context, wearer_id: int, body: SafeZonesIn, *, resource: str
    ) -> list[SafeZoneOut]:
        """Replace a wearer's safe zones (each checked by the geometry kernels first)."""
        checked(body.zones)
        now = self._now()
        with transaction(self._sessions) as session:
            wearer = self._wearer(session, ctx, wearer_id, manage=True)
            for old in _zone_rows(session, wearer.id):
                session.delete(old)
            rows = rows_of(body.zones, wearer_id=wearer.id, now=now, by=ctx.actor)
            session.add_all(rows)
            session.flush()
            changed(session, WEARERS)
            out = [zone_out(r) for r in rows]
        detail = {"wearer": wearer_id, "zones": len(out)}
        self._audit(ctx, "zones_set", resource, subjects=[subject("person", wearer.person_id)], detail=detail)
        return out

    def safe_zones(self, ctx: Context, wearer_id: int, *, resource: str) -> list[SafeZoneOut]:
        """A wearer's safe zones."""
        with self._sessions() as session:
            wearer = self._wearer(session, ctx, wearer_id)
            out = [zone_out(r) for r in _zone_rows(session, wearer.id)]
        self._audit(
            ctx, "zones_read", resource, subjects=[subject("person", wearer.person_id)], purpose=PURPOSE
        )
        return out

    # --- reads -------------------------------------------------------------------------------------

    def wearers(
        self,
        ctx: Context,
        *,
        area_id: str | None = None,
        ended: bool = False,
        limit: int = MAX_LIST,
        resource: str,
    ) -> list[WearerOut]:
        """Wearers in the caller's reach (a guardian: those they guard), by id; the read is audited."""
        stmt = select(Wearer).order_by(Wearer.id).limit(min(limit, MAX_LIST))
        if not ended:
            stmt = stmt.where(Wearer.status == WearerStatus.ACTIVE)
        with self._sessions() as session:
            if ctx.can(READ) or ctx.can(MANAGE):
                if area_id is not None:
                    ctx.require_area(area_id, what=f"area {area_id}")
                    stmt = stmt.where(Wearer.area_id == area_id)
                if not ctx.city_wide:  # in the query, so that `limit` counts only wearers in reach
                    stmt = stmt.where(Wearer.area_id.in_(sorted(ctx.areas)))
                rows = list(session.scalars(stmt))
            elif ctx.can(GUARD):
                guarded = sorted(self._guarded(session, ctx))
                rows = list(session.scalars(stmt.where(Wearer.id.in_(guarded)))) if guarded else []
            else:
                raise AccessDenied("forbidden", "reading wearers needs wearers.read or a guardian's account")
            out = records.wearers_out(session, rows)
        named = [subject("person", w.person_id) for w in out]
        self._audit(ctx, "list", resource, subjects=named, result_count=len(out), purpose=PURPOSE)
        return out

    def wearer(self, ctx: Context, wearer_id: int, *, resource: str) -> WearerDetail:
        """One wearer with their guardians, consents, safe zones and open warnings; the read is audited."""
        with self._sessions() as session:
            wearer = self._wearer(session, ctx, wearer_id)
            [base] = records.wearers_out(session, [wearer])
            guardians = records.guardians_out(session, _guardian_rows(session, wearer.id))
            consents = [records.consent_out(c) for c in _consent_rows(session, wearer.id)]
            zones = [zone_out(r) for r in _zone_rows(session, wearer.id)]
        detail = WearerDetail(
            **base.model_dump(),
            guardians=guardians,
            consents=consents,
            safe_zones=zones,
            open_warnings=self._open_warnings(wearer),
        )
        named = [subject("person", wearer.person_id), *(subject("person", g.person_id) for g in guardians)]
        self._audit(ctx, "read", resource, subjects=named, purpose=PURPOSE, detail={"wearer": wearer_id})
        return detail

    def _open_warnings(self, wearer: Wearer) -> list[WarningOut]:
        """Alerts not closed about this wearer, routed to or raised in the wearer's area."""
        if self._alerts is None:
            return []
        about = AlertFilter(subject_kind=WEARER, subject=str(wearer.id), open_only=True, limit=MAX_PAGE)
        found = self._alerts.list_alerts(about, areas=[wearer.area_id])  # newest first
        return [WarningOut.model_validate(a, from_attributes=True) for a in found]


def officer_reads(ctx: Context) -> bool:
    """Whether the caller reads wearers by area (an officer), not as a guardian."""
    return ctx.can(READ) or ctx.can(MANAGE)


def wearer_in_reach(session: Session, ctx: Context, wearer_id: int, *, manage: bool = False) -> Wearer:
    """The wearer if the caller may act on them: by area (officers) or as their guardian (reads only).

    Missing-person reports (tracking/missing.py) use the same reach: a guardian may report and
    follow the wearers they guard.
    """
    if ctx.can(MANAGE) if manage else officer_reads(ctx):
        wearer = session.get(Wearer, wearer_id)
        if wearer is None:
            raise WearerNotFound("wearer", wearer_id)
        ctx.require_area(wearer.area_id, what=f"wearer {wearer_id}")
        return wearer
    if not manage and ctx.can(GUARD) and wearer_id in guarded_wearers(session, ctx):
        found = session.get(Wearer, wearer_id)
        if found is not None:
            return found
    if manage:
        raise AccessDenied("forbidden", "changing a wearer needs the permission wearers.manage")
    raise AccessDenied("forbidden", "you may read only the wearers you are a guardian of")


def guarded_wearers(session: Session, ctx: Context) -> set[int]:
    """The wearers the caller's linked person guards now (none for an unlinked account)."""
    if ctx.person_id is None:
        return set()
    stmt = select(Guardian.wearer_id).where(
        Guardian.person_id == ctx.person_id, Guardian.removed_at.is_(None)
    )
    return set(session.scalars(stmt))


def _guardian_rows(session: Session, wearer_id: int) -> Sequence[Guardian]:
    stmt = select(Guardian).where(Guardian.wearer_id == wearer_id, Guardian.removed_at.is_(None))
    return list(session.scalars(stmt.order_by(Guardian.id)))


def _consent_rows(session: Session, wearer_id: int) -> Sequence[Consent]:
    return list(session.scalars(select(Consent).where(Consent.wearer_id == wearer_id).order_by(Consent.id)))


def _zone_rows(session: Session, wearer_id: int) -> Sequence[SafeZone]:
    return list(
        session.scalars(select(SafeZone).where(SafeZone.wearer_id == wearer_id).order_by(SafeZone.id))
    )


def build_wearers(platform: Any) -> Wearers:
    """The wearer use cases on a platform's parts (core.capabilities.Service)."""
    return Wearers(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        pseudonymize=platform.pseudonyms.pseudonym,
        alerts=platform.alerts,
    )


__all__ = ["WEARERS", "Wearers", "build_wearers", "guarded_wearers", "officer_reads", "wearer_in_reach"]
