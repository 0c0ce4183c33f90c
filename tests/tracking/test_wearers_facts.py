"""The wearers' facts: which records are a wearer's, on every ingest path, and who is watched at all."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.security.pseudonym import Pseudonymizer
from safecity.tracking.wearer_facts import ROW, WearerFacts
from safecity.tracking.wearers import Wearers
from tests.conftest import T0
from tests.tracking.wearerfix import OFFICER, ListRecorder, Records, home_zone, seed_city, wearer_in


@pytest.fixture
def wearers(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> Wearers:
    seed_city(session_factory)
    return Wearers(session_factory, ListRecorder(), now=lambda: T0, pseudonymize=pseudonymizer.pseudonym)


def test_records_of_every_path_are_matched_to_the_wearer_by_their_device(
    session_factory: sessionmaker[Session], wearers: Wearers
) -> None:
    first = wearers.enrol(OFFICER, wearer_in(1, devices=("TRK-1", "TRK-2")), resource="/t")
    second = wearers.enrol(OFFICER, wearer_in(2, devices=("TRK-4",)), resource="/t")
    facts = WearerFacts(session_factory)
    batch = Records()(
        [
            {"device": "TRK-1", "subject": "864717003283581"},  # a GT06 fix: the IMEI is its subject
            {"device": "TRK-1", "kind": "alarm", "subject_kind": "device", "subject": "TRK-1", "code": "sos"},
            {"device": "TRK-2", "kind": "heartbeat", "subject_kind": "device", "subject": "TRK-2"},
            {"device": "TRK-4", "subject": "TRK-4", "source": "mqtt"},  # a JSON tracker naming itself
            {"device": "TRK-3"},  # worn by nobody
            {"device": "BS-1", "kind": "rfid_read", "subject_kind": "tag", "subject": "E0A1B2C3"},
        ]
    )

    rows, view = facts.matched(batch)

    wearer_of = [view.wearer_ids[r] for r in rows[ROW].to_list()]
    assert rows["event_id"].to_list() == ["r1", "r2", "r3", "r4"]
    assert wearer_of == [first.id, first.id, first.id, second.id]
    assert set(rows["area"].to_list()) == {"C1"}  # the wearer's area, not where the record was placed
    assert facts.matched(batch)[0] is rows  # once per batch, shared by the rules
    assert view.zone_names[view.row_of[first.id]] == ("home",)


def test_only_active_wearers_with_consent_in_force_are_watched(
    session_factory: sessionmaker[Session], wearers: Wearers
) -> None:
    kept = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    ended = wearers.enrol(OFFICER, wearer_in(2, devices=("TRK-2",)), resource="/t")
    unconsented = wearers.enrol(OFFICER, wearer_in(3, devices=("TRK-3",), safe_zones=[]), resource="/t")
    wearers.end(OFFICER, ended.id, resource="/t")
    [given] = wearers.consents(OFFICER, unconsented.id, resource="/t")
    wearers.withdraw_consent(OFFICER, unconsented.id, given.id, resource="/t")
    facts = WearerFacts(session_factory)

    view = facts.view()

    assert view.wearer_ids == [kept.id]
    assert view.devices.rows() == [("TRK-1", 0)]
    assert facts.matched(Records()([{"device": d} for d in ("TRK-2", "TRK-3")]))[0].height == 0


def test_a_change_reaches_the_view_after_invalidate_with_a_new_version(
    session_factory: sessionmaker[Session], wearers: Wearers
) -> None:
    facts = WearerFacts(session_factory)
    before = facts.view()
    assert len(before) == 0 and facts.view() is before  # cached

    wearers.enrol(
        OFFICER, wearer_in(1, safe_zones=[home_zone(), home_zone(name="park", lat=28.01)]), resource="/t"
    )
    facts.invalidate()  # what RegistryChanged("wearers") does
    after = facts.view()

    assert after.version > before.version and after.names == ["Wearer 1"]
    assert len(after.zones[0]) == 2
    assert after.safe_zones().subjects == 1
    assert isinstance(after.devices, pl.DataFrame) and facts.depends_on == frozenset({"wearers"})
