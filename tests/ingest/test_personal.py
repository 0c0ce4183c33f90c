"""Personal identifiers reach the lake only as pseudonyms: the columns that can carry them, end to
end through the platform (pipeline and HTTP), joins with the registry and paths across a key rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.record import RECORD_SCHEMA
from safecity.ingest import IngestPipeline, Part
from safecity.ingest.personal import pseudonymise
from safecity.platform import Platform
from safecity.registry.models import Person
from safecity.security.keys import PseudonymKeys
from safecity.security.linkage import lake_subjects, person_subjects, resolve_pseudonym, rotate_pseudonym_key
from safecity.security.pseudonym import Pseudonymizer
from safecity.settings import Settings
from safecity.store import transaction
from tests.conftest import T0
from tests.ingest.conftest import ListSink, ndjson

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
OTHER_PHONE = "15912345678"
DOOR, SENSOR, HANDSET = "DC-000001", "PS-000001", "HS-000001"


def record(**over: Any) -> dict[str, Any]:
    """A record-schema row (after validation)."""
    return {**dict.fromkeys(RECORD_SCHEMA), "kind": "rfid_read", "subject_kind": "tag", **over}


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


# --- the batch transformation ---------------------------------------------------------------------


def test_object_sightings_and_telemetry_pass_untouched(pseudonymizer: Pseudonymizer) -> None:
    reads = frame(
        [record(event_id=f"r{i}", subject="00A1B2C3D4", attrs=f'{{"n":"{PHONE}"}}') for i in range(3)]
        + [record(event_id=f"h-{PHONE}", kind="heartbeat", subject_kind="device", subject=PHONE)]
    )
    assert pseudonymise(reads, pseudonymizer) is reads  # not even copied


def test_identity_and_phone_subjects_become_pseudonyms_and_nothing_else_moves(
    pseudonymizer: Pseudonymizer,
) -> None:
    batch = frame(
        [
            record(event_id="r1", subject="00A1B2C3D4"),
            record(event_id="d1", kind="door_swipe", subject_kind="id_card", subject=ID_NUMBER),
            record(event_id="r2", subject="00C0FFEE11"),
            record(event_id="p1", kind="phone_seen", subject_kind="phone", subject="8613800138000"),
            record(event_id="f1", kind="face_match", subject_kind="face", subject="FACE-0042"),
        ]
    )
    out = pseudonymise(batch, pseudonymizer)
    assert out["event_id"].to_list() == ["r1", "d1", "r2", "p1", "f1"]  # row order kept
    assert out["subject"].to_list() == [
        "00A1B2C3D4",
        pseudonymizer.pseudonym(ID_NUMBER),
        "00C0FFEE11",
        pseudonymizer.pseudonym("8613800138000"),  # any phone identity, not only mainland mobiles
        "FACE-0042",  # the recognition engine's own reference, matched by face watchlists
    ]


def test_numbers_written_into_ids_codes_and_attrs_are_pseudonymised_too(pseudonymizer: Pseudonymizer) -> None:
    swipe_id = f"DC-1-{ID_NUMBER}"
    batch = frame(
        [
            record(
                event_id=swipe_id,
                corr_id=swipe_id,
                kind="door_swipe",
                subject_kind="id_card",
                subject=ID_NUMBER,
                attrs=f'{{"card":"{ID_NUMBER.lower()}","tel":"{OTHER_PHONE}"}}',
            ),
            record(
                event_id="rep-1",
                kind="report",
                subject_kind="device",
                subject=HANDSET,
                code=f"caller {PHONE}",
            ),
            record(event_id="sos-1", kind="alarm", subject_kind="device", subject=PHONE, code="sos"),
            record(event_id="rep-17953353031201", kind="report", subject_kind="device", subject=HANDSET),
            record(event_id="f-1", kind="face_match", subject_kind="face", subject=f"F{PHONE}", code=PHONE),
            record(
                event_id="ic-1",
                kind="intercom",
                subject_kind="device",
                subject=None,
                code="answered",
                attrs=f'{{"flat":"3-201","forwarded_to":"{PHONE}"}}',
            ),
        ]
    )
    out = pseudonymise(batch, pseudonymizer).to_dicts()
    p_id, p_phone, p_other = (pseudonymizer.pseudonym(n) for n in (ID_NUMBER, PHONE, OTHER_PHONE))
    assert out[0]["event_id"] == out[0]["corr_id"] == f"DC-1-{p_id}"  # corr links still hold
    assert out[0]["attrs"] == f'{{"card":"{p_id}","tel":"{p_other}"}}'  # a lower-case x is the same number
    assert out[1]["code"] == f"caller {p_phone}"
    assert out[2]["subject"] == p_phone  # an event's subject is free-form
    assert out[3]["event_id"] == "rep-17953353031201"  # a long number that is no identifier is kept
    assert (out[4]["subject"], out[4]["code"]) == (f"F{PHONE}", p_phone)  # a face reference is kept
    assert (
        out[5]["attrs"] == f'{{"flat":"3-201","forwarded_to":"{p_phone}"}}'
    )  # a call put through to a phone


KINDS = {
    "rfid_read": "tag",
    "door_swipe": "id_card",
    "phone_seen": "phone",
    "alarm": "device",
    "count": "device",
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(KINDS)), st.sampled_from([ID_NUMBER, PHONE, OTHER_PHONE, "00A1B2C3D4"])
        ),
        max_size=30,
    )
)
def test_only_personal_subjects_change_whatever_the_mix(rows: list[tuple[str, str]]) -> None:
    pseudonymizer = Pseudonymizer(PseudonymKeys(1, {1: b"k" * 32}))
    batch = frame(
        [record(event_id=f"e{i}", kind=k, subject_kind=KINDS[k], subject=s) for i, (k, s) in enumerate(rows)]
    )
    out = pseudonymise(batch, pseudonymizer)
    assert out["event_id"].to_list() == batch["event_id"].to_list()
    expected = [
        pseudonymizer.pseudonym(s)
        if k in ("door_swipe", "phone_seen") or (k == "alarm" and s != "00A1B2C3D4")
        else s
        for k, s in rows
    ]
    assert out["subject"].to_list() == expected
    assert out.drop("subject").equals(batch.drop("subject"))


def test_ids_that_would_grow_past_64_characters_become_one_pseudonym(pseudonymizer: Pseudonymizer) -> None:
    long_id = f"{PHONE}-{PHONE[::-1]}-{OTHER_PHONE}-{'x' * 20}"
    batch = frame(
        [record(event_id=long_id, corr_id=long_id, kind="report", subject_kind="device", subject="H")]
    )
    out = pseudonymise(batch, pseudonymizer)
    assert out["event_id"][0] == out["corr_id"][0] == pseudonymizer.pseudonym(long_id)


def test_the_pipeline_publishes_and_stores_pseudonyms(pipeline: IngestPipeline, sink: ListSink) -> None:
    body = ndjson(
        [
            {
                "id": "d1",
                "kind": "door_swipe",
                "ts": "2026-11-22T07:59:00Z",
                "subject": ID_NUMBER,
                "device": "BS-000001",
            }
        ]
    )
    [result], records = pipeline.process([Part(body=body, device_id="BS-000001", source="http")])
    assert result.stored == 1
    assert records["subject"].to_list() == sink.all["subject"].to_list()
    assert Pseudonymizer.is_pseudonym(records["subject"][0])


# --- end to end ------------------------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform in tmp_path (SQLite, local lake, a key generated in <data_dir>/secrets)."""
    built = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(T0))
    yield built
    built.lake.close()
    built.engine.dispose()


