"""Telling a stolen bike's owner where it was seen: the registry follows alerts about e-bikes.

The alert service knows nothing of bikes or owners: it hands every new alert that references
an `ebike` to this follower, which looks the bikes, their owners and the places up in bulk and
returns the SMS notices to queue. A bike without an owner's phone is skipped, with one log line
per burst (a replay can raise thousands of alerts at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.finding import AlertFollower, Evidence, PersonNotice, RaisedAlert
from safecity.core.masking import mask_phone
from safecity.registry.models import EBIKE, Area, Device, EBike, Person
from safecity.store.bulk import among, chunked

log = structlog.get_logger(__name__)

SMS = "sms"


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _names(session: Session, model: type[Area] | type[Device], ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for part in chunked(sorted(ids)):
        names.update(
            (str(i), str(n))
            for i, n in session.execute(select(model.id, model.name).where(among(model.id, part)))
        )
    return names


def sms_body(
    *, bike: str, tag_id: str, place: str, seen_at: datetime, station_name: str, alert_id: str
) -> str:
    """The text telling a bike owner where their stolen bike was seen and who is handling it."""
    when = seen_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"safecity: your stolen e-bike {bike} (tag {tag_id}) was seen at {place} at {when}. "
        f"{station_name} is handling it, reference {alert_id}. Do not try to recover it yourself."
    )


def _place(last: Evidence | None, devices: dict[str, str], areas: dict[str, str]) -> str:
    """Say where a sighting happened in words an owner understands."""
    if last is None:
        return "an unknown place"
    device = devices.get(last.device, f"station {last.device}")
    area = areas.get(last.area or "")
    return f"{device}, {area}" if area else device


def owner_notices(session: Session, alerts: Sequence[RaisedAlert]) -> list[PersonNotice]:
    """An SMS for the owner of each bike these alerts are about, bikes and places looked up in bulk."""
    bike_ids = sorted({b for a in alerts if (b := _as_int(a.finding.ref(EBIKE))) is not None})
    bikes: dict[int, tuple[str, str, str, int, str | None]] = {}
    for part in chunked(bike_ids):
        rows = session.execute(
            select(EBike.id, EBike.model, EBike.colour, EBike.tag_id, Person.id, Person.phone)
            .join(Person, EBike.owner_id == Person.id)
            .where(among(EBike.id, part))
        )
        for bike_id, model, colour, tag_id, person_id, phone in rows:
            bikes[bike_id] = (model, colour, tag_id, person_id, phone)
    devices = _names(session, Device, {a.last.device for a in alerts if a.last})
    areas = _names(session, Area, {a.last.area for a in alerts if a.last and a.last.area})
    notices: list[PersonNotice] = []
    skipped: dict[str, list[str]] = {"bike not registered": [], "owner has no phone": []}
    for alert in alerts:
        bike = bikes.get(_as_int(alert.finding.ref(EBIKE)) or -1)
        if bike is None:
            skipped["bike not registered"].append(alert.alert_id)
            continue
        model, colour, tag_id, person_id, phone = bike
        if not phone:
            skipped["owner has no phone"].append(alert.alert_id)
            continue
        body = sms_body(
            bike=f"{colour} {model}".strip(),
            tag_id=tag_id,
            place=_place(alert.last, devices, areas),
            seen_at=alert.at,
            station_name=alert.station_name,
            alert_id=alert.alert_id,
        )
        notices.append(PersonNotice(alert.alert_id, person_id, SMS, phone, body))
    for reason, alert_ids in skipped.items():
        if alert_ids:
            log.warning(
                "owner notices skipped", reason=reason, count=len(alert_ids), alert_ids=alert_ids[:10]
            )
    if notices:
        sample = [(n.alert_id, mask_phone(n.address) or "") for n in notices[:10]]
        log.info("owner notices queued", count=len(notices), sample=sample)  # phones masked
    return notices


BIKE_OWNERS = AlertFollower(name="bike-owners", entity=EBIKE, notices=owner_notices)

__all__ = ["BIKE_OWNERS", "EBIKE", "owner_notices", "sms_body"]
