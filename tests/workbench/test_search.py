"""The search index on SQLite (FTS5) and PostgreSQL (GIN): the same answers as a brute-force scan of
the same documents, for plate wildcards and fragments, number fragments and Chinese names; kept
in step with the registries (new, changed, gone); patterns that would match everything refused."""

from __future__ import annotations

import fnmatch
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.entities import CodeClass, Document, EntitySource
from safecity.store import make_engine, make_session_factory
from safecity.store.db import Base
from safecity.workbench.errors import QueryRefused
from safecity.workbench.models import SearchDocument
from safecity.workbench.search import CANDIDATES, SearchIndex, normalise_code, search

SURNAMES = "王李张刘陈"
GIVEN = "伟芳娜明强"
SERIAL = "0123456789ABDFGJK"  # no letter that starts a pinyin syllable or initials of the names


def _corpus(seed: int = 1) -> list[Document]:
    rng = random.Random(seed)
    docs: list[Document] = []
    for i in range(150):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = f"139{rng.randrange(10**8):08d}"
        docs.append(
            Document(
                "person",
                str(i),
                name,
                "C1" if i % 5 else "C2",
                text={"name": name},
                codes={"phone": (CodeClass.NUMBER, phone)},
                masked=frozenset({"phone"}),
            )
        )
    for _ in range(150):
        plate = "浙" + rng.choice("CA") + "".join(rng.choice(SERIAL) for _ in range(5))
        docs.append(Document("plate", plate, plate, "C1", codes={"plate": (CodeClass.PLATE, plate)}))
    return list({(d.kind, d.key): d for d in docs}.values())


CORPUS = _corpus()


class Corpus:
    """An entity source over a list the test changes."""

    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs

    @property
    def source(self) -> EntitySource:
        return EntitySource("test", documents=lambda session: list(self.docs))


@pytest.fixture
def indexed(
    session_factory: sessionmaker[Session],
) -> tuple[sessionmaker[Session], Corpus, SearchIndex]:
    corpus = Corpus(list(CORPUS))
    index = SearchIndex([corpus.source], session_factory)
    assert index.sync()["new"] == len(CORPUS)
    return session_factory, corpus, index


def _brute(query: str, areas: set[str] | None = None) -> set[tuple[str, str]]:
    """The documents every word of the query matches, by scanning them all."""
    found = set()
    for doc in CORPUS:
        if areas is not None and doc.area_id not in areas:
            continue
        ok = True
        for word in query.split():
            if any(c in "?*" or (c.isascii() and c.isalnum()) for c in word):  # an identifier (浙CA1)
                pattern = normalise_code(word)
                codes = [normalise_code(v) for _, v in doc.codes.values()]
                if "?" in pattern or "*" in pattern:
                    ok = any(fnmatch.fnmatchcase(c, pattern) for c in codes)
                else:
                    ok = any(pattern in c for c in codes)
            else:
                ok = any(word in v for v in doc.text.values())
            if not ok:
                break
        if ok:
            found.add((doc.kind, doc.key))
    return found


def _answer(
    session_factory: sessionmaker[Session], query: str, areas: list[str] | None = None
) -> set[tuple[str, str]]:
    with session_factory() as session:
        result = search(session, query, areas=areas, per_kind=1_000)
    assert not result.more
    return {(h.kind, h.key) for hits in result.groups.values() for h in hits}


plates = [d.key for d in CORPUS if d.kind == "plate"]
names = [d.title for d in CORPUS if d.kind == "person"]
phones = [v for d in CORPUS if d.kind == "person" for _, v in d.codes.values()]


@st.composite
def plate_patterns(draw: st.DrawFn) -> str:
    plate = draw(st.sampled_from(plates))
    chars = list(plate)
    for i in draw(st.sets(st.integers(0, len(chars) - 1), max_size=2)):
        chars[i] = "?"
    if draw(st.booleans()):
        start = draw(st.integers(2, len(chars) - 2))
        end = draw(st.integers(start, len(chars) - 1))
        chars[start:end] = ["*"]
    return "".join(chars)


@st.composite
def fragments(draw: st.DrawFn) -> str:
    value = draw(st.sampled_from(plates + phones))
    start = draw(st.integers(0, len(value) - 3))
    length = draw(st.integers(3, min(6, len(value) - start)))
    return value[start : start + length]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.one_of(plate_patterns(), fragments(), st.sampled_from(names)))
def test_the_index_answers_what_a_scan_of_every_document_answers(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex], query: str
) -> None:
    session_factory, _, _ = indexed
    try:
        got = _answer(session_factory, query)
    except QueryRefused:
        literal = query.replace("?", "").replace("*", "")
        assert len(literal) < 3 or max(len(r) for r in query.replace("?", "*").split("*")) < 2
        return
    assert got == _brute(query)
    assert _answer(session_factory, query, ["C1"]) == _brute(query, {"C1"})


