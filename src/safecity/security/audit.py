"""The audit trail: an append-only hash chain of who did what to whose data, with signed heads.

Each record's `hash` is sha256(previous hash + canonical bytes of its own fields), so altering,
removing or reordering any record breaks the chain at that record. The head (last seq and hash)
is kept in a one-row table that every append updates first, which serialises appends on SQLite
and PostgreSQL alike without forking the chain. Periodically the head is signed with an Ed25519
key kept outside the database (`seal`), so that even an attacker who rewrites the whole chain
and its head cannot forge the seals; an outside auditor verifies with the public key alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Outcome, subject
from safecity.core.context import Context
from safecity.security.keys import key_id
from safecity.security.models import AuditHead, AuditRecord, AuditSeal, AuditSubject

if TYPE_CHECKING:
    from safecity.security.audit_verify import VerifyReport

GENESIS = "0" * 64
SUBJECT_CHARS = 96  # a subject as the index keeps it (the record keeps it whole)
_encode = msgspec.json.Encoder(order="sorted").encode

# The hashed fields, in order; verification reads exactly these columns.
CHAINED_FIELDS: tuple[str, ...] = (
    "seq",
    "at_us",
    "actor",
    "role",
    "unit",
    "action",
    "resource",
    "outcome",
    "status",
    "case_id",
    "purpose",
    "subjects",
    "result_count",
    "detail",
    "client",
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: an account, a device, a command-line operator or the platform itself."""

    name: str
    role: str
    unit: str
    client: str = ""


SYSTEM = Actor("system", "system", "safecity")


def actor_of(who: Actor | Context) -> Actor:
    """How an actor or a use case's context appears in the audit trail."""
    if isinstance(who, Actor):
        return who
    return Actor(who.actor, who.role, who.unit, who.client)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact: no float on the way)."""
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(at_us: int) -> datetime:
    """The aware UTC datetime of a microsecond timestamp."""
    return datetime.fromtimestamp(at_us // 1_000_000, tz=UTC).replace(microsecond=at_us % 1_000_000)


def link_hash(prev_hash: str, values: Sequence[Any]) -> str:
    """The hash of a record given its predecessor's hash and its CHAINED_FIELDS values in order."""
    return hashlib.sha256(prev_hash.encode("ascii") + _encode(values)).hexdigest()


# Built once: constructing statements per call costs more than executing them on SQLite.
_BUMP_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(seq=AuditHead.seq + 1)
    .returning(AuditHead.seq, AuditHead.hash)
)
_SET_HEAD_HASH = update(AuditHead).where(AuditHead.id == 1).values(hash=bindparam("head_hash"))
_INSERT_RECORD = insert(AuditRecord)
_INSERT_SUBJECTS = insert(AuditSubject)


def append(session: Session | Connection, actor: Actor, entry: AuditEntry, *, at: datetime) -> int:
    """Append one record inside the caller's transaction and return its seq.

    The head row is updated first: that takes the write lock before anything is read, so two
    writers never both extend the same link (SQLite serialises, PostgreSQL re-reads the row).
    """
    # Core statements on the session's connection: the ORM's bulk-update bookkeeping would
    # cost more than the statements themselves.
    conn = session.connection() if isinstance(session, Session) else session
    row = conn.execute(_BUMP_HEAD).first()
    if row is None:  # the very first record: create the head; a concurrent first writer may win
        try:
            with conn.begin_nested():
                conn.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        except IntegrityError:
            pass
        row = conn.execute(_BUMP_HEAD).first()
        assert row is not None
    seq, prev = int(row[0]), str(row[1])
    subjects = sorted({str(s) for s in entry.subjects})
    values = {
        "seq": seq,
        "at_us": to_us(at),
        "actor": actor.name[:64],
        "role": actor.role[:32],
        "unit": actor.unit[:128],
        "action": entry.action[:64],
        "resource": entry.resource[:300],
        "outcome": entry.outcome,
        "status": int(entry.status),
        "case_id": entry.case_id,
        "purpose": entry.purpose,
        "subjects": _encode(subjects).decode(),
        "result_count": entry.result_count,
        "detail": _encode(dict(entry.detail)).decode(),
        "client": actor.client[:64],
    }
    digest = link_hash(prev, [values[f] for f in CHAINED_FIELDS])
    values["prev_hash"], values["hash"] = prev, digest
    conn.execute(_INSERT_RECORD, values)
    if subjects:
        conn.execute(_INSERT_SUBJECTS, [{"subject": s[:SUBJECT_CHARS], "seq": seq} for s in subjects])
    conn.execute(_SET_HEAD_HASH, {"head_hash": digest})
    return seq


