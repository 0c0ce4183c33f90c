"""Telling a wearer's guardians of a warning about them: tracking follows alerts about wearers.

The alert service hands every new alert that references a `wearer` to this follower, which looks
up the wearers' guardians in bulk (one query per chunk) and returns one SMS per guardian with a
phone, for the outbox. The text says what happened, when (the city's local time, as the guardian
lives it), where it was last seen as coordinates, and which station has been told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.finding import AlertFollower, PersonNotice, RaisedAlert
from safecity.core.masking import mask_phone
from safecity.store.bulk import among, chunked
from safecity.tracking.models import WEARER, Guardian

log = structlog.get_logger(__name__)

SMS = "sms"
LOCAL_TZ = timezone(timedelta(hours=8), "CST")  # China Standard Time all year
WHAT = {
    "wearer_sos": "pressed the SOS button",
    "wearer_fall": "may have fallen (the locator reported a fall)",
    "wearer_left_safe_zone": "left their safe zone",
    "wearer_no_fix": "has sent no position for hours",
    "wearer_low_battery": "has a locator whose battery is low",
}


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def sms_body(*, name: str, what: str, seen_at: datetime, where: str, station_name: str, alert_id: str) -> str:
    """The text telling a guardian what happened to the person they look after, and who knows."""
    when = seen_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
    return (
        f"safecity: {name} {what} at {when}{where}. "
        f"{station_name or 'The police'} has been told, reference {alert_id}. "
        "Call them if you know where they are."
    )


def guardian_notices(session: Session, alerts: Sequence[RaisedAlert]) -> list[PersonNotice]:
    """An SMS to each guardian of each wearer these alerts are about (guardians looked up in bulk)."""
    wearer_ids = sorted({w for a in alerts if (w := _as_int(a.finding.ref(WEARER))) is not None})
    guardians: dict[int, list[tuple[int, str]]] = {}
    for part in chunked(wearer_ids):
        rows = session.execute(
            select(Guardian.wearer_id, Guardian.person_id, Guardian.phone).where(
                among(Guardian.wearer_id, part), Guardian.removed_at.is_(None)
            )
        )
        for wearer_id, person_id, phone in rows:
            guardians.setdefault(wearer_id, []).append((person_id, phone))
    notices: list[PersonNotice] = []
    for alert in alerts:
        about = _as_int(alert.finding.ref(WEARER))
        told = [(p, phone) for p, phone in guardians.get(about or -1, []) if phone]
        if not told:
            log.warning(
                "guardian notices skipped", reason="no guardian with a phone", alert_id=alert.alert_id
            )
            continue
        last = alert.last
        where = (
            f" near {last.lat:.5f},{last.lon:.5f}"
            if last and last.lat is not None and last.lon is not None
            else ""
        )
        body = sms_body(
            name=str(alert.finding.facts.get("wearer") or "the person you look after"),
            what=WHAT.get(alert.finding.rule_kind, "needs attention"),
            seen_at=last.ts if last is not None else alert.at,
            where=where,
            station_name=alert.station_name,
            alert_id=alert.alert_id,
        )
        notices += [PersonNotice(alert.alert_id, person_id, SMS, phone, body) for person_id, phone in told]
    if notices:
        log.info("guardian notices queued", sample=[mask_phone(n.address) for n in notices[:10]])
    return notices


GUARDIANS = AlertFollower(name="wearer-guardians", entity=WEARER, notices=guardian_notices)

__all__ = ["GUARDIANS", "guardian_notices", "sms_body"]
