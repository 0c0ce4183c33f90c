"""The wearer use cases: enrolment with consent, guardians, consents, safe zones, reach and audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.errors import AccessDenied
from safecity.security.pseudonym import Pseudonymizer
from safecity.store.announce import deliver_after_commit
from safecity.tracking.errors import InvalidGeometry, TrackingError
from safecity.tracking.models import Guardian
from safecity.tracking.wearer_errors import WearerConflict, WearerNotFound
from safecity.tracking.wearer_schemas import SafeZonesIn, ZoneIn
from safecity.tracking.wearers import Wearers
from tests.conftest import T0
from tests.tracking.wearerfix import (
    OFFICER,
    PATROL,
    ListRecorder,
    consent,
    guardian,
    guardian_context,
    home_zone,
    seed_city,
    wearer_in,
)


@pytest.fixture
def recorder() -> ListRecorder:
    return ListRecorder()


@pytest.fixture
def wearers(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer, recorder: ListRecorder
) -> Wearers:
    seed_city(session_factory)
    return Wearers(session_factory, recorder, now=lambda: T0, pseudonymize=pseudonymizer.pseudonym)


def _guardian_person(session_factory: sessionmaker[Session], wearer_id: int) -> int:
    with session_factory() as session:
        person = session.scalar(select(Guardian.person_id).where(Guardian.wearer_id == wearer_id))
        assert person is not None
        return person


def test_an_officer_enrols_a_wearer_with_consent_guardian_and_home_and_it_is_audited(
    wearers: Wearers, recorder: ListRecorder
) -> None:
    out = wearers.enrol(OFFICER, wearer_in(1, devices=("TRK-1", "TRK-2")), resource="/t")

    assert (out.name, out.area_id, out.device_ids, out.status) == (
        "Wearer 1",
        "C1",
        ["TRK-1", "TRK-2"],
        "active",
    )
    assert out.consent_in_force is True
    assert out.id_number.startswith("330302") and "*" in out.id_number  # masked
    detail = wearers.wearer(PATROL, out.id, resource="/t")
    assert [(g.name, g.relation) for g in detail.guardians] == [("Guardian 101", "daughter")]
    assert detail.guardians[0].phone != "13900000001"  # masked
    assert [(z.name, z.shape, z.radius_m) for z in detail.safe_zones] == [("home", "circle", 200.0)]
    assert [(c.given_by_name, c.capacity, c.withdrawn_at) for c in detail.consents] == [
        ("Chen Jie", "guardian", None)
    ]
    assert recorder.actions() == ["wearers.enrol", "wearers.read"]
    assert recorder.entries[0].status == 201
    assert len(recorder.entries[0].subjects) == 2  # the wearer and the guardian
    assert recorder.entries[1].purpose == "elderly locator care"


def test_enrolment_outside_the_officers_areas_is_refused(wearers: Wearers) -> None:
    with pytest.raises(AccessDenied) as refused:
        wearers.enrol(OFFICER, wearer_in(1, devices=("TRK-9",), area="C2"), resource="/t")
    assert refused.value.code == "outside_area"


@pytest.mark.parametrize(
    ("devices", "error", "field"),
    [
        (("BS-1",), TrackingError, "device_ids.0"),  # a base station, not a tracker
        (("TRK-1", "NOPE"), TrackingError, "device_ids.1"),
        (("TRK-1", "TRK-1"), TrackingError, "device_ids"),
    ],
)
def test_trackers_that_cannot_be_worn_are_refused_naming_the_field(
    wearers: Wearers, devices: tuple[str, ...], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as refused:
        wearers.enrol(OFFICER, wearer_in(1, devices=devices), resource="/t")
    assert getattr(refused.value, "field", None) == field


def test_a_tracker_worn_by_one_wearer_cannot_be_given_to_another_until_the_first_ends(
    wearers: Wearers,
) -> None:
    first = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    with pytest.raises(WearerConflict) as refused:
        wearers.enrol(OFFICER, wearer_in(2), resource="/t")
    assert refused.value.field == "device_ids.0"

    wearers.end(OFFICER, first.id, resource="/t")

    assert wearers.enrol(OFFICER, wearer_in(2), resource="/t").device_ids == ["TRK-1"]


def test_a_person_is_enrolled_once(wearers: Wearers) -> None:
    wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    with pytest.raises(WearerConflict) as refused:
        wearers.enrol(OFFICER, wearer_in(1, devices=("TRK-2",)), resource="/t")
    assert refused.value.field == "id_number"


def test_a_bad_polygon_is_refused_naming_the_zone_and_nothing_is_stored(wearers: Wearers) -> None:
    bowtie = [(120.0, 28.0), (120.01, 28.01), (120.01, 28.0), (120.0, 28.01), (120.0, 28.0)]
    body = wearer_in(1, safe_zones=[home_zone(), ZoneIn(name="park", ring=bowtie)])

    with pytest.raises(InvalidGeometry) as refused:
        wearers.enrol(OFFICER, body, resource="/t")

    assert refused.value.field == "safe_zones.1.ring"
    assert "Self-intersection" in refused.value.message
    assert wearers.wearers(OFFICER, resource="/t") == []


@pytest.mark.parametrize(
    ("zone", "field"),
    [
        (ZoneIn(name="day centre", lat=28.0, lon=120.65, radius_m=0), "zones.0.radius_m"),
        (ZoneIn(name="open", ring=[(120.0, 28.0), (120.01, 28.0), (120.01, 28.01)]), "zones.0.ring"),
        (home_zone(hours=["08:00-25:00"]), "zones.0.hours.0"),
        (ZoneIn(name="moon", lat=95.0, lon=120.65, radius_m=10), "zones.0.centre"),
    ],
)
def test_safe_zones_the_kernels_refuse_are_422_naming_the_field(
    wearers: Wearers, zone: ZoneIn, field: str
) -> None:
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    with pytest.raises(InvalidGeometry) as refused:
        wearers.set_safe_zones(OFFICER, wearer.id, SafeZonesIn(zones=[zone]), resource="/t")
    assert (refused.value.status, refused.value.field) == (422, field)
    assert [z.name for z in wearers.safe_zones(OFFICER, wearer.id, resource="/t")] == ["home"]


def test_setting_safe_zones_replaces_them_with_daily_windows(wearers: Wearers) -> None:
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    ring = [(120.64, 27.99), (120.66, 27.99), (120.66, 28.01), (120.64, 28.01), (120.64, 27.99)]
    zones = SafeZonesIn(zones=[ZoneIn(name="village", ring=ring, hours=["07:00-19:00"])])

    out = wearers.set_safe_zones(OFFICER, wearer.id, zones, resource="/t")

    assert [(z.name, z.shape, z.hours, len(z.ring or [])) for z in out] == [
        ("village", "polygon", ["07:00-19:00"], 5)
    ]
    assert wearers.safe_zones(OFFICER, wearer.id, resource="/t") == out


def test_a_guardian_reads_only_the_wearers_they_guard(
    wearers: Wearers, session_factory: sessionmaker[Session]
) -> None:
    mine = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    other = wearers.enrol(OFFICER, wearer_in(2, devices=("TRK-2",)), resource="/t")
    me = guardian_context(_guardian_person(session_factory, mine.id))

    assert [w.id for w in wearers.wearers(me, resource="/t")] == [mine.id]
    assert wearers.wearer(me, mine.id, resource="/t").id == mine.id
    for refused_id in (other.id, 9999):  # another's wearer and no wearer at all: the same answer
        with pytest.raises(AccessDenied) as refused:
            wearers.wearer(me, refused_id, resource="/t")
        assert refused.value.code == "forbidden"
    unlinked = guardian_context(None)  # a citizen account not linked to a person guards nobody
    assert wearers.wearers(unlinked, resource="/t") == []
    with pytest.raises(AccessDenied):
        wearers.wearer(unlinked, mine.id, resource="/t")


def test_a_removed_guardian_no_longer_reads_the_wearer(
    wearers: Wearers, session_factory: sessionmaker[Session]
) -> None:
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    added = wearers.add_guardian(OFFICER, wearer.id, guardian(200, "13900000002"), resource="/t")
    son = guardian_context(added.person_id)
    assert wearers.wearer(son, wearer.id, resource="/t").id == wearer.id

    wearers.remove_guardian(OFFICER, wearer.id, added.id, resource="/t")

    with pytest.raises(AccessDenied):
        wearers.wearer(son, wearer.id, resource="/t")
    assert [g.person_id for g in wearers.guardians(OFFICER, wearer.id, resource="/t")] != [added.person_id]
    with pytest.raises(WearerConflict):
        wearers.remove_guardian(OFFICER, wearer.id, added.id, resource="/t")
    with pytest.raises(WearerConflict):  # the first guardian again
        wearers.add_guardian(OFFICER, wearer.id, guardian(101), resource="/t")


def test_officers_reach_wearers_of_their_areas_only(wearers: Wearers, pseudonymizer: Pseudonymizer) -> None:
    from safecity.core.context import SYSTEM

    inside = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    outside = wearers.enrol(SYSTEM, wearer_in(2, devices=("TRK-9",), area="C2"), resource="/t")

    assert [w.id for w in wearers.wearers(PATROL, resource="/t")] == [inside.id]
    assert {w.id for w in wearers.wearers(SYSTEM, resource="/t")} == {inside.id, outside.id}
    with pytest.raises(AccessDenied) as refused:
        wearers.wearer(PATROL, outside.id, resource="/t")
    assert refused.value.code == "outside_area"
    with pytest.raises(AccessDenied):
        wearers.add_guardian(PATROL, inside.id, guardian(300), resource="/t")  # reads, may not manage
    with pytest.raises(WearerNotFound):
        wearers.wearer(PATROL, 9999, resource="/t")


def test_consent_is_recorded_and_withdrawn_and_the_wearer_says_so(wearers: Wearers) -> None:
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    first = wearers.consents(OFFICER, wearer.id, resource="/t")[0]

    second = wearers.record_consent(OFFICER, wearer.id, consent(901), resource="/t")
    wearers.withdraw_consent(OFFICER, wearer.id, first.id, resource="/t")
    assert wearers.wearer(OFFICER, wearer.id, resource="/t").consent_in_force is True
    withdrawn = wearers.withdraw_consent(OFFICER, wearer.id, second.id, resource="/t")

    assert withdrawn.withdrawn_at == T0
    assert wearers.wearer(OFFICER, wearer.id, resource="/t").consent_in_force is False
    with pytest.raises(WearerConflict):
        wearers.withdraw_consent(OFFICER, wearer.id, second.id, resource="/t")
    with pytest.raises(WearerNotFound):
        wearers.withdraw_consent(OFFICER, wearer.id, 9999, resource="/t")


def test_a_consent_dated_in_the_future_is_refused(wearers: Wearers) -> None:
    from datetime import timedelta

    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    later = consent().model_copy(update={"given_at": T0 + timedelta(days=1)})
    with pytest.raises(TrackingError) as refused:
        wearers.record_consent(OFFICER, wearer.id, later, resource="/t")
    assert refused.value.field == "given_at"


def test_every_change_announces_that_wearers_changed(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    seed_city(session_factory)
    announced: list[object] = []
    wearers = Wearers(session_factory, ListRecorder(), now=lambda: T0, pseudonymize=pseudonymizer.pseudonym)
    deliver_after_commit(session_factory, announced.extend)
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    wearers.set_safe_zones(OFFICER, wearer.id, SafeZonesIn(zones=[]), resource="/t")
    wearers.wearer(OFFICER, wearer.id, resource="/t")  # a read announces nothing
    assert [getattr(e, "what", None) for e in announced] == ["wearers", "wearers"]
