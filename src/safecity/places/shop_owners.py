"""Telling a shop's owner that their armed shop was opened: places follow alerts about shops.

The alert service hands every new alert that references a `shop` to this follower, which looks
the shops and their owners up in bulk and returns one SMS per alert for the outbox. The time is
the city's local time, as the owner lives it. An owner without a phone is skipped with one log
line per burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.finding import AlertFollower, PersonNotice, RaisedAlert
from safecity.core.masking import mask_phone
from safecity.places.models import SHOP, Shop
from safecity.places.schedule import LOCAL_TZ
from safecity.store.bulk import among, chunked

log = structlog.get_logger(__name__)

SMS = "sms"
WHAT = {
    "door_forced": "a door was forced",
    "door_held_open": "a door was held open",
    "door_opened_no_swipe": "a door was opened without a card",
    "intrusion": "the intrusion alarm went off",
    "granted": "a door was opened with a card",
}


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def sms_body(*, shop: str, what: str, seen_at: datetime, station_name: str, alert_id: str) -> str:
    """The text telling a shop owner their armed shop was opened and who is on the way."""
    when = seen_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
    return (
        f"safecity: {what} at your shop {shop} at {when} while it was armed. "
        f"{station_name or 'The police'} has been told, reference {alert_id}. "
        "Do not go in alone; if this was you, disarm in the app and tell the officer."
    )


def owner_notices(session: Session, alerts: Sequence[RaisedAlert]) -> list[PersonNotice]:
    """An SMS to the owner of each shop these alerts are about (shops and owners looked up in bulk)."""
    shop_ids = sorted({s for a in alerts if (s := _as_int(a.finding.ref(SHOP))) is not None})
    shops: dict[int, tuple[str, int]] = {}
    for part in chunked(shop_ids):
        rows = session.execute(select(Shop.id, Shop.name, Shop.owner_person_id).where(among(Shop.id, part)))
        shops.update((shop_id, (name, owner)) for shop_id, name, owner in rows)
    phones = {p.id: p.phone for p in registry.people_by_ids(session, sorted({o for _, o in shops.values()}))}
    notices: list[PersonNotice] = []
    skipped: list[str] = []
    for alert in alerts:
        found = shops.get(_as_int(alert.finding.ref(SHOP)) or -1)
        phone = phones.get(found[1]) if found else None
        if found is None or not phone:
            skipped.append(alert.alert_id)
            continue
        first = alert.first
        code = first.code if first is not None else None
        body = sms_body(
            shop=found[0],
            what=WHAT.get(code or "", "a door opened"),
            seen_at=first.ts if first is not None else alert.at,
            station_name=alert.station_name,
            alert_id=alert.alert_id,
        )
        notices.append(PersonNotice(alert.alert_id, found[1], SMS, phone, body))
    if skipped:
        log.warning("shop owner notices skipped", reason="no shop or no phone", alert_ids=skipped[:10])
    if notices:
        log.info("shop owner notices queued", sample=[mask_phone(n.address) for n in notices[:10]])
    return notices


SHOP_OWNERS = AlertFollower(name="shop-owners", entity=SHOP, notices=owner_notices)

__all__ = ["SHOP_OWNERS", "owner_notices", "sms_body"]
