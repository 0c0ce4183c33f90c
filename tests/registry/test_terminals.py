"""Tracker terminals bound to devices: registration, look-up and JT/T 808 codes (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from tests.conftest import T0

IMEI = "864717003283581"


@pytest.fixture
def tracker(session_factory: sessionmaker[Session]) -> str:
    with session_factory() as s, s.begin():
        registry.create_device(
            s, device_id="TRK-0001", kind="tracker", name="Locator", lat=None, lon=None, area_id=None, now=T0
        )
        registry.create_device(
            s,
            device_id="BS-1",
            kind="rfid_station",
            name="Station",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=T0,
        )
    return "TRK-0001"


def test_a_bound_terminal_is_found_with_its_device_and_time_zone(
    session_factory: sessionmaker[Session], tracker: str
) -> None:
    with session_factory() as s, s.begin():
        registry.register_terminal(
            s, device_id=tracker, protocol="gt06", terminal=IMEI, now=T0, utc_offset_minutes=480
        )
    with session_factory() as s:
        entry = registry.get_terminal(s, "gt06", IMEI)
        assert registry.get_terminal(s, "jt808", IMEI) is None  # bound per protocol

    assert entry is not None
    assert (entry.device_id, entry.utc_offset_minutes, entry.active, entry.auth_code_hash) == (
        tracker,
        480,
        True,
        None,
    )


def test_a_revoked_device_makes_its_terminal_inactive(
    session_factory: sessionmaker[Session], tracker: str
) -> None:
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=tracker, protocol="gt06", terminal=IMEI, now=T0)
        registry.revoke_device(s, device_id=tracker)
    with session_factory() as s:
        entry = registry.get_terminal(s, "gt06", IMEI)

    assert entry is not None
    assert not entry.active


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"protocol": "tk103"}, registry.InvalidInput),
        ({"terminal": "86471700328358a"}, registry.InvalidInput),
        ({"terminal": "123"}, registry.InvalidInput),
        ({"utc_offset_minutes": 900}, registry.InvalidInput),
        ({"device_id": "BS-1"}, registry.InvalidInput),  # not a tracker
        ({"device_id": "TRK-9999"}, registry.NotFound),
    ],
)
def test_a_bad_binding_is_refused(
    session_factory: sessionmaker[Session], tracker: str, kwargs: dict[str, object], error: type[Exception]
) -> None:
    args: dict[str, object] = {"device_id": tracker, "protocol": "gt06", "terminal": IMEI, "now": T0}
    with session_factory() as s, s.begin(), pytest.raises(error):
        registry.register_terminal(s, **args | kwargs)  # type: ignore[arg-type]


def test_a_terminal_is_bound_once(session_factory: sessionmaker[Session], tracker: str) -> None:
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=tracker, protocol="jt808", terminal="013511221122", now=T0)
    with session_factory() as s, s.begin(), pytest.raises(registry.Conflict):
        registry.register_terminal(s, device_id=tracker, protocol="jt808", terminal="013511221122", now=T0)


def test_only_the_last_issued_code_is_valid_and_only_its_hash_is_kept(
    session_factory: sessionmaker[Session], tracker: str
) -> None:
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=tracker, protocol="jt808", terminal="013511221122", now=T0)
        first = registry.issue_auth_code(s, "jt808", "013511221122", now=T0)
        second = registry.issue_auth_code(s, "jt808", "013511221122", now=T0)
    with session_factory() as s:
        entry = registry.get_terminal(s, "jt808", "013511221122")

    assert entry is not None
    assert first != second
    assert entry.auth_code_hash not in (None, first, second)
    assert registry.is_auth_code_valid(second, entry)
    assert not registry.is_auth_code_valid(first, entry)


def test_a_revoked_code_is_valid_no_more_until_a_new_one_is_issued(
    session_factory: sessionmaker[Session], tracker: str
) -> None:
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=tracker, protocol="jt808", terminal="013511221122", now=T0)
        code = registry.issue_auth_code(s, "jt808", "013511221122", now=T0)
        registry.revoke_auth_code(s, "jt808", "013511221122")
        registry.revoke_auth_code(s, "jt808", "019999999999")  # not bound: nothing to revoke
    with session_factory() as s:
        revoked = registry.get_terminal(s, "jt808", "013511221122")
    with session_factory() as s, s.begin():
        fresh = registry.issue_auth_code(s, "jt808", "013511221122", now=T0)
    with session_factory() as s:
        entry = registry.get_terminal(s, "jt808", "013511221122")

    assert revoked is not None and revoked.auth_code_hash is None
    assert not registry.is_auth_code_valid(code, revoked)
    assert entry is not None and registry.is_auth_code_valid(fresh, entry)


class Entries:
    """An audit trail in memory."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, who: Context, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)


def test_binding_through_the_use_case_checks_reach_and_is_audited(
    session_factory: sessionmaker[Session], tracker: str
) -> None:
    trail = Entries()
    use_cases = registry.Registry(
        session_factory,
        trail,
        now=lambda: T0,
        pseudonymize=lambda values: values,
        expand=lambda areas: set(areas),
    )
    admin = Context(actor="admin", role="admin", city_wide=True)
    outsider = Context(actor="o", role="officer", areas=frozenset({"C9"}))

    use_cases.bind_terminal(
        admin, tracker, protocol="gt06", terminal=IMEI, utc_offset_minutes=480, resource="/devices/TRK-0001"
    )
    with pytest.raises(AccessDenied):
        use_cases.bind_terminal(
            outsider, tracker, protocol="jt808", terminal="013511221122", utc_offset_minutes=0, resource="r"
        )

    [entry] = trail.entries
    assert (entry.action, entry.detail) == (
        "devices.bind_terminal",
        {"device": tracker, "protocol": "gt06", "terminal": IMEI},
    )
    with session_factory() as s:
        assert registry.get_terminal(s, "jt808", "013511221122") is None
