"""Retention of what the tracking capability records about elderly wearers (SQLite and PostgreSQL).

As of 2026-11-22 with the packaged policy (365 days each), reports closed and enrolments ended
before 2025-11-22 are due; open reports, live enrolments and recent ends are kept, and a wearer
still named by a kept report waits for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.lake import Lake
from safecity.registry.models import Area, Device, Person
from safecity.security.audit import Actor
from safecity.security.models import AuditRecord
from safecity.security.retention import DEFAULT_RETENTION_FILE, RetentionError, load_policy, parse_policy
from safecity.security.retention_run import APPLIED, apply_retention, plan_retention
from safecity.store import transaction
from safecity.tracking.missing_models import MissingReport, MissingStatus
from safecity.tracking.models import Consent, Guardian, SafeZone, Wearer, WearerStatus, WornTracker
from tests.conftest import T0

AS_OF = T0.date()  # 2026-11-22: the cutoff of 365 days is 2025-11-22
OLD = datetime(2025, 6, 1, tzinfo=UTC)  # before the cutoff
RECENT = datetime(2026, 6, 1, tzinfo=UTC)  # after it
OPERATOR = Actor("os:ops", "system", "command line", "cli")


def _wearer(s: Session, wearer_id: int, *, ended: datetime | None) -> None:
    """A wearer (person 100 + id) with a tracker, a guardian (person 200 + id), a consent, a zone."""
    s.add(
        Person(
            id=100 + wearer_id,
            id_number=f"33030219400101{wearer_id:04d}",
            name=f"W{wearer_id}",
            created_at=OLD,
        )
    )
    s.add(
        Person(
            id=200 + wearer_id,
            id_number=f"33030219700101{wearer_id:04d}",
            name=f"G{wearer_id}",
            created_at=OLD,
        )
    )
    s.add(Device(id=f"TRK-{wearer_id}", kind="tracker", name="locator", registered_at=OLD))
    s.flush()
    status = WearerStatus.ENDED if ended else WearerStatus.ACTIVE
    s.add(
        Wearer(
            id=wearer_id,
            person_id=100 + wearer_id,
            area_id="330302",
            notes="dementia; walks to the old market",
            status=status,
            enrolled_at=OLD,
            enrolled_by="officer",
            ended_at=ended,
            ended_by="officer" if ended else None,
        )
    )
    s.flush()
    s.add(WornTracker(wearer_id=wearer_id, device_id=f"TRK-{wearer_id}", added_at=OLD))
    s.add(
        Guardian(
            wearer_id=wearer_id,
            person_id=200 + wearer_id,
            relation="daughter",
            phone="13900000000",
            added_at=OLD,
            added_by="officer",
        )
    )
    s.add(
        Consent(
            wearer_id=wearer_id,
            given_by_person_id=200 + wearer_id,
            given_by_name=f"G{wearer_id}",
            capacity="guardian",
            basis="form 1",
            given_at=OLD,
            recorded_by="officer",
            recorded_at=OLD,
        )
    )
    s.add(
        SafeZone(
            wearer_id=wearer_id,
            name="home",
            shape="circle",
            lat=28.0,
            lon=120.7,
            radius_m=300,
            set_at=OLD,
            set_by="officer",
        )
    )


def _report(
    s: Session, report_id: int, wearer_id: int, status: MissingStatus, closed: datetime | None
) -> None:
    s.add(
        MissingReport(
            id=report_id,
            wearer_id=wearer_id,
            status=status,
            area_id="330302",
            reported_at=OLD,
            reported_by="guardian",
            reporter_role="citizen",
            circumstances="left after lunch",
            closed_at=closed,
            closed_by="officer" if closed else None,
        )
    )


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(session_factory) as s:
        s.add(Area(id="330302", kind="district", name="Lucheng"))
        s.flush()
        _wearer(s, 1, ended=OLD)  # due, with everything recorded about them
        _wearer(s, 2, ended=RECENT)  # ended within the year: kept
        _wearer(s, 3, ended=None)  # enrolled: kept, but a guardian removed long ago goes
        _wearer(s, 4, ended=OLD)  # ended long ago, but a report naming them is kept: waits
        _wearer(s, 5, ended=None)
        s.flush()
        s.add(
            Guardian(
                wearer_id=3,
                person_id=101,
                relation="son",
                phone="13800000000",
                added_at=OLD,
                added_by="officer",
                removed_at=OLD,
                removed_by="officer",
            )
        )
        _report(s, 1, 1, MissingStatus.FOUND, OLD)  # closed long ago: goes (and frees wearer 1)
        _report(s, 2, 4, MissingStatus.FOUND, RECENT)  # closed within the year: kept
        _report(s, 3, 5, MissingStatus.OPEN, None)  # open, however old: kept
        _report(s, 4, 5, MissingStatus.WITHDRAWN, OLD)  # withdrawn long ago: goes
    return session_factory


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    store = Lake(tmp_path / "lake")
    yield store
    store.close()


def ids(factory: sessionmaker[Session], column: object) -> set[object]:
    with factory() as s:
        return set(s.scalars(select(column)))  # type: ignore[call-overload]


def test_ended_enrolments_and_closed_reports_go_in_time_and_the_rest_is_kept(
    seeded: sessionmaker[Session], lake: Lake
) -> None:
    policy = load_policy(DEFAULT_RETENTION_FILE)
    plan = plan_retention(seeded, lake, policy, as_of=AS_OF)
    assert ids(seeded, Wearer.id) == {1, 2, 3, 4, 5}  # a plan deletes nothing

    report = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR)

    expected = {
        "missing_reports": 2,
        "worn_trackers": 1,
        "guardians": 2,  # wearer 1's, and the son removed from wearer 3
        "wearer_consents": 1,
        "safe_zones": 1,
        "wearers": 1,
    }
    assert {k: v for k, v in report.registry.items() if k in expected} == expected
    assert {k: v for k, v in plan.registry.items() if k in expected} == expected
    assert ids(seeded, MissingReport.id) == {2, 3}
    assert ids(seeded, Wearer.id) == {2, 3, 4, 5}
    for child in (WornTracker.wearer_id, Consent.wearer_id, SafeZone.wearer_id):
        assert ids(seeded, child) == {2, 3, 4, 5}
    assert ids(seeded, Guardian.person_id) == {202, 203, 204, 205}
    # The people are the registry's (other records may name them): not deleted here.
    assert {101, 201} <= ids(seeded, Person.id)
    with seeded() as s:
        audited = s.scalars(select(AuditRecord).where(AuditRecord.action == APPLIED)).one()
    assert audited.result_count == report.total_rows >= sum(expected.values())


def test_ended_wearers_may_not_go_before_the_reports_that_name_them() -> None:
    text = DEFAULT_RETENTION_FILE.read_text().replace("ended_wearers: 365", "ended_wearers: 30")
    with pytest.raises(RetentionError) as refused:
        parse_policy(text)
    assert refused.value.problems == [
        "registry.ended_wearers: 30 days is shorter than registry.closed_missing_reports (365 days),"
        " but a missing-person report names its wearer"
    ]
