"""The link between people and their pseudonyms: lake subjects of a number, the person behind a
pseudonym, and re-keying the registry when the pseudonym key rotates.

These are plain functions over a Session: callers that show a person or a path (the web API)
wrap them in a case, a purpose and an audit record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.kinds import SubjectKind
from safecity.security.keys import load_pseudonym_keys, save_pseudonym_keys
from safecity.security.pseudonym import PSEUDONYMISED_SUBJECT_KINDS, Pseudonymizer

BATCH_ROWS = 5_000


def lake_subjects(pseudonymizer: Pseudonymizer, subject_kind: str, value: str) -> list[str]:
    """What to match in the lake's `subject` column for a subject given as people know it.

    An identity or phone number is stored as a pseudonym under the key current when it was
    written, so a path must match its pseudonym under every key still held; a pseudonym given
    as such is matched as it is; any other subject (tag, plate, ...) is stored plainly.
    """
    value = value.strip()
    if subject_kind not in PSEUDONYMISED_SUBJECT_KINDS:
        return [value]
    if pseudonymizer.is_pseudonym(value):
        return [value]
    return pseudonymizer.all_versions(value.upper() if subject_kind == SubjectKind.ID_CARD else value)


def person_subjects(
    session: Session, pseudonymizer: Pseudonymizer, person_id: int
) -> dict[SubjectKind, list[str]]:
    """A registered person's lake subjects by subject kind: identity card and phone, all key versions."""
    person = registry.get_person(session, person_id=person_id)
    if person is None:
        return {}
    found = {SubjectKind.ID_CARD: pseudonymizer.all_versions(person.id_number)}
    if person.phone:
        found[SubjectKind.PHONE] = pseudonymizer.all_versions(person.phone)
    return found


def resolve_pseudonym(session: Session, pseudonymizer: Pseudonymizer, pseudonym: str) -> int | None:
    """The id of the registered person whose identity or phone number has this pseudonym.

    The registry stores pseudonyms under the current key only (indexed). One made under an older
    key still held is found by recomputing everyone's pseudonyms under that key: a registry scan
    of about 10 s per million people (2 s for 200,000 on SQLite, mostly reading the rows). Rare
    enough not to keep an index per version: retention removes data written under old keys.
    """
    version = pseudonymizer.version_of(pseudonym)
    if version is None or version not in pseudonymizer.keys.keys:
        return None
    person = registry.get_person_by_pseudonym(session, pseudonym=pseudonym)
    if person is not None:
        return person.id
    if version == pseudonymizer.current:
        return None
    after = 0
    while rows := registry.people_numbers(session, after_id=after, limit=BATCH_ROWS):
        owners = [r.id for r in rows] + [r.id for r in rows if r.phone]
        numbers = [r.id_number for r in rows] + [r.phone for r in rows if r.phone]
        for owner, candidate in zip(owners, pseudonymizer.many(numbers, version=version), strict=True):
            if candidate == pseudonym:
                return owner
        after = rows[-1].id
    return None


def refresh_registry(
    session_factory: sessionmaker[Session],
    pseudonymizer: Pseudonymizer,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute, under the current key, every person's pseudonyms made under another (or none).

    One transaction per batch of people, so a large registry is never locked for long; an
    interrupted run is finished by running it again. Returns how many people were updated;
    `progress` hears the size of each batch done.
    """
    prefix = f"{pseudonymizer.current}."
    after = done = 0
    while True:
        with session_factory() as session, session.begin():
            rows = registry.people_numbers(session, after_id=after, limit=BATCH_ROWS, not_under=prefix)
            if not rows:
                return done
            ids = pseudonymizer.many([r.id_number for r in rows])
            phones = iter(pseudonymizer.many([r.phone for r in rows if r.phone]))
            registry.store_pseudonyms(
                session,
                [(r.id, p, next(phones) if r.phone else None) for r, p in zip(rows, ids, strict=True)],
            )
        after, done = rows[-1].id, done + len(rows)
        if progress is not None:
            progress(len(rows))


def people_to_refresh(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> int:
    """How many people's pseudonyms are not (yet) under the pseudonymizer's current key."""
    with session_factory() as session:
        return registry.count_people_not_under(session, prefix=f"{pseudonymizer.current}.")


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a pseudonym key rotation did."""

    previous: int
    current: int
    versions: list[int]
    people: int


def rotate_pseudonym_key(
    path: Path,
    session_factory: sessionmaker[Session],
    *,
    new_key: bool = True,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Rotation:
    """Make a new key version current (older ones are kept) and re-key the registry to it.

    The registry is read before the key file changes (a database that cannot be used stops the
    rotation before it starts). The key file is then replaced, durably, before any person is
    re-keyed: a crash after that leaves some people under the old key, which running again with
    `new_key=False` (finish the rotation) recomputes without making yet another key.
    `on_start` hears how many people will be re-keyed.
    """
    keys = load_pseudonym_keys(path, generate=False)
    target = keys.rotated() if new_key else keys
    pseudonymizer = Pseudonymizer(target)
    total = people_to_refresh(session_factory, pseudonymizer)
    if on_start is not None:
        on_start(total)
    if new_key:
        save_pseudonym_keys(path, target)
    people = refresh_registry(session_factory, pseudonymizer, progress=progress)
    return Rotation(keys.current, target.current, sorted(target.keys), people)
