"""The SMS gateway's use cases: fetch the text messages waiting for it, and say how each went.

The gateway is a registered device of kind `sms_gateway` that authenticates with its own id and
secret, like any device. What it fetches it must send; what it does not report within
`messages.HAND_BACK` is handed out again, so a crash loses nothing (drop repeats by id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from safecity.core.errors import AccessDenied
from safecity.registry import messages
from safecity.registry.devices import is_secret_valid
from safecity.registry.models import Device, DeviceKind, DeviceStatus
from safecity.store import transaction


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A text message for the gateway to send."""

    id: str
    to: str
    body: str
    created_at: datetime


class SmsGateway:
    """What an SMS gateway device may do."""

    def __init__(self, session_factory: sessionmaker[Session], *, now: Callable[[], datetime]) -> None:
        self._sessions = session_factory
        self._now = now

    def fetch(self, device_id: str, secret: str, *, limit: int = 100) -> list[Outgoing]:
        """The messages waiting (oldest first), now handed over to this gateway."""
        with transaction(self._sessions) as session:
            self._gateway(session, device_id, secret)
            taken = messages.hand_over(session, gateway=device_id, now=self._now(), limit=limit)
            return [Outgoing(m.id, m.address, m.body, m.created_at) for m in taken]

    def report(self, device_id: str, secret: str, message_id: str, *, sent: bool, error: str | None) -> None:
        """Record whether a message handed to this gateway went out."""
        with transaction(self._sessions) as session:
            self._gateway(session, device_id, secret)
            messages.report(
                session, message_id=message_id, gateway=device_id, sent=sent, error=error, now=self._now()
            )

    @staticmethod
    def _gateway(session: Session, device_id: str, secret: str) -> Device:
        device = session.get(Device, device_id)
        if device is None or not is_secret_valid(secret, device.secret_hash):
            raise AccessDenied("not_authenticated", "unknown device or wrong secret", status=401)
        if device.status != DeviceStatus.ACTIVE:
            raise AccessDenied("not_authenticated", f"device {device_id} is disabled", status=401)
        if device.kind != DeviceKind.SMS_GATEWAY:
            raise AccessDenied("forbidden", f"device {device_id} is not an SMS gateway")
        return device


__all__ = ["Outgoing", "SmsGateway"]
