"""Search: one box over the registries, by fragments, wildcards, Chinese words and pinyin.

Documents come from every package's `core.entities.EntitySource` and are kept in
`search_documents` with ready-made **terms**, so both databases index the same tokens:

* Chinese text (names, addresses, models): each character and each pair of characters, and the
  pinyin of names and of the words jieba cuts from longer text (full, syllables, initials: 张伟
  gives zhangwei, zhang, wei, zw);
* other words, lower case;
* identifiers (plates, phone and identity numbers, tags, codes): every 2- and 3-character piece,
  marked with its class (`p:` plates, `n:` digit strings, `c:` other codes) so a digit pair of a
  phone never stands for a plate's.

SQLite indexes the terms with FTS5 (`search_fts`, no positions), PostgreSQL with a GIN index over
`array_to_tsvector(string_to_array(terms, ' '))`. A query's parts each become an AND of terms
(an OR over the classes an identifier could be), the index returns candidates, and every
candidate is checked against the real fields (a substring, a wildcard pattern, a pinyin prefix),
which also says why it matched. A pattern with too few fixed characters to narrow anything is
refused, saying what to add.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, column, delete, insert, select, table, text, update
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.capabilities import extensions
from safecity.core.entities import CodeClass, Document, EntitySource
from safecity.core.masking import mask_id_number, mask_phone
from safecity.workbench.errors import QueryRefused
from safecity.workbench.models import SearchDocument

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"[{CJK}]+|[0-9a-z]+")
_HAS_CJK = re.compile(f"[{CJK}]")
_CODE_JUNK = re.compile(r"[\s.\-·_/]+")
WILDCARDS = "?*"
MAX_QUERY = 100  # characters
MAX_PARTS = 6
PAGE = 1_000  # candidates the index names at a time, each page checked before the next is read
CANDIDATES = 500  # hits kept per search: more says "narrow it" (10 per kind are shown)
BUDGET_S = 0.3  # pages of candidates are checked for this long at most
MIN_LITERAL = 3  # fixed characters an identifier pattern needs
WRITE_CHUNK = 1_000  # documents a sync writes per transaction
KEPT = ("area_id", "title", "fields", "terms")  # what a changed document's sync rewrites
TERMS_VERSION = 1  # raise it when terms are made differently: every document is indexed again

_FTS = table("search_fts", column("rowid"))
T = TypeVar("T")
_jieba_lock = threading.Lock()
log = structlog.get_logger(__name__)


def _jieba() -> Any:
    """jieba, its dictionary loaded once (about a second) and its chatter silenced."""
    import jieba

    with _jieba_lock:
        if not jieba.dt.initialized:
            jieba.setLogLevel(60)
            jieba.initialize()
    return jieba


@lru_cache(maxsize=65_536)
def _pinyin(word: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(s for s in lazy_pinyin(word) if s.isascii() and s.isalpha())


def normalise_code(value: str) -> str:
    """An identifier as compared: half-width, upper case, letters and digits only (浙C·5T168 and
    浙Ｃ5T168 are 浙C5T168); the wildcards ? and * are kept."""
    return "".join(c for c in unicodedata.normalize("NFKC", value) if c.isalnum() or c in WILDCARDS).upper()


def _words(run: str) -> list[str]:
    """The words of a run of Chinese whose pinyin is indexed: the run (up to 8 characters: a name,
    a compound's), and the words jieba cuts from a longer one."""
    words = [run] if len(run) <= 8 else []
    if len(run) > 4:
        words += [w for w in _jieba().cut(run) if len(w) >= 2]
    return words


def text_terms(value: str) -> set[str]:
    """The terms of a name, an address or a model."""
    terms: set[str] = set()
    for run in _RUNS.findall(unicodedata.normalize("NFKC", value).lower()):
        if not _HAS_CJK.match(run):
            terms.add(run)
            continue
        terms.update(run)
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
        for word in _words(run):
            syllables = _pinyin(word)
            if syllables:
                terms.update(syllables)
                terms.add("".join(syllables))
                terms.add("".join(s[0] for s in syllables))
    return terms


def code_terms(cls: CodeClass, value: str) -> set[str]:
    """The 2- and 3-character pieces of an identifier, marked with its class, and its first and last
    characters marked as such (`^`, `$`): a wildcard pattern is anchored at both ends, and its ends
    narrow most (浙C?12*5 ends in 5)."""
    code = normalise_code(value).lower()
    terms = {f"{cls.value}:{code[i : i + n]}" for n in (2, 3) for i in range(len(code) - n + 1)}
    if code:
        terms |= {
            f"{cls.value}^{code[:2]}",
            f"{cls.value}^{code[:3]}",
            f"{cls.value}${code[-1:]}",
            f"{cls.value}${code[-2:]}",
        }
    return terms


def document_terms(doc: Document) -> str:
    """The space-separated terms a document is indexed by."""
    terms: set[str] = set()
    for value in doc.text.values():
        terms |= text_terms(value)
    for cls, value in doc.codes.values():
        terms |= code_terms(cls, value)
    return " ".join(sorted(terms))


def document_fields(doc: Document) -> dict[str, Any]:
    """What a result is checked against and shown with (and the version of its terms)."""
    return {
        "v": TERMS_VERSION,
        "text": doc.text,
        "codes": {name: [cls.value, value] for name, (cls, value) in doc.codes.items()},
        "masked": sorted(doc.masked),
    }


# --- queries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One index term a candidate must hold; `prefix` for a word typed in part (pinyin initials)."""

    value: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Part:
    """One word of the query: the index terms that narrow it, and how a candidate is checked."""

    raw: str
    how: str  # "code", "chinese", "word"
    alternatives: tuple[tuple[Term, ...], ...]  # OR of ANDs
    pattern: re.Pattern[str] | None = None  # for codes
    words: tuple[str, ...] = ()  # for Chinese


def parse(query: str) -> list[Part]:
    """The query's parts, or QueryRefused naming what to change."""
    q = unicodedata.normalize("NFKC", query).strip()
    if len(q) > MAX_QUERY:
        raise QueryRefused(f"a search is at most {MAX_QUERY} characters", field="q")
    # Punctuation, symbols and control characters separate nothing and match nothing: dropped.
    raws = [
        w
        for w in (
            "".join(c for c in raw if c.isalnum() or c in WILDCARDS or c in "-.·_/") for raw in q.split()
        )
        if w
    ]
    if not raws:
        raise QueryRefused("type something to search for: a name, a number, a plate", field="q")
    if len(raws) > MAX_PARTS:
        raise QueryRefused(f"a search has at most {MAX_PARTS} words", field="q")
    parts = [_part(raw) for raw in raws]
    if all(len(p.raw.strip(WILDCARDS)) < 2 for p in parts):
        raise QueryRefused(
            f"{q!r} would match nearly everything: type at least two characters of a name, or three of "
            "a number or plate",
            field="q",
        )
    return parts


def _part(raw: str) -> Part:
    lowered = raw.lower()
    chinese = bool(_HAS_CJK.search(raw))
    is_code = (
        any(c in WILDCARDS for c in raw)
        or (any(c.isdigit() for c in raw) and not chinese)
        or (chinese and any(c.isascii() and c.isalpha() for c in raw))  # 浙C5T168
        or bool(_CODE_JUNK.search(raw))
    )
    if is_code:
        return _code_part(raw)
    if chinese:  # words, and the numbers among them (3号楼)
        words = tuple(w for run in _RUNS.findall(lowered) for w in _query_words(run))
        terms = tuple(t for w in words for t in _chinese_terms(w))
        return Part(raw, "chinese", (terms,), words=words)
    word = "".join(c for c in lowered if c.isalnum())
    if len(word) < 2:
        raise QueryRefused(f"{raw!r} is too short to search for: type at least two letters", field="q")
    prefix = ((Term(word, prefix=True),),)
    if len(word) < MIN_LITERAL:
        return Part(raw, "word", prefix)
    code = _code_part(raw)  # letters alone may be a piece of a plate or a tag: RVAZ
    return Part(raw, "word", prefix + code.alternatives, pattern=code.pattern)


def _query_words(run: str) -> list[str]:
    if not _HAS_CJK.match(run) or len(run) <= 4:
        return [run]
    return [w for w in _jieba().cut(run) if w.strip()]


def _chinese_terms(word: str) -> list[Term]:
    if not _HAS_CJK.match(word):
        return [Term(word, prefix=True)]  # a number typed among words: 3 of 3号楼
    if len(word) == 1:
        return [Term(word)]
    return [Term(word[i : i + 2]) for i in range(len(word) - 1)]


def _code_part(raw: str) -> Part:
    pattern = normalise_code(raw)
    runs = [r for r in re.split(r"[?*]+", pattern) if r]
    literal = sum(len(r) for r in runs)
    if literal < MIN_LITERAL or max((len(r) for r in runs), default=0) < 2:
        raise QueryRefused(
            f"{raw!r} would match nearly everything: give at least {MIN_LITERAL} fixed characters, two of "
            "them side by side (浙C?12*5, 1234)",
            field="q",
        )
    pieces = sorted({f":{p}" for r in runs for p in _pieces(r.lower())})
    wild = any(c in WILDCARDS for c in pattern)
    if wild and pattern[0] not in WILDCARDS and len(runs[0]) >= 2:
        pieces.append(f"^{runs[0][:3].lower()}")
    if wild and pattern[-1] not in WILDCARDS:
        pieces.append(f"${runs[-1][-2:].lower()}")
    # A piece with a province character (浙C) is in nearly every plate of the city: it narrows
    # nothing and makes the index read millions of entries. Left to the check when others narrow.
    if any(not _HAS_CJK.search(p) for p in pieces):
        pieces = [p for p in pieces if not _HAS_CJK.search(p)]
    classes = _classes(pattern)
    alternatives = tuple(tuple(Term(f"{c.value}{p}") for p in pieces) for c in classes)
    if wild:
        # With wildcards the pattern is the whole value: 浙C?12*5 ends in 5; *1234 leaves the start open.
        regex = "".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
        compiled = re.compile(f"^{regex}$")
    else:
        compiled = re.compile(re.escape(pattern))
    return Part(raw, "code", alternatives, pattern=compiled)


def _pieces(run: str) -> list[str]:
    """The index terms a literal run must hold: its 3-character pieces, or itself if it has two."""
    if len(run) == 2:
        return [run]
    return [run[i : i + 3] for i in range(len(run) - 2)]


def _classes(pattern: str) -> list[CodeClass]:
    literal = pattern.replace("?", "").replace("*", "")
    if literal.isdigit():
        return [CodeClass.NUMBER, CodeClass.PLATE, CodeClass.CODE]
    if literal[:-1].isdigit() and literal[-1:] == "X":  # an identity number's check character
        return [CodeClass.NUMBER]
    return [CodeClass.PLATE, CodeClass.CODE]


def fts5_query(parts: Sequence[Part]) -> str:
    """The parts as an FTS5 MATCH expression."""

    def term(t: Term) -> str:
        return '"' + t.value.replace('"', '""') + '"' + ("*" if t.prefix else "")

    return " AND ".join(
        "(" + " OR ".join("(" + " AND ".join(term(t) for t in alt) + ")" for alt in part.alternatives) + ")"
        for part in parts
    )


def tsquery(parts: Sequence[Part]) -> str:
    """The parts as a PostgreSQL tsquery (lexemes quoted, so taken as they are)."""

    def term(t: Term) -> str:
        return "'" + t.value.replace("'", "''").replace("\\", "\\\\") + "'" + (":*" if t.prefix else "")

    return " & ".join(
        "(" + " | ".join("(" + " & ".join(term(t) for t in alt) + ")" for alt in part.alternatives) + ")"
        for part in parts
    )


# --- checking and ranking --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """A document that matched, how well, and why."""

    kind: str
    key: str
    title: str
    area_id: str | None
    score: int
    why: list[str]
    shown: dict[str, str]  # the fields, masked where the document says so


@dataclass(slots=True)
class SearchResult:
    """Hits grouped by kind, best first, with how many each kind had (`more`: the cap was reached)."""

    query: str
    groups: dict[str, list[Hit]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    more: bool = False


def _shown(name: str, value: str, masked: Iterable[str]) -> str:
    if name not in masked:
        return value
    return (mask_id_number(value) if len(value) > 11 else mask_phone(value)) or ""


def check(part: Part, fields: dict[str, Any]) -> tuple[int, str] | None:
    """How well (3 whole, 2 start, 1 inside) and why a document's fields match one part, or None."""
    masked = fields.get("masked", ())
    if part.pattern is not None:
        best: tuple[int, str] | None = None
        for name, (_, value) in fields["codes"].items():
            code = normalise_code(value)
            found = part.pattern.search(code)
            if found is None:
                continue
            score = 3 if found.group(0) == code else 2 if found.start() == 0 else 1
            why = f"{name} {_shown(name, value, masked)} {'matches' if score == 3 else 'holds'} {part.raw}"
            if best is None or score > best[0]:
                best = (score, why)
        if best is not None or part.how == "code":
            return best
    if part.how == "chinese":
        for name, value in fields["text"].items():
            if all(w in value for w in part.words):
                score = 3 if value == "".join(part.words) else 2 if value.startswith(part.words[0]) else 1
                return score, f"{name} {value} {'is' if score == 3 else 'contains'} {part.raw}"
        return None
    typed = part.alternatives[0][0].value
    for name, value in fields["text"].items():
        for word in sorted(text_terms(value)):
            if word.startswith(typed):
                score = 3 if word == typed else 2
                how = "pinyin " if word.isascii() and not value.isascii() else ""
                return score, f"{name} {value}: {how}{word} starts with {typed}"
    return None


def rank(
    rows: Iterable[tuple[int, str, str, str | None, str, dict[str, Any]]], parts: Sequence[Part]
) -> list[Hit]:
    """The rows every part really matches, best first."""
    hits = []
    for _, kind, key, area, title, fields in rows:
        score, why = 0, []
        for part in parts:
            matched = check(part, fields)
            if matched is None:
                break
            score += matched[0]
            why.append(matched[1])
        else:
            shown = dict(fields["text"])
            shown.update({n: _shown(n, v, fields["masked"]) for n, (_, v) in fields["codes"].items()})
            hits.append(Hit(kind, key, title, area, score, why, shown))
    hits.sort(key=lambda h: (-h.score, h.kind, h.title))
    return hits


# --- the index -------------------------------------------------------------------------------


class SearchIndex:
    """The documents of every entity source, kept in step with the registries, and asked."""

    def __init__(self, sources: Sequence[EntitySource], session_factory: sessionmaker[Session]) -> None:
        self._sources = [s.documents for s in sources if s.documents is not None]
        self._sessions = session_factory
        self._lock = threading.Lock()
        self.synced = False

    @classmethod
    def build(cls, platform: Any) -> SearchIndex:
        """Over every installed capability's entity sources (a `core.capabilities.Service` builder)."""
        return cls(extensions(EntitySource), platform.session_factory)

    def ensure(self) -> None:
        """Sync once if this process has not yet (a fresh platform answers before the worker's turn)."""
        if not self.synced:
            self.sync()

    def sync(self) -> dict[str, int]:
        """Bring the index in step with the registries: new, changed and gone documents."""
        with self._lock, self._sessions() as session:
            # Terms are the costly part (pinyin, pieces): made only for what is new or changed,
            # told by the fields (which carry TERMS_VERSION, so a new way of making terms redoes all).
            wanted: dict[tuple[str, str], tuple[Document, dict[str, Any]]] = {}
            for documents in self._sources:
                for doc in documents(session):
                    wanted[(doc.kind, doc.key)] = (doc, document_fields(doc))
            have = {
                (kind, key): (rid, area, title, fields)
                for rid, kind, key, area, title, fields in session.execute(
                    select(
                        SearchDocument.id,
                        SearchDocument.kind,
                        SearchDocument.key,
                        SearchDocument.area_id,
                        SearchDocument.title,
                        SearchDocument.fields,
                    )
                )
            }

            def row(doc: Document, fields: dict[str, Any]) -> dict[str, Any]:
                return {
                    "kind": doc.kind,
                    "key": doc.key,
                    "area_id": doc.area_id,
                    "title": doc.title[:300],
                    "fields": fields,
                    "terms": document_terms(doc),
                }

            new = [k for k in wanted if k not in have]
            changed = [
                k
                for k, (doc, fields) in wanted.items()
                if k in have and have[k][1:] != (doc.area_id, doc.title[:300], fields)
            ]
            gone = [have[k][0] for k in have if k not in wanted]
            session.commit()  # the reads' transaction: writers are not kept waiting behind it
            # Written a thousand at a time, each its own short transaction: a first sync of a city's
            # registries (200,000 documents) must not hold SQLite's write lock for the seconds it
            # takes, or ingest waits behind it ("database is locked").
            for chunk in _chunks(new, WRITE_CHUNK):
                session.execute(insert(SearchDocument), [row(*wanted[k]) for k in chunk])
                session.commit()
                time.sleep(0.001)  # let the event loop's thread have the interpreter between chunks
            for chunk in _chunks(changed, WRITE_CHUNK):
                session.execute(  # by primary key: SQLAlchemy's bulk update
                    update(SearchDocument),
                    [
                        {"id": have[k][0], **{f: v for f, v in row(*wanted[k]).items() if f in KEPT}}
                        for k in chunk
                    ],
                )
                session.commit()
                time.sleep(0.001)
            for ids in _chunks(gone, WRITE_CHUNK):
                session.execute(delete(SearchDocument).where(SearchDocument.id.in_(ids)))
                session.commit()
            self.synced = True
            if new or changed or gone:
                log.info(
                    "search.synced", new=len(new), changed=len(changed), gone=len(gone), documents=len(wanted)
                )
            return {"new": len(new), "changed": len(changed), "gone": len(gone), "documents": len(wanted)}

    @staticmethod
    def candidates(
        conn: Session | Connection,
        parts: Sequence[Part],
        *,
        areas: Sequence[str] | None,
        kinds: Sequence[str] | None = None,
        after: int = 0,
        limit: int = PAGE,
    ) -> list[tuple[int, str, str, str | None, str, dict[str, Any]]]:
        """The documents the index names for the parts (unchecked), in the areas (and area-less),
        in the order of their ids from `after` on (a page of them: the caller asks for the next)."""
        dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
        d = SearchDocument
        statement = select(d.id, d.kind, d.key, d.area_id, d.title, d.fields).where(d.id > after)
        if dialect == "sqlite":
            statement = statement.join(_FTS, _FTS.c.rowid == d.id).where(
                text("search_fts MATCH :q").bindparams(q=fts5_query(parts))
            )
        else:
            statement = statement.where(
                text(
                    "array_to_tsvector(string_to_array(search_documents.terms, ' ')) @@ CAST(:q AS tsquery)"
                ).bindparams(q=tsquery(parts))
            )
        if areas is not None:
            statement = statement.where(d.area_id.is_(None) | d.area_id.in_(list(areas)))
        if kinds:
            statement = statement.where(d.kind.in_(list(kinds)))
        rows = conn.execute(statement.order_by(d.id).limit(limit)).all()
        return [(i, k, key, a, t, f if isinstance(f, dict) else _json(f)) for i, k, key, a, t, f in rows]


def search(
    conn: Session | Connection,
    query: str,
    *,
    areas: Sequence[str] | None,
    kinds: Sequence[str] | None = None,
    per_kind: int = 10,
    budget_s: float = BUDGET_S,
) -> SearchResult:
    """Hits for the query, grouped by kind, each saying why it matched.

    The index names candidates a page at a time and each page is checked, until more than
    CANDIDATES hits are found (the best of them shown), the index has no more, or the time budget
    is spent: a pattern whose pieces are common (浙C?27*7: "27" and "ends in 7") still finds its
    plate behind thousands of near ones, and one that would read millions says `more` instead of
    taking seconds.
    """
    parts = parse(query)
    started = time.perf_counter()
    hits: list[Hit] = []
    after, more = 0, False
    while True:
        rows = SearchIndex.candidates(conn, parts, areas=areas, kinds=kinds, after=after)
        hits += rank(rows, parts)
        if len(hits) > CANDIDATES:  # more than are kept: the best of these, and "narrow it"
            more = True
            break
        if len(rows) < PAGE:
            break
        after = rows[-1][0]
        if time.perf_counter() - started > budget_s:
            more = True
            break
    hits.sort(key=lambda h: (-h.score, h.kind, h.title))
    result = SearchResult(query, more=more)
    for hit in hits:
        result.totals[hit.kind] = result.totals.get(hit.kind, 0) + 1
        group = result.groups.setdefault(hit.kind, [])
        if len(group) < per_kind:
            group.append(hit)
    return result


def _json(value: str) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(value)
    return loaded


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "CANDIDATES",
    "Hit",
    "Part",
    "SearchIndex",
    "SearchResult",
    "code_terms",
    "document_terms",
    "normalise_code",
    "parse",
    "search",
    "text_terms",
]
