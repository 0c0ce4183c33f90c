"""Text messages to people's phones on record, queued here for an SMS gateway to fetch and send.

The platform never holds an SMS contract itself: a gateway (a registered device of kind
`sms_gateway`, run by the operator next to their SMS provider) fetches what is pending over the
API, sends it, and reports back. A message handed over and not reported within `HAND_BACK` is
handed over again, so a gateway that crashed mid-way loses nothing; the gateway drops repeats by
message id. Bodies may hold one-time codes: they are shown to nobody else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safecity.core.record import new_id
from safecity.registry.errors import NotFound
from safecity.registry.models import MessageStatus, PersonMessage

SMS = "sms"
HAND_BACK = timedelta(minutes=5)  # a handed-over message not reported by then goes out again


def queue_sms(
    session: Session, *, person_id: int, phone: str, body: str, purpose: str, now: datetime
) -> PersonMessage:
    """Queue a text message to a person's phone."""
    message = PersonMessage(
        id=new_id(),
        person_id=person_id,
        channel=SMS,
        address=phone,
        body=body,
        purpose=purpose,
        status=MessageStatus.PENDING,
        created_at=now,
        attempts=0,
    )
    session.add(message)
    session.flush()
    return message


def hand_over(session: Session, *, gateway: str, now: datetime, limit: int = 100) -> list[PersonMessage]:
    """The oldest messages waiting for a gateway (or handed over long ago and never reported)."""
    stale = now - HAND_BACK
    waiting = (
        select(PersonMessage)
        .where(PersonMessage.channel == SMS)
        .where(
            or_(
                PersonMessage.status == MessageStatus.PENDING,
                (PersonMessage.status == MessageStatus.HANDED_OVER) & (PersonMessage.handed_at < stale),
            )
        )
        .order_by(PersonMessage.created_at, PersonMessage.id)
        .limit(limit)
    )
    messages = list(session.scalars(waiting.with_for_update(skip_locked=True)))
    for message in messages:
        message.status = MessageStatus.HANDED_OVER
        message.gateway = gateway
        message.handed_at = now
        message.attempts += 1
    session.flush()
    return messages


def report(
    session: Session, *, message_id: str, gateway: str, sent: bool, error: str | None, now: datetime
) -> PersonMessage:
    """A gateway says whether it sent a message it was handed (a repeated report is harmless)."""
    message = session.get(PersonMessage, message_id)
    if message is None or message.gateway != gateway:
        raise NotFound("message", message_id)
    message.status = MessageStatus.SENT if sent else MessageStatus.FAILED
    message.done_at = now
    message.last_error = None if sent else (error or "the gateway gave no reason")[:500]
    return message


__all__ = ["HAND_BACK", "SMS", "hand_over", "queue_sms", "report"]
