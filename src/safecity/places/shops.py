"""Shops as use cases: an officer registers one, its owner arms and disarms it, its hours arm it on schedule.

A shop owner acts on the shops registered to their account and nothing else; an officer on the
shops of their areas. Armed means a door opening (a forced door, one held open or opened
without a swipe, an intrusion zone, even a granted swipe) raises an alarm for the patrol of the
area (places/shop_rule.py). Every change is audited and tells the rules' cached facts
(RegistryChanged "shops"), so an alarm follows the state within one evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context, system_context
from safecity.core.errors import AccessDenied
from safecity.core.worker import Every
from safecity.places import cards, shop_hours
from safecity.places.errors import PlaceNotFound, PlacesError
from safecity.places.models import Door, Shop
from safecity.places.shop_facts import SHOPS_GROUP
from safecity.places.shop_schemas import ArmedOut, ScheduleIn, ShopIn, ShopOut
from safecity.registry.events import changed as registry_changed
from safecity.security import AccountError, accounts
from safecity.store import transaction

log = structlog.get_logger(__name__)

MAX_LIST = 1000
SCHEDULE = "schedule"  # who the schedule's changes are recorded as (armed_changed_by)
SHOP_OWNER_ROLE = "shop_owner"


class Shops:
    """The shop use cases of one platform."""

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

    def register(self, ctx: Context, body: ShopIn, *, resource: str) -> ShopOut:
        """Register a shop in a community the caller reaches, with its owner and their app account."""
        ctx.require_area(body.community_id, what=f"community {body.community_id}")
        now = self._now()
        with transaction(self._sessions) as session:
            if registry.get_area(session, area_id=body.community_id) is None:
                raise PlacesError(f"there is no area {body.community_id!r}", field="community_id")
            account_id = None
            if body.owner_account is not None:
                try:
                    account = accounts.find_account(session, body.owner_account)
                except AccountError:
                    raise PlacesError(
                        f"there is no account {body.owner_account!r}", field="owner_account"
                    ) from None
                if account.role != SHOP_OWNER_ROLE:
                    raise PlacesError(
                        f"account {body.owner_account} is not a shop owner's account", field="owner_account"
                    )
                account_id = account.id
            owner = cards.person_of(
                session,
                id_number=body.owner_id_number,
                name=body.owner_name,
                phone=body.owner_phone,
                now=now,
                pseudonymize=self._pseudonymize,
                field="owner_id_number",
            )
            shop = Shop(
                name=body.name,
                community_id=body.community_id,
                owner_person_id=owner.id,
                owner_account_id=account_id,
                lat=body.lat,
                lon=body.lon,
                business_hours=body.business_hours,
                auto_arm=body.auto_arm,
                armed=False,
            )
            session.add(shop)
            session.flush()
            # Registered during closed hours, an auto-armed shop is armed at once, not at the next closing.
            self._follow_schedule(shop, now, by=SCHEDULE)
            _shops_changed(session)
            out = self._out(session, shop, now)
            named = [subject("person", owner.id)]
        self._recorder.record(
            ctx, AuditEntry("shops.register", resource, status=201, subjects=named, detail={"shop": out.id})
        )
        return out

    def shops(self, ctx: Context, *, community_id: str | None = None, limit: int = 500) -> list[ShopOut]:
        """A shop owner's own shops; an officer's, those of their areas (of one community, if given)."""
        stmt = select(Shop).order_by(Shop.id).limit(min(limit, MAX_LIST))
        if community_id is not None:
            ctx.require_area(community_id, what=f"community {community_id}")
            stmt = stmt.where(Shop.community_id == community_id)
        if ctx.role == SHOP_OWNER_ROLE:
            stmt = stmt.where(Shop.owner_account_id == (ctx.account_id or -1))
        elif not ctx.city_wide:
            stmt = stmt.where(Shop.community_id.in_(sorted(ctx.areas)))
        now = self._now()
        with self._sessions() as session:
            return [self._out(session, s, now) for s in session.scalars(stmt)]

    def arm(self, ctx: Context, shop_id: int, *, armed: bool, resource: str) -> ArmedOut:
        """Arm or disarm a shop the caller owns (or reaches); saying it twice changes nothing."""
        now = self._now()
        with transaction(self._sessions) as session:
            shop = shop_for(session, ctx, shop_id)
            changed = shop.armed != armed
            if changed:
                shop.armed, shop.armed_changed_at, shop.armed_changed_by = armed, now, ctx.actor
                _shops_changed(session)
            out = ArmedOut(shop=self._out(session, shop, now), changed=changed)
        action = "shops.arm" if armed else "shops.disarm"
        self._recorder.record(ctx, AuditEntry(action, resource, detail={"shop": shop_id, "changed": changed}))
        return out

    def set_schedule(self, ctx: Context, shop_id: int, body: ScheduleIn, *, resource: str) -> ShopOut:
        """Set a shop's business hours and whether they arm it; takes effect at the next boundary."""
        now = self._now()
        with transaction(self._sessions) as session:
            shop = shop_for(session, ctx, shop_id)
            shop.business_hours, shop.auto_arm = body.business_hours, body.auto_arm
            _shops_changed(session)
            out = self._out(session, shop, now)
        detail = {"shop": shop_id, "auto_arm": body.auto_arm, "hours": body.business_hours}
        self._recorder.record(ctx, AuditEntry("shops.schedule", resource, detail=detail))
        return out

    def apply_schedule(self) -> dict[int, bool]:
        """Arm the shops whose closing time came, disarm those whose opening time came; return changes."""
        now = self._now()
        changes: dict[int, bool] = {}
        with transaction(self._sessions) as session:
            stmt = select(Shop).where(Shop.auto_arm.is_(True), Shop.business_hours.is_not(None))
            for shop in session.scalars(stmt):
                if self._follow_schedule(shop, now, by=SCHEDULE):
                    changes[shop.id] = shop.armed
            if changes:
                _shops_changed(session)
        if changes:
            detail = {
                "armed": sorted(s for s, a in changes.items() if a),
                "disarmed": sorted(s for s, a in changes.items() if not a),
            }
            self._recorder.record(system_context(), AuditEntry("shops.schedule_run", SCHEDULE, detail=detail))
        return changes

    # --- helpers --------------------------------------------------------------------------------

    def _follow_schedule(self, shop: Shop, now: datetime, *, by: str) -> bool:
        """Put the shop in the state its last boundary set, unless someone changed it since."""
        if not shop.auto_arm or not shop.business_hours:
            return False
        try:
            hours = shop_hours.parse_hours(shop.business_hours)
        except PlacesError as exc:  # written around the use cases (an import): skip it, never stop the run
            log.warning("shops.hours_unreadable", shop=shop.id, error=str(exc))
            return False
        last = shop_hours.last_boundary(hours, now)
        if last is None:
            return False
        when, arms = last
        if shop.armed == arms or (shop.armed_changed_at is not None and shop.armed_changed_at >= when):
            return False
        shop.armed, shop.armed_changed_at, shop.armed_changed_by = arms, now, by
        return True

    def _open_now(self, hours: dict[str, Any] | None, now: datetime) -> bool | None:
        try:
            return shop_hours.is_open(shop_hours.parse_hours(hours), now) if hours else None
        except PlacesError:
            return None  # unreadable hours (logged by the schedule) say nothing

    def _out(self, session: Session, shop: Shop, now: datetime) -> ShopOut:
        doors = list(
            session.scalars(select(Door.device_id).where(Door.shop_id == shop.id).order_by(Door.device_id))
        )
        hours = shop.business_hours
        return ShopOut(
            id=shop.id,
            name=shop.name,
            community_id=shop.community_id,
            lat=shop.lat,
            lon=shop.lon,
            business_hours=hours,
            auto_arm=shop.auto_arm,
            armed=shop.armed,
            armed_changed_at=shop.armed_changed_at,
            armed_changed_by=shop.armed_changed_by,
            open_now=self._open_now(hours, now),
            doors=doors,
        )


