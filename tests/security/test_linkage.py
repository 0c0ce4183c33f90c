"""People and their pseudonyms (SQLite and PostgreSQL): registration, lake subjects, resolving a
pseudonym back to a person under any key held, and re-keying the registry on rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.registry.models import Person
from safecity.security.keys import load_pseudonym_keys
from safecity.security.linkage import (
    lake_subjects,
    people_to_refresh,
    person_subjects,
    refresh_registry,
    resolve_pseudonym,
    rotate_pseudonym_key,
)
from safecity.security.pseudonym import Pseudonymizer

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
OWNERS = [("11010519491231002X", "13800138000"), ("330302199001010013", None)]


def register_owners(factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> list[int]:
    ids = []
    with factory() as session, session.begin():
        for i, (id_number, phone) in enumerate(OWNERS):
            reg = registry.BikeRegistration(
                f"00A1B2C3D{i}", f"F-{i}", "Yadea", "red", id_number, f"P{i}", phone
            )
            bike = registry.register_bike(
                session, reg=reg, by="clerk", now=NOW, pseudonymize=pseudonymizer.pseudonym
            )
            ids.append(bike.owner_id)
    return ids


def test_registering_an_owner_stores_the_pseudonyms_of_their_numbers(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    first, second = register_owners(session_factory, pseudonymizer)
    with session_factory() as session:
        person = session.get(Person, first)
        assert person is not None
        assert person.id_pseudonym == pseudonymizer.pseudonym("11010519491231002X")
        assert person.phone_pseudonym == pseudonymizer.pseudonym("13800138000")
        assert session.get(Person, second).phone_pseudonym is None  # type: ignore[union-attr]
        assert resolve_pseudonym(session, pseudonymizer, person.id_pseudonym) == first
        assert resolve_pseudonym(session, pseudonymizer, person.phone_pseudonym) == first
        assert resolve_pseudonym(session, pseudonymizer, pseudonymizer.pseudonym("nobody")) is None
        assert resolve_pseudonym(session, pseudonymizer, "11010519491231002X") is None  # not a pseudonym
        assert person_subjects(session, pseudonymizer, first) == {
            "id_card": [person.id_pseudonym],
            "phone": [person.phone_pseudonym],
        }


def test_lake_subjects_cover_every_key_version_for_numbers_only(pseudonymizer: Pseudonymizer) -> None:
    rotated = Pseudonymizer(pseudonymizer.keys.rotated())
    assert lake_subjects(rotated, "id_card", " 11010519491231002x ") == rotated.all_versions(
        "11010519491231002X"
    )
    assert len(lake_subjects(rotated, "phone", "13800138000")) == 2
    given = rotated.pseudonym("13800138000")
    assert lake_subjects(rotated, "phone", given) == [given]
    assert lake_subjects(rotated, "tag", "00A1B2C3D4") == ["00A1B2C3D4"]


def test_rotation_rekeys_the_registry_and_old_pseudonyms_still_resolve(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer, tmp_path: Path
) -> None:
    first, _ = register_owners(session_factory, pseudonymizer)
    old_id, old_phone = pseudonymizer.pseudonym("11010519491231002X"), pseudonymizer.pseudonym("13800138000")
    key_file = tmp_path / "secrets" / "pseudonym.keys"  # the file behind the `pseudonymizer` fixture

    rotation = rotate_pseudonym_key(key_file, session_factory)

    assert (rotation.previous, rotation.current, rotation.versions, rotation.people) == (1, 2, [1, 2], 2)
    now = Pseudonymizer(load_pseudonym_keys(key_file, generate=False))
    with session_factory() as session:
        person = session.get(Person, first)
        assert person is not None
        assert (person.id_pseudonym, person.phone_pseudonym) == (
            now.pseudonym("11010519491231002X"),
            now.pseudonym("13800138000"),
        )
        # Lake data written before the rotation still leads to the person (by recomputing).
        assert resolve_pseudonym(session, now, old_id) == first
        assert resolve_pseudonym(session, now, old_phone) == first
        assert resolve_pseudonym(session, now, "7." + old_id[2:]) is None  # a version no longer held
    assert people_to_refresh(session_factory, now) == 0
    assert refresh_registry(session_factory, now) == 0  # safe to run again


def test_refresh_fills_people_without_pseudonyms(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    first, second = register_owners(session_factory, pseudonymizer)
    with session_factory() as session, session.begin():  # registered before pseudonyms existed
        session.execute(update(Person).where(Person.id == second).values(id_pseudonym=None))
    assert people_to_refresh(session_factory, pseudonymizer) == 1
    assert refresh_registry(session_factory, pseudonymizer) == 1
    with session_factory() as session:
        pseudonyms = dict(session.execute(select(Person.id, Person.id_pseudonym)).all())
    assert pseudonyms == {
        first: pseudonymizer.pseudonym("11010519491231002X"),
        second: pseudonymizer.pseudonym("330302199001010013"),
    }


def test_refresh_finishes_an_interrupted_rotation(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    first, second = register_owners(session_factory, pseudonymizer)
    rotated = Pseudonymizer(pseudonymizer.keys.rotated())
    with session_factory() as session, session.begin():  # the first batch was done, then a crash
        registry.store_pseudonyms(session, [(first, rotated.pseudonym("11010519491231002X"), None)])
    assert people_to_refresh(session_factory, rotated) == 2  # the first lost its phone pseudonym
    assert refresh_registry(session_factory, rotated) == 2
    with session_factory() as session:
        rows = {r.id: (r.id_pseudonym, r.phone_pseudonym) for r in session.scalars(select(Person))}
    assert rows == {
        first: (rotated.pseudonym("11010519491231002X"), rotated.pseudonym("13800138000")),
        second: (rotated.pseudonym("330302199001010013"), None),
    }


def test_registering_another_bike_brings_an_owner_under_the_current_key(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    first, _ = register_owners(session_factory, pseudonymizer)
    rotated = Pseudonymizer(pseudonymizer.keys.rotated())
    with session_factory() as session, session.begin():
        reg = registry.BikeRegistration("00BEEF0001", "F-9", "Yadea", "blue", "11010519491231002X", "P0")
        registry.register_bike(session, reg=reg, by="clerk", now=NOW, pseudonymize=rotated.pseudonym)
    with session_factory() as session:
        person = session.get(Person, first)
        assert person is not None
        assert (person.id_pseudonym, person.phone_pseudonym) == (
            rotated.pseudonym("11010519491231002X"),
            rotated.pseudonym("13800138000"),
        )


def test_a_watch_listed_person_stays_listed_across_a_key_rotation(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer, tmp_path: Path
) -> None:
    first, _ = register_owners(session_factory, pseudonymizer)
    with session_factory() as session, session.begin():
        entry = registry.list_person(
            session, person_id=first, reported_by="officer-7", basis="warrant 9", owner="officer-7", now=NOW
        )
        assert entry.subject == pseudonymizer.pseudonym("11010519491231002X")  # never the number

    rotate_pseudonym_key(tmp_path / "secrets" / "pseudonym.keys", session_factory)

    now = Pseudonymizer(load_pseudonym_keys(tmp_path / "secrets" / "pseudonym.keys", generate=False))
    with session_factory() as session:
        [listed] = registry.active_watchlist(session, now=NOW)["subject"].to_list()
        assert listed == now.pseudonym("11010519491231002X")  # what door swipes carry from now on
