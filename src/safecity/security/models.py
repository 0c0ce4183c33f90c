"""Security tables: accounts, sign-in attempts and sessions, cases and who works them, the audit chain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safecity.store import Base, UtcDateTime


class Account(Base):
    """A person who signs in: staff, partner or citizen. Devices authenticate separately."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32), index=True)
    # The unit shown to data subjects when they ask who accessed their data: a station, a company.
    unit: Mapped[str] = mapped_column(String(128))
    # Areas the account reaches (district, station or community ids); descendants are included.
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    city_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    # A citizen's own registry record, so that they can see their bikes and who looked at them.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Signs in with a one-time code (always for the roles in TOTP_REQUIRED). Its user sets the code
    # up at the next sign-in while `totp_secret` is empty (security/enrolment.py).
    uses_totp: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # refuses a replayed code
    # Failed sign-ins from every address since the last success, and until when addresses the
    # account has never signed in from must wait before their next try (security/signin.py).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthSession(Base):
    """A sign-in: its refresh secret (hashed, rotated on every use) and whether it was revoked."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(128), default="")

    account: Mapped[Account] = relationship(lazy="joined")


class SignInAttempt(Base):
    """Sign-ins of one username from one address: failures, a lockout of that pair, the last success.

    Kept for usernames that name no account too, so that an unknown name costs the same work
    and answers the same as a real one. An address with a recent success is one the account's
    owner uses: the per-account slow path never holds it back.
    """

    __tablename__ = "sign_in_attempts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, from this address
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class TotpEnrolment(Base):
    """A one-time-code set-up in progress: the new secret, until a valid code confirms it.

    Only the SHA-256 of the enrolment token's secret part is stored; one per account (a new
    sign-in replaces it), removed when completed or after too many wrong codes.
    """

    __tablename__ = "totp_enrolments"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True, index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)

    account: Mapped[Account] = relationship(lazy="joined")


class CaseStatus(StrEnum):
    """Person-level queries are allowed only under an open case."""

    OPEN = "open"
    CLOSED = "closed"


class CaseNumber(Base):
    """The last case number given out in a year: cases opened at once each take the next one."""

    __tablename__ = "case_numbers"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """An investigation: the lawful reason for person-level queries, bounded in time and area."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. "C2026-000042"
    title: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str] = mapped_column(Text)  # complaint number, order, statement
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_note: Mapped[str | None] = mapped_column(Text)

    members: Mapped[list[CaseMember]] = relationship(
        back_populates="case", lazy="selectin", cascade="all, delete-orphan"
    )
    holds: Mapped[list[CaseHold]] = relationship(
        back_populates="case", lazy="selectin", cascade="all, delete-orphan"
    )


class CaseMember(Base):
    """An account assigned to a case; only members may query under it."""

    __tablename__ = "case_members"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)

    case: Mapped[Case] = relationship(back_populates="members")
    account: Mapped[Account] = relationship(lazy="joined")


class CaseHold(Base):
    """Lake data a case keeps past its normal retention: these kinds, these days."""

    __tablename__ = "case_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, inclusive
    to_date: Mapped[str] = mapped_column(String(10))
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    case: Mapped[Case] = relationship(back_populates="holds")


class AuditRecord(Base):
    """One audited action. `hash` = sha256(prev_hash + canonical fields); see security/audit.py.

    Times are kept as integer microseconds and the JSON fields as their canonical text, so that
    the bytes hashed are exactly the bytes stored, on SQLite and PostgreSQL alike.
    """

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at_us: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    subjects: Mapped[str] = mapped_column(Text)  # canonical JSON list of "kind:value"
    result_count: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON object
    client: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditSubject(Base):
    """Index of audited subjects, so that "who looked at this person" is one lookup."""

    __tablename__ = "audit_subjects"

    subject: Mapped[str] = mapped_column(String(96), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("audit_records.seq"), primary_key=True)


class AuditHead(Base):
    """The chain's last link; one row, locked by every append so that links never fork."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditSeal(Base):
    """A signature over the chain head at some point: truncation or rewriting before it shows."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(200))


def as_dict(record: AuditRecord) -> dict[str, Any]:
    """An audit record's fields, for display and export."""
    return {c.name: getattr(record, c.name) for c in AuditRecord.__table__.columns}


class PurgeStatus(StrEnum):
    """A lake purge is pending until its partition is gone; registry purges are written done."""

    PENDING = "pending"
    DONE = "done"


class Purge(Base):
    """Rows one retention run deleted from one lake partition or one registry table."""

    __tablename__ = "retention_purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(26), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    target: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str | None] = mapped_column(String(32))  # lake: the record kind
    day: Mapped[str | None] = mapped_column(String(10))  # lake: the partition date, YYYY-MM-DD
    rows: Mapped[int] = mapped_column(BigInteger)
    # For ingest_batches: the removed ledger entries' totals (rows = how many entries).
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    stored: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_lettered: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)  # set once an audit record reports it
