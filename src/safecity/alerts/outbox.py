"""The notice outbox: messages to people about alerts, queued for a channel worker to send.

Which people hear about an alert is not the alert package's business: the packages that know
them register an `AlertFollower` (the registry tells a stolen bike's owner), and the notices
they return are queued here, in the alert's own transaction. An SMS gateway worker (a later
channel) reads pending notices and reports each as sent or failed with `mark_notice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.alerts.errors import AlertError
from safecity.alerts.models import NoticeStatus, OutboxNotice
from safecity.core.finding import AlertFollower, PersonNotice, RaisedAlert
from safecity.core.masking import mask_phone
from safecity.core.record import new_id

log = structlog.get_logger(__name__)

SMS = "sms"
MAX_NOTICE_ATTEMPTS = 5  # after this many failed sends a notice is left failed for a person to look at


def follow(
    session: Session, followers: Sequence[AlertFollower], alerts: Sequence[RaisedAlert]
) -> list[PersonNotice]:
    """Ask each follower about the new alerts that reference its entity; the notices they want sent."""
    notices: list[PersonNotice] = []
    for follower in followers:
        mine = [a for a in alerts if a.finding.ref(follower.entity) is not None]
        if mine:
            notices.extend(follower.notices(session, mine))
    return notices


def outbox_rows(notices: Sequence[PersonNotice], *, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows that queue these notices for their channels' workers."""
    return [
        {
            "id": new_id(),
            "alert_id": n.alert_id,
            "recipient_person_id": n.recipient_person_id,
            "channel": n.channel,
            "address": n.address,
            "body": n.body,
            "status": NoticeStatus.PENDING.value,
            "created_at": now,
            "attempts": 0,
            "sent_at": None,
            "last_error": None,
        }
        for n in notices
    ]


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
