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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Outcome, subject
from safecity.core.context import Context
from safecity.security.keys import key_id
from safecity.security.models import AuditHead, AuditRecord, AuditSeal, AuditSubject

GENESIS = "0" * 64
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
        conn.execute(_INSERT_SUBJECTS, [{"subject": s[:96], "seq": seq} for s in subjects])
    conn.execute(_SET_HEAD_HASH, {"head_hash": digest})
    return seq


class AuditTrail:
    """Appends, searches, seals and verifies the chain of one database."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

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
            return seal

    def verify(
        self, *, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None, batch: int = 20_000
    ) -> VerifyReport:
        """Walk the whole chain; report the first broken link, then check the head and the seals.

        Seals are checked with the public key whose id they name; pass every key the chain was
        ever sealed with (the current one and any retired ones) to check them all.
        """
        engine = self.session_factory.kw["bind"]
        return verify_engine(engine, public_key=public_key, batch=batch)


def seal_message(seq: int, head_hash: str) -> bytes:
    """The bytes a seal signs."""
    return f"safecity-audit-seal:v1:{seq}:{head_hash}".encode()


@dataclass(slots=True)
class VerifyReport:
    """The outcome of `safecity audit verify`."""

    records: int = 0
    last_seq: int = 0
    broken_seq: int | None = None
    reason: str | None = None
    seals_checked: int = 0
    seals_unverified: int = 0

    @property
    def ok(self) -> bool:
        """True when every link, the head and every seal hold."""
        return self.broken_seq is None and self.reason is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "ok": self.ok,
            "records": self.records,
            "last_seq": self.last_seq,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
            "seals_checked": self.seals_checked,
            "seals_unverified": self.seals_unverified,
        }


def verify_rows(rows: Iterable[Sequence[Any]], report: VerifyReport) -> str:
    """Check links over rows of CHAINED_FIELDS + (prev_hash, hash), in seq order.

    Stops at the first broken link (sets report.broken_seq and reason); returns the last good hash.
    """
    prev = GENESIS
    expected = 1
    n = len(CHAINED_FIELDS)
    sha = hashlib.sha256
    for row in rows:
        seq = row[0]
        if seq != expected:
            report.broken_seq = expected if seq > expected else seq
            report.reason = (
                f"record {expected} is missing (next present is {seq})"
                if seq > expected
                else f"record {seq} is out of order after {expected - 1}"
            )
            return prev
        if row[n] != prev:
            report.broken_seq = seq
            report.reason = f"record {seq} does not link to record {seq - 1} (prev_hash differs)"
            return prev
        digest = sha(prev.encode("ascii") + _encode(row[:n])).hexdigest()
        if digest != row[n + 1]:
            report.broken_seq = seq
            report.reason = f"record {seq} was altered (its contents no longer match its hash)"
            return prev
        prev = digest
        expected += 1
        report.records += 1
        report.last_seq = seq
    return prev


def _iter_rows(engine: Engine, batch: int) -> Iterator[Sequence[Any]]:
    # The driver's own cursor: plain tuples, no result-processing layer (2x faster at 1e6 rows).
    cols = ", ".join((*CHAINED_FIELDS, "prev_hash", "hash"))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"SELECT {cols} FROM audit_records ORDER BY seq")  # noqa: S608 - fixed names
        while chunk := cursor.fetchmany(batch):
            yield from chunk
        cursor.close()
    finally:
        raw.close()


def verify_engine(
    engine: Engine,
    *,
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
    batch: int = 20_000,
) -> VerifyReport:
    """Verify the chain stored behind an engine (see AuditTrail.verify)."""
    report = VerifyReport()
    if public_key is None:
        keys: dict[str, Ed25519PublicKey] = {}
    elif isinstance(public_key, Ed25519PublicKey):
        keys = {key_id(public_key): public_key}
    else:
        keys = {key_id(k): k for k in public_key}
    with engine.connect() as conn:
        seals = conn.execute(
            select(AuditSeal.seq, AuditSeal.hash, AuditSeal.signature, AuditSeal.key_id).order_by(
                AuditSeal.id
            )
        ).all()
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    sealed = {int(s[0]): str(s[1]) for s in seals}
    found: dict[int, str] = {}

    def rows() -> Iterator[Sequence[Any]]:
        for row in _iter_rows(engine, batch):
            if row[0] in sealed:
                found[row[0]] = row[-1]
            yield row

    last_hash = verify_rows(rows(), report)
    if not report.ok:
        return report
    head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    if (head_seq, head_hash) != (report.last_seq, last_hash):
        report.broken_seq = min(head_seq, report.last_seq) + 1
        report.reason = (
            f"the chain ends at record {report.last_seq} but its head says {head_seq}: "
            "records were removed from the end or the head was altered"
        )
        return report
    for seq, digest, signature, kid in seals:
        if found.get(int(seq)) != digest:
            report.broken_seq = int(seq)
            report.reason = f"seal at record {seq} does not match the chain: records up to it were rewritten"
            return report
        if not keys:
            report.seals_unverified += 1
            continue
        key = keys.get(str(kid))
        if key is None:
            report.broken_seq = int(seq)
            report.reason = f"seal at record {seq} names key {kid}, which is none of the keys given"
            return report
        try:
            key.verify(bytes.fromhex(signature), seal_message(int(seq), digest))
        except (InvalidSignature, ValueError):
            report.broken_seq = int(seq)
            report.reason = f"seal at record {seq} has an invalid signature"
            return report
        report.seals_checked += 1
    return report


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
    "VerifyReport",
    "accessed_subjects",
    "append",
    "count",
    "from_us",
    "link_hash",
    "search",
    "subject",
    "to_us",
    "verify_engine",
]
