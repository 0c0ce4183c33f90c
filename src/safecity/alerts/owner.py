"""Owner notices: tell a stolen bike's owner where it was seen, through an outbox a channel drains.

The alert service only enqueues; an SMS gateway worker (a later channel) reads pending notices
and reports each as sent or failed with `mark_notice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.alerts.bulk import among, chunked
from safecity.alerts.errors import AlertError
from safecity.alerts.models import NoticeStatus, OutboxNotice
from safecity.alerts.notice import owner_sms_body
from safecity.core.finding import Evidence
from safecity.core.masking import mask_phone
from safecity.core.record import new_id
from safecity.registry import Area, Device, EBike, Person

log = structlog.get_logger(__name__)

SMS = "sms"
MAX_NOTICE_ATTEMPTS = 5  # after this many failed sends a notice is left failed for a person to look at


@dataclass(frozen=True, slots=True)
class OwnerNoticeRequest:
    """An alert about a registered bike whose owner should be told."""

    alert_id: str
    ebike_id: Any  # as the rule put it in the facts; normalised to int here
    last: Evidence | None  # the latest sighting: where and when the bike was seen
    station_name: str
    at: datetime


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _names(session: Session, model: type[Area] | type[Device], ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    names: dict[str, str] = {}
    for part in chunked(sorted(ids)):
        names.update(
            (str(i), str(n))
            for i, n in session.execute(select(model.id, model.name).where(among(model.id, part)))
        )
    return names


def queue_owner_notices(
    session: Session, requests: Sequence[OwnerNoticeRequest], *, now: datetime
) -> list[dict[str, Any]]:
    """Build the outbox rows for these requests, looking bikes, owners and places up in bulk."""
    if not requests:
        return []
    bike_ids = sorted({b for r in requests if (b := _as_int(r.ebike_id)) is not None})
    bikes: dict[int, tuple[str, str, str, int, str | None]] = {}
    for part in chunked(bike_ids):
        rows = session.execute(
            select(EBike.id, EBike.model, EBike.colour, EBike.tag_id, Person.id, Person.phone)
            .join(Person, EBike.owner_id == Person.id)
            .where(among(EBike.id, part))
        )
        for bike_id, model, colour, tag_id, person_id, phone in rows:
            bikes[bike_id] = (model, colour, tag_id, person_id, phone)
    devices = _names(session, Device, {r.last.device for r in requests if r.last})
    areas = _names(session, Area, {r.last.area for r in requests if r.last and r.last.area})
    rows_out: list[dict[str, Any]] = []
    skipped: dict[str, list[str]] = {"bike not registered": [], "owner has no phone": []}
    for req in requests:
        bike = bikes.get(_as_int(req.ebike_id) or -1)
        if bike is None or not bike[4]:
            skipped["bike not registered" if bike is None else "owner has no phone"].append(req.alert_id)
            continue
        model, colour, tag_id, person_id, phone = bike
        body = owner_sms_body(
            bike=f"{colour} {model}".strip(),
            tag_id=tag_id,
            place=_place(req.last, devices, areas),
            seen_at=req.at,
            station_name=req.station_name,
            alert_id=req.alert_id,
        )
        rows_out.append(
            {
                "id": new_id(),
                "alert_id": req.alert_id,
                "recipient_person_id": person_id,
                "channel": SMS,
                "address": phone,
                "body": body,
                "status": NoticeStatus.PENDING.value,
                "created_at": now,
                "attempts": 0,
                "sent_at": None,
                "last_error": None,
            }
        )
    # One line per burst, not per notice (a replay can queue thousands); phones masked.
    for reason, alert_ids in skipped.items():
        if alert_ids:
            log.warning(
                "owner notices skipped", reason=reason, count=len(alert_ids), alert_ids=alert_ids[:10]
            )
    if rows_out:
        log.info(
            "owner notices queued",
            count=len(rows_out),
            sample=[(r["alert_id"], mask_phone(r["address"]) or "") for r in rows_out[:10]],
        )
    return rows_out


def _place(last: Evidence | None, devices: dict[str, str], areas: dict[str, str]) -> str:
    """Say where a sighting happened in words an owner understands."""
    if last is None:
        return "an unknown place"
    device = devices.get(last.device, f"station {last.device}")
    area = areas.get(last.area or "")
    return f"{device}, {area}" if area else device


def pending_notices(session: Session, *, channel: str = SMS, limit: int = 100) -> list[OutboxNotice]:
    """The oldest notices still waiting to be sent on a channel."""
    return list(
        session.scalars(
            select(OutboxNotice)
            .where(OutboxNotice.channel == channel, OutboxNotice.status == NoticeStatus.PENDING)
            .order_by(OutboxNotice.created_at, OutboxNotice.id)
            .limit(limit)
        )
    )


def mark_notice(
    session: Session, *, notice_id: str, now: datetime, sent: bool = True, error: str | None = None
) -> OutboxNotice:
    """Record one send attempt: sent, or failed (retried until MAX_NOTICE_ATTEMPTS)."""
    notice = session.get(OutboxNotice, notice_id)
    if notice is None:
        raise AlertError(f"notice {notice_id} not found", field="notice_id")
    notice.attempts += 1
    if sent:
        notice.status, notice.sent_at, notice.last_error = NoticeStatus.SENT, now, None
    else:
        notice.last_error = error or "unknown error"
        exhausted = notice.attempts >= MAX_NOTICE_ATTEMPTS
        notice.status = NoticeStatus.FAILED if exhausted else NoticeStatus.PENDING
    log.info(
        "owner notice attempt",
        notice_id=notice_id,
        sent=sent,
        attempts=notice.attempts,
        phone=mask_phone(notice.address) or "",
    )
    session.flush()
    return notice
