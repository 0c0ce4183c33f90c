"""Tracker terminals: which registered device a GT06 IMEI or a JT/T 808 phone number is.

A binary tracker does not carry the platform's device id or secret: it names itself by the id its
protocol gives it (the GT06 login's IMEI, the JT/T 808 header's terminal phone number). Binding
that id to a registered `tracker` device is what lets the TCP device servers
(`ingest/adapters/tcp/server.py`) accept it; a terminal not bound here, or bound to a revoked
device, is refused. JT/T 808 terminals also get an authentication code at registration (0x8100);
only its hash is kept, and they present the code again (0x0102) on every later connection.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.registry.devices import hash_secret, is_secret_valid
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.events import DEVICES, changed
from safecity.registry.models import Device, DeviceKind, DeviceStatus, DeviceTerminal, TerminalProtocol

# IMEIs are 15 digits, JT/T 808 phone numbers 12 (2013) or 20 (2019) BCD digits; the bounds are
# those of a tracker_fix subject, which the terminal id becomes.
TERMINAL_PATTERN = re.compile(r"^[0-9]{4,32}$")
# UTC-12:00 to UTC+14:00, the zones in use.
MIN_OFFSET_MINUTES, MAX_OFFSET_MINUTES = -12 * 60, 14 * 60
AUTH_CODE_BYTES = 12  # 24 hex characters: the code travels in clear in 0x8100 and 0x0102


@dataclass(frozen=True, slots=True)
class TerminalEntry:
    """What a device server needs to know of a terminal at login."""

    protocol: str
    terminal: str
    device_id: str
    utc_offset_minutes: int
    active: bool  # the device is registered and not revoked
    auth_code_hash: str | None


def register_terminal(
    session: Session,
    *,
    device_id: str,
    protocol: str,
    terminal: str,
    now: datetime,
    utc_offset_minutes: int = 0,
) -> DeviceTerminal:
    """Bind a terminal id to a registered tracker device, so that its logins are accepted."""
    if protocol not in set(TerminalProtocol):
        raise InvalidInput("protocol", f"{protocol!r} is not one of {', '.join(TerminalProtocol)}")
    if not TERMINAL_PATTERN.match(terminal):
        raise InvalidInput("terminal", f"{terminal!r} is not 4 to 32 digits (an IMEI or a phone number)")
    if not MIN_OFFSET_MINUTES <= utc_offset_minutes <= MAX_OFFSET_MINUTES:
        raise InvalidInput("utc_offset_minutes", f"{utc_offset_minutes} is not between -720 and 840")
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id)
    if device.kind != DeviceKind.TRACKER:
        raise InvalidInput("device_id", f"device {device_id} is a {device.kind}, not a tracker")
    if session.get(DeviceTerminal, (protocol, terminal)) is not None:
        raise Conflict("terminal", f"{protocol} terminal {terminal} is bound to a device already")
    row = DeviceTerminal(
        protocol=protocol,
        terminal=terminal,
        device_id=device_id,
        utc_offset_minutes=utc_offset_minutes,
        registered_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # bound by another request between the check above and this insert
        raise Conflict("terminal", f"{protocol} terminal {terminal} is bound to a device already") from None
    changed(session, DEVICES)
    return row


def get_terminal(session: Session, protocol: str, terminal: str) -> TerminalEntry | None:
    """The terminal's binding and whether its device may send, or None if it is not bound."""
    row = session.execute(
        select(DeviceTerminal, Device.status)
        .join(Device, Device.id == DeviceTerminal.device_id)
        .where(DeviceTerminal.protocol == protocol, DeviceTerminal.terminal == terminal)
    ).first()
    if row is None:
        return None
    bound, status = row
    return TerminalEntry(
        protocol=bound.protocol,
        terminal=bound.terminal,
        device_id=bound.device_id,
        utc_offset_minutes=bound.utc_offset_minutes,
        active=status == DeviceStatus.ACTIVE,
        auth_code_hash=bound.auth_code_hash,
    )


def terminals_of(session: Session, device_ids: Sequence[str]) -> dict[str, list[str]]:
    """The terminal ids bound to each of these devices (any protocol), sorted."""
    bound: dict[str, list[str]] = {d: [] for d in device_ids}
    if not device_ids:
        return bound
    rows = session.execute(
        select(DeviceTerminal.device_id, DeviceTerminal.terminal)
        .where(DeviceTerminal.device_id.in_(list(device_ids)))
        .order_by(DeviceTerminal.terminal)
    )
    for device_id, terminal in rows:
        bound[device_id].append(terminal)
    return bound


def issue_auth_code(session: Session, protocol: str, terminal: str, *, now: datetime) -> str:
    """A new authentication code for the terminal (JT/T 808 registration); the previous one stops working."""
    row = session.get(DeviceTerminal, (protocol, terminal))
    if row is None:
        raise NotFound("terminal", f"{protocol}:{terminal}")
    code = secrets.token_hex(AUTH_CODE_BYTES)
    row.auth_code_hash = hash_secret(code)
    row.auth_issued_at = now
    session.flush()
    return code


def revoke_auth_code(session: Session, protocol: str, terminal: str) -> None:
    """The terminal deregistered (JT/T 808 0x0003): its code stops working until it registers again."""
    row = session.get(DeviceTerminal, (protocol, terminal))
    if row is not None:
        row.auth_code_hash = None
        session.flush()


def is_auth_code_valid(code: str, entry: TerminalEntry) -> bool:
    """Whether a presented code is the one last issued to the terminal (constant-time)."""
    return is_secret_valid(code, entry.auth_code_hash)


__all__ = [
    "TerminalEntry",
    "get_terminal",
    "is_auth_code_valid",
    "issue_auth_code",
    "register_terminal",
    "revoke_auth_code",
    "terminals_of",
]
