"""Field devices: registration, their secrets, and the directory ingest joins against."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.ids import is_valid_subject
from safecity.core.kinds import SubjectKind
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.events import DEVICES, changed
from safecity.registry.models import (
    Area,
    Device,
    DeviceKind,
    DeviceStatus,
)


def hash_secret(secret: str) -> str:
    """Hash a device secret (256-bit random, so a fast hash is enough; no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret_valid(secret: str, secret_hash: str | None) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return secret_hash is not None and hmac.compare_digest(hash_secret(secret), secret_hash)


# Mosquitto's `$7$` password hash: PBKDF2-HMAC-SHA512 with a 12-byte salt and, as mosquitto_passwd
# makes them, 101 iterations (ample for a 256-bit random secret; a broker checks it at every connect).
BROKER_HASH_ITERATIONS = 101
BROKER_SALT_BYTES = 12


def broker_hash(secret: str, *, salt: bytes | None = None, iterations: int = BROKER_HASH_ITERATIONS) -> str:
    """The secret as an MQTT broker's password file holds it (Mosquitto `$7$`).

    It cannot be derived from `secret_hash`, and the secret itself is never kept, so it is made
    (and stored beside `secret_hash`) whenever a secret is issued: registration, rotation, bulk load.
    """
    salt = salt if salt is not None else secrets.token_bytes(BROKER_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def create_device(
    session: Session,
    *,
    device_id: str,
    kind: str,
    name: str,
    lat: float | None,
    lon: float | None,
    area_id: str | None,
    now: datetime,
) -> tuple[Device, str]:
    """Register a device; returns it with its new secret, which is shown only this once."""
    if not is_valid_subject(SubjectKind.DEVICE, device_id):
        raise InvalidInput("device_id", f"{device_id!r} is not a device id (1 to 64 of A-Z a-z 0-9 _ . : -)")
    if kind not in set(DeviceKind):
        raise InvalidInput("kind", f"{kind!r} is not a device kind (one of {', '.join(DeviceKind)})")
    if area_id is not None and session.get(Area, area_id) is None:
        raise InvalidInput("area_id", f"there is no area {area_id!r}")
    if session.get(Device, device_id) is not None:
        raise Conflict("device_id", f"device {device_id} already exists")
    secret = secrets.token_urlsafe(32)
    device = Device(
        id=device_id,
        kind=kind,
        name=name,
        lat=lat,
        lon=lon,
        area_id=area_id,
        status=DeviceStatus.ACTIVE,
        secret_hash=hash_secret(secret),
        broker_hash=broker_hash(secret),
        registered_at=now,
    )
    session.add(device)
    session.flush()
    changed(session, DEVICES)
    return device, secret


def get_device(session: Session, *, device_id: str) -> Device | None:
    """The registered device with this id, if any."""
    return session.get(Device, device_id)


def rotate_device_secret(session: Session, *, device_id: str) -> str:
    """Give a device a new secret (the old one stops working at once; the device is active again)."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id)
    secret = secrets.token_urlsafe(32)
    device.secret_hash = hash_secret(secret)
    device.broker_hash = broker_hash(secret)
    device.status = DeviceStatus.ACTIVE
    changed(session, DEVICES)
    return secret


def revoke_device(session: Session, *, device_id: str) -> Device:
    """Disable a device and forget its secret: it cannot send until a new secret is issued."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id)
    device.status = DeviceStatus.DISABLED
    device.secret_hash = None
    device.broker_hash = None
    changed(session, DEVICES)
    return device


def broker_accounts(session: Session) -> list[tuple[str, str | None]]:
    """Every active device's id and broker password hash (None: its secret predates broker hashes)."""
    rows = session.execute(
        select(Device.id, Device.broker_hash).where(Device.status == DeviceStatus.ACTIVE).order_by(Device.id)
    )
    return [(device, hashed) for device, hashed in rows]


DEVICE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "device": pl.String,
    "device_kind": pl.String,
    "dev_lat": pl.Float64,
    "dev_lon": pl.Float64,
    "area": pl.String,
    "active": pl.Boolean,
    "secret_hash": pl.String,
}


def device_directory(session: Session) -> pl.DataFrame:
    """Every device with its place, area and state, for vectorised joins at ingest."""
    rows = session.execute(
        select(
            Device.id,
            Device.kind,
            Device.lat,
            Device.lon,
            Device.area_id,
            Device.status == DeviceStatus.ACTIVE,
            Device.secret_hash,
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=DEVICE_SCHEMA, orient="row")