def shop_for(session: Session, ctx: Context, shop_id: int) -> Shop:
    """The shop, if the caller owns it (a shop owner) or reaches its community (refused otherwise)."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise PlaceNotFound("shop", shop_id)
    if ctx.role == SHOP_OWNER_ROLE:
        if ctx.account_id is None or shop.owner_account_id != ctx.account_id:
            raise AccessDenied("forbidden", f"shop {shop_id} is not yours", field="shop_id")
    else:
        ctx.require_area(shop.community_id, what=f"shop {shop_id}")
    return shop


def _shops_changed(session: Session) -> None:
    """Announce, when this transaction commits, that shops' state changed (the rules' facts forget it)."""
    registry_changed(session, SHOPS_GROUP)


def schedule_worker(shops: Shops, interval_s: float) -> Every:
    """The background step that arms and disarms shops by their business hours."""
    return Every("shop-schedule", interval_s, shops.apply_schedule)


def build_shops(platform: Any) -> Shops:
    """The shop use cases on a platform's parts (core.capabilities.Service)."""
    return Shops(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        pseudonymize=platform.pseudonyms.pseudonym,
    )


__all__ = ["SCHEDULE", "SHOP_OWNER_ROLE", "Shops", "build_shops", "schedule_worker", "shop_for"]
