"""The MQTT broker's configuration: each device's own credentials, pinned to its own topics."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.ingest.broker import PLATFORM_USER, BrokerConfigError, write_broker_config
from safecity.registry.models import Device
from safecity.store import transaction

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PREFIX = "city/v1"


def _verifies(mosquitto_hash: str, secret: str) -> bool:
    """Check a `$7$` (PBKDF2-SHA512) hash the way Mosquitto does."""
    _, kind, iterations, salt, digest = mosquitto_hash.split("$")
    derived = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(iterations))
    return kind == "7" and base64.b64encode(derived).decode() == digest


def _device(factory: sessionmaker[Session], device_id: str) -> str:
    with transaction(factory) as session:
        _device_row, secret = registry.create_device(
            session,
            device_id=device_id,
            kind="rfid_station",
            name=device_id,
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=NOW,
        )
    return secret


def _passwords(out: Path) -> dict[str, str]:
    lines = (out / "password_file").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def test_each_device_gets_its_own_password_entry_made_when_its_secret_was_issued(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    secret_a, secret_b = _device(session_factory, "BS-A"), _device(session_factory, "BS-B")
    written = write_broker_config(session_factory, tmp_path, prefix=PREFIX)
    passwords = _passwords(tmp_path)
    assert set(passwords) == {"BS-A", "BS-B", PLATFORM_USER}
    assert _verifies(passwords["BS-A"], secret_a) and not _verifies(passwords["BS-A"], secret_b)
    assert _verifies(passwords["BS-B"], secret_b)
    assert _verifies(passwords[PLATFORM_USER], written.platform_password)
    assert written.devices == 2 and written.missing == ()
    assert stat.S_IMODE((tmp_path / "password_file").stat().st_mode) & 0o077 == 0, (
        "hashes are not world-readable"
    )


def test_a_device_may_publish_only_its_own_events_and_read_only_its_own_messages(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _device(session_factory, "BS-A")
    write_broker_config(session_factory, tmp_path, prefix=PREFIX)
    blocks = (tmp_path / "acl_file").read_text().split("\n\n")
    device_block = next(b for b in blocks if "user BS-A\n" in b)
    rules = [line for line in device_block.splitlines() if line.startswith("topic ")]
    assert rules == [
        f"topic write {PREFIX}/devices/BS-A/events",
        f"topic read {PREFIX}/devices/BS-A/commands",
        f"topic read {PREFIX}/devices/BS-A/results",
        f"topic read {PREFIX}/devices/BS-A/whitelist/#",
    ]
    platform_block = next(b for b in blocks if f"user {PLATFORM_USER}\n" in b)
    assert f"topic read {PREFIX}/devices/+/events" in platform_block
    assert f"topic write {PREFIX}/devices/+/commands" in platform_block
    assert f"topic write {PREFIX}/devices/+/whitelist/#" in platform_block
    assert "pattern" not in (tmp_path / "acl_file").read_text(), "no rule applies to every user"
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert (
        f"password_file {tmp_path / 'password_file'}" in conf and f"acl_file {tmp_path / 'acl_file'}" in conf
    )


def test_a_rotation_changes_the_entry_and_a_revoked_device_has_none(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    old = _device(session_factory, "BS-A")
    _device(session_factory, "BS-B")
    first = write_broker_config(session_factory, tmp_path, prefix=PREFIX)
    with transaction(session_factory) as session:
        new = registry.rotate_device_secret(session, device_id="BS-A")
        registry.revoke_device(session, device_id="BS-B")
    again = write_broker_config(session_factory, tmp_path, prefix=PREFIX)
    passwords = _passwords(tmp_path)
    assert _verifies(passwords["BS-A"], new) and not _verifies(passwords["BS-A"], old)
    assert "BS-B" not in passwords and "user BS-B\n" not in (tmp_path / "acl_file").read_text()
    assert again.platform_password == first.platform_password, "the platform's account survives a rewrite"


def test_a_device_registered_before_broker_hashes_is_named_to_rotate(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _device(session_factory, "BS-OLD")
    with transaction(session_factory) as session:  # as a row registered before migration 0010
        session.execute(update(Device).where(Device.id == "BS-OLD").values(broker_hash=None))
    written = write_broker_config(session_factory, tmp_path, prefix=PREFIX)
    assert written.missing == ("BS-OLD",) and written.devices == 0
    assert "BS-OLD" not in _passwords(tmp_path)


def test_a_device_named_like_the_platform_account_is_refused(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _device(session_factory, PLATFORM_USER)
    with pytest.raises(BrokerConfigError, match="platform"):
        write_broker_config(session_factory, tmp_path, prefix=PREFIX)