class AuditTrail:
    """Appends, searches, seals and verifies the chain of one database."""

    def __init__(self, session_factory: sessionmaker[Session], *, journal: Path | None = None) -> None:
        self.session_factory = session_factory
        self.journal = journal  # the seal journal outside the database (None: seals only in the DB)

    def record(self, actor: Actor, entry: AuditEntry, *, at: datetime) -> int:
        """Append in a transaction of its own; returns the seq."""
        engine: Engine = self.session_factory.kw["bind"]
        with engine.begin() as conn:
            return append(conn, actor, entry, at=at)

    def seal(self, key: Ed25519PrivateKey, *, at: datetime) -> AuditSeal | None:
        """Sign the current head; None if the chain is empty or already sealed at this head."""
        with self.session_factory.begin() as session:
            head = session.get(AuditHead, 1)
            if head is None or head.seq == 0:
                return None
            last = session.scalars(select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1)).first()
            if last is not None and last.seq == head.seq:
                return None
            signature = key.sign(seal_message(head.seq, head.hash)).hex()
            seal = AuditSeal(
                seq=head.seq, hash=head.hash, at=at, key_id=key_id(key.public_key()), signature=signature
            )
            session.add(seal)
            session.flush()
            session.expunge(seal)
            if self.journal is not None:
                # Written before the seal commits: a seal in the journal but not in the database
                # means the commit failed (verify says so), never that a journal line went missing.
                append_journal(self.journal, SealEntry.of(seal))
            return seal

    def verify(
        self,
        *,
        public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
        journal: Sequence[SealEntry] | None = None,
        max_unsealed_s: float | None = None,
        now: datetime | None = None,
        batch: int = 20_000,
    ) -> VerifyReport:
        """Walk the whole chain and its subject index; then check the head, the seals and the journal.

        Seals are checked with the public key whose id they name; pass every key the chain was
        ever sealed with (the current one and any retired ones) to check them all. See
        `audit_verify.verify_engine` for `journal` and `max_unsealed_s`.
        """
        from safecity.security.audit_verify import verify_engine

        engine = self.session_factory.kw["bind"]
        return verify_engine(
            engine,
            public_key=public_key,
            journal=journal,
            max_unsealed_s=max_unsealed_s,
            now=now,
            batch=batch,
        )


def seal_message(seq: int, head_hash: str) -> bytes:
    """The bytes a seal signs."""
    return f"safecity-audit-seal:v1:{seq}:{head_hash}".encode()


class SealEntry(msgspec.Struct, frozen=True):
    """One seal as the journal outside the database keeps it (a line of JSON)."""

    seq: int
    hash: str
    key_id: str
    signature: str
    at: str  # ISO 8601, informative: the signature covers seq and hash

    @classmethod
    def of(cls, seal: AuditSeal) -> SealEntry:
        """The journal line of a seal row."""
        return cls(seal.seq, seal.hash, seal.key_id, seal.signature, seal.at.isoformat())


def append_journal(path: Path, entry: SealEntry) -> None:
    """Append a seal to the journal and flush it to disk.

    The journal lives beside the signing key, outside the database: removing seals from the
    database (after rewriting the chain) is then caught by verify, which reads the journal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, msgspec.json.encode(entry) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path) -> list[SealEntry]:
    """Every seal of a journal, oldest first; ValueError names the first line that cannot be read."""
    entries = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(msgspec.json.decode(line, type=SealEntry))
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}: line {number} is not a seal ({exc})") from None
    return entries


def count(session: Session) -> int:
    """How many records the chain holds."""
    return int(session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records an audit search keeps (every given field must match) and which page of them."""

    subject_name: str | None = None  # a subject as audited: "person:42"
    actor: str | None = None
    case_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def search(session: Session, where: AuditFilter = AuditFilter()) -> list[AuditRecord]:
    """Records matching the filter, newest first."""
    stmt = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(where.limit).offset(where.offset)
    if where.subject_name is not None:
        stmt = stmt.where(
            AuditRecord.seq.in_(select(AuditSubject.seq).where(AuditSubject.subject == where.subject_name))
        )
    for column, value in (
        (AuditRecord.actor, where.actor),
        (AuditRecord.case_id, where.case_id),
        (AuditRecord.action, where.action),
        (AuditRecord.outcome, where.outcome),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if where.since is not None:
        stmt = stmt.where(AuditRecord.at_us >= to_us(where.since))
    if where.until is not None:
        stmt = stmt.where(AuditRecord.at_us < to_us(where.until))
    return list(session.scalars(stmt))


def accessed_subjects(session: Session, subjects: Sequence[str], *, limit: int = 200) -> list[AuditRecord]:
    """Allowed reads and exports that touched any of these subjects, newest first."""
    if not subjects:
        return []
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.seq.in_(select(AuditSubject.seq).where(AuditSubject.subject.in_(subjects))))
        .where(AuditRecord.outcome == Outcome.ALLOWED)
        .order_by(AuditRecord.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


__all__ = [
    "GENESIS",
    "SYSTEM",
    "Actor",
    "AuditEntry",
    "AuditFilter",
    "AuditTrail",
    "Outcome",
    "SealEntry",
    "accessed_subjects",
    "append",
    "append_journal",
    "count",
    "from_us",
    "link_hash",
    "search",
    "subject",
    "read_journal",
    "to_us",
]