def test_names_are_found_by_part_and_pinyin_and_both_words_must_match(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex],
) -> None:
    session_factory, corpus, index = indexed
    corpus.docs.append(
        Document(
            "person",
            "zwm",
            "张伟明",
            "C1",
            text={"name": "张伟明"},
            codes={"phone": (CodeClass.NUMBER, "13957512345")},
        )
    )
    index.sync()
    assert ("person", "zwm") in _answer(session_factory, "zwm")
    assert ("person", "zwm") in _answer(session_factory, "zhangweiming")
    assert ("person", "zwm") in _answer(session_factory, "伟明 75123")
    assert ("person", "zwm") not in _answer(session_factory, "伟明 99999")


def test_the_index_follows_the_registry_new_changed_and_gone(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex],
) -> None:
    session_factory, corpus, index = indexed
    first = corpus.docs[0]
    renamed = Document(
        first.kind, first.key, "欧阳娜娜", first.area_id, text={"name": "欧阳娜娜"}, codes=first.codes
    )
    corpus.docs[0] = renamed
    gone = corpus.docs.pop()
    assert index.sync() == {"new": 0, "changed": 1, "gone": 1, "documents": len(CORPUS) - 1}
    assert (first.kind, first.key) in _answer(session_factory, "欧阳")
    if first.title not in {d.title for d in corpus.docs}:
        assert (first.kind, first.key) not in _answer(session_factory, first.title)
    assert (gone.kind, gone.key) not in _answer(
        session_factory, gone.title if gone.kind == "plate" else gone.key
    )
    assert index.sync()["changed"] == 0  # nothing new: nothing written


@pytest.mark.parametrize("query", ["*", "浙C*", "??1", "1*", "张", "", "a"])
def test_patterns_that_would_match_everything_are_refused(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex], query: str
) -> None:
    session_factory, _, _ = indexed
    with session_factory() as session, pytest.raises(QueryRefused) as refused:
        search(session, query, areas=None)
    assert refused.value.field == "q"


def test_too_many_candidates_say_so(indexed: tuple[sessionmaker[Session], Corpus, SearchIndex]) -> None:
    session_factory, corpus, index = indexed
    corpus.docs.extend(
        Document(
            "plate", f"浙C9{n:05d}", f"浙C9{n:05d}", "C1", codes={"plate": (CodeClass.PLATE, f"浙C9{n:05d}")}
        )
        for n in range(CANDIDATES + 10)
    )
    index.sync()
    with session_factory() as session:
        result = search(session, "浙C9*", areas=None)
    assert result.more


@pytest.mark.parametrize(
    "query",
    [
        '1"2"3',
        "(abc)",
        "NEAR abc",
        "OR 123",
        "abc\x00def",
        "浙C😀12",
        "^abc",
        "p:浙c",
        "ＡＢＣ１２３",
        "'; drop--",
    ],
)
def test_quotes_operators_symbols_and_control_characters_are_words_not_syntax(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex], query: str
) -> None:
    session_factory, _, _ = indexed
    with session_factory() as session:
        try:
            search(session, query, areas=None)
            refused_field = "q"
        except QueryRefused as refused:  # refused for what it asks, never an error of the index
            refused_field = refused.field or ""
    assert refused_field == "q"


def test_full_width_and_separated_plates_are_the_plate(
    indexed: tuple[sessionmaker[Session], Corpus, SearchIndex],
) -> None:
    session_factory, _, _ = indexed
    plate = plates[0]
    wide = plate[0] + "".join(chr(ord(c) + 0xFEE0) for c in plate[1:])  # ＡＢ１２: full-width forms
    assert ("plate", plate) in _answer(session_factory, wide)
    assert ("plate", plate) in _answer(session_factory, f"{plate[:2]}·{plate[2:]}")


def test_a_first_sync_of_a_city_does_not_hold_sqlites_write_lock(tmp_path: Path) -> None:
    """Found running `make demo`: the first sync of 222,581 documents was one transaction, and the
    simulated city's batches failed with "database is locked" behind it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'city.db'}")
    Base.metadata.create_all(engine, tables=[SearchDocument.__table__])  # type: ignore[list-item]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ingest (n INTEGER)")
    docs = [
        Document(
            "plate", f"浙C{n:05d}", f"浙C{n:05d}", None, codes={"plate": (CodeClass.PLATE, f"浙C{n:05d}")}
        )
        for n in range(30_000)
    ]
    index = SearchIndex([Corpus(docs).source], make_session_factory(engine))
    locked: list[str] = []
    done = threading.Event()

    def ingest() -> None:  # another writer, waiting at most 0.5 s for the lock as a busy server would
        writer = sqlite3.connect(tmp_path / "city.db", timeout=0.5)
        while not done.is_set():
            try:
                writer.execute("INSERT INTO ingest VALUES (1)")
                writer.commit()
            except sqlite3.OperationalError as exc:
                locked.append(str(exc))
            time.sleep(0.01)
        writer.close()

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert index.sync()["new"] == len(docs)
    finally:
        done.set()
        thread.join()
    engine.dispose()
    assert not locked