def register(platform: Platform) -> dict[str, str]:
    """A door controller, a phone sensor and a bike owner; returns the devices' secrets."""
    secrets = {}
    with transaction(platform.session_factory) as session:
        for device, kind in ((DOOR, "door_controller"), (SENSOR, "rfid_station")):
            _, secrets[device] = registry.create_device(
                session, device_id=device, kind=kind, name=device, lat=28.0, lon=120.7, area_id=None, now=T0
            )
        registry.register_bike(
            session,
            reg=registry.BikeRegistration("00A1B2C3D4", "F-1", "Yadea", "red", ID_NUMBER, "Zhang Wei", PHONE),
            by="clerk",
            now=T0,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
    platform.devices.invalidate()
    return secrets


def swipe(i: int, ts: str = "2026-11-22T07:59:00Z") -> dict[str, Any]:
    """A door swipe as a naive controller sends it: the card number in the id and the extras."""
    return {
        "id": f"{DOOR}-{ID_NUMBER}-{i}",
        "kind": "door_swipe",
        "ts": ts,
        "device": DOOR,
        "subject": ID_NUMBER,
        "attrs": {"card": ID_NUMBER, "holder_phone": PHONE},
    }


def seen(i: int) -> dict[str, Any]:
    return {
        "id": f"{SENSOR}-{i}",
        "kind": "phone_seen",
        "ts": "2026-11-22T07:59:30Z",
        "device": SENSOR,
        "subject": PHONE,
    }


def assert_no_raw_numbers(platform: Platform) -> None:
    """Neither in any file's bytes under the lake folder nor, decoded, in any text cell."""
    files = [p for p in sorted(platform.settings.resolved_lake_dir.rglob("*")) if p.is_file()]
    tables = [pl.read_parquet(p) for p in files if p.suffix == ".parquet"]
    assert tables and sum(t.height for t in tables)
    data = b"".join(p.read_bytes() for p in files)
    for number in (ID_NUMBER, ID_NUMBER.lower(), PHONE):
        assert number.encode() not in data
        for table in tables:
            text = table.select(pl.col(pl.String).str.contains(number, literal=True).any())
            assert not any(text.row(0)), number


def test_swipes_and_phones_reach_the_lake_only_as_pseudonyms(platform: Platform) -> None:
    register(platform)
    body = ndjson([swipe(1), swipe(2), seen(1)])
    [result], _ = platform.ingest.process([Part(body=body, device_id=None, source="replay")])
    assert (result.stored, result.rejected) == (3, [])
    platform.lake.compact(min_files=1)
    assert_no_raw_numbers(platform)

    with platform.session_factory() as session:
        person = session.scalars(select(Person)).one()
        subjects = person_subjects(session, platform.pseudonyms, person.id)
    start, end = T0.replace(hour=0), T0
    swipes = platform.lake.path(subject_kind="id_card", subject=subjects["id_card"], start=start, end=end)
    phones = platform.lake.path(subject_kind="phone", subject=subjects["phone"], start=start, end=end)
    assert swipes.height == 2 and phones.height == 1
    assert set(swipes["subject"]) == {person.id_pseudonym}  # the registry joins on the lake subject
    assert set(phones["subject"]) == {person.phone_pseudonym}


def test_http_ingest_stores_only_pseudonyms(platform: Platform) -> None:
    from safecity.web.app import create_app

    secrets = register(platform)
    with TestClient(create_app(platform)) as api:
        answer = api.post("/api/v1/ingest", content=ndjson([swipe(1)]), auth=(DOOR, secrets[DOOR]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["stored"] == 1
    assert_no_raw_numbers(platform)


def test_a_path_spans_a_key_rotation(platform: Platform, tmp_path: Path) -> None:
    register(platform)
    platform.ingest.process(
        [Part(body=ndjson([swipe(1, "2026-11-21T09:00:00Z")]), device_id=None, source="replay")]
    )
    old = platform.lake.path(
        subject_kind="id_card",
        subject=platform.pseudonyms.pseudonym(ID_NUMBER),
        start=T0.replace(day=20),
        end=T0,
    )
    assert old.height == 1

    rotation = rotate_pseudonym_key(platform.settings.resolved_pseudonym_key_file, platform.session_factory)
    assert (rotation.previous, rotation.current, rotation.people) == (1, 2, 1)
    platform.lake.close()
    platform.engine.dispose()
    after = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(T0))  # a restart: the new key
    after.ingest.process([Part(body=ndjson([swipe(2)]), device_id=None, source="replay")])

    wanted = lake_subjects(after.pseudonyms, "id_card", ID_NUMBER)
    path = after.lake.path(subject_kind="id_card", subject=wanted, start=T0.replace(day=20), end=T0)
    assert path["subject"].to_list() == [old["subject"][0], after.pseudonyms.pseudonym(ID_NUMBER)]
    assert [Pseudonymizer.version_of(s) for s in path["subject"]] == [1, 2]
    with after.session_factory() as session:
        person = session.scalars(select(Person)).one()
        assert person.id_pseudonym == path["subject"][1]  # the registry is under the new key
        assert [resolve_pseudonym(session, after.pseudonyms, s) for s in path["subject"]] == [person.id] * 2
    after.lake.close()
    after.engine.dispose()
