"""Retention runs: plan what the policy says must go, then delete it from the lake and the registry.

Planning only reads; its report is what a dry run prints. Applying then
1. settles lake purges that an interrupted run left `pending`;
2. writes a `pending` purge row for every lake partition due, deletes the partitions (whole, by
   an atomic rename into the lake's trash) and sets the rows `done` with the rows deleted;
3. in one transaction deletes the registry rows due, writes their purge rows and appends one
   audit record ("retention.apply") that reports every purge not yet reported by one.
A crash anywhere is settled by the next run, and a run right after another deletes nothing.
Runs hold a lock file in the lake, so two at once never both delete and count one partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.record import new_id
from safecity.lake import Lake
from safecity.lake.lock import FileLock
from safecity.security.audit import SYSTEM, Actor, AuditEntry, append
from safecity.security.models import Purge, PurgeStatus
from safecity.security.purge import CARRIED_TOTALS, LAKE
from safecity.security.retention import (
    HeldPartition,
    RetentionPolicy,
    active_holds,
    partitions_due,
    registry_entries,
)
from safecity.store import transaction
from safecity.store.retention import Purgeable

APPLIED = "retention.apply"
MAX_RESULT_COUNT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class LakePurge:
    """One lake partition that goes (or went)."""

    day: date
    kind: str
    rows: int


@dataclass(slots=True)
class RetentionReport:
    """What a run deletes (dry run) or deleted, and what it keeps because cases hold it."""

    as_of: date
    dry_run: bool
    lake: list[LakePurge] = field(default_factory=list)
    registry: dict[str, int] = field(default_factory=dict)  # table -> rows, non-zero only
    held: list[HeldPartition] = field(default_factory=list)
    pending: int = 0  # lake purges an interrupted run left, which applying settles first
    audit_seq: int | None = None

    @property
    def lake_rows(self) -> int:
        """Lake rows in the purged partitions."""
        return sum(p.rows for p in self.lake)

    @property
    def total_rows(self) -> int:
        """Lake and registry rows together."""
        return self.lake_rows + sum(self.registry.values())

    def lake_by_kind(self) -> dict[str, dict[str, Any]]:
        """Purged partitions per kind: how many, their rows and first and last date."""
        out: dict[str, dict[str, Any]] = {}
        for p in sorted(self.lake, key=lambda p: (p.kind, p.day)):
            entry = out.setdefault(p.kind, {"partitions": 0, "rows": 0, "first": p.day.isoformat()})
            entry["partitions"] += 1
            entry["rows"] += p.rows
            entry["last"] = p.day.isoformat()
        return out

    def held_by_case(self) -> dict[str, int]:
        """Partitions past retention each case keeps."""
        out: dict[str, int] = {}
        for h in self.held:
            for case_id in h.case_ids:
                out[case_id] = out.get(case_id, 0) + 1
        return dict(sorted(out.items()))

    def detail(self) -> dict[str, Any]:
        """The counts as the audit record keeps them."""
        return {
            "as_of": self.as_of.isoformat(),
            "lake": self.lake_by_kind(),
            "registry": dict(sorted(self.registry.items())),
            "held_by_case": self.held_by_case(),
        }


# --- planning -----------------------------------------------------------------------------------


def registry_targets(policy: RetentionPolicy, as_of: date) -> list[Purgeable]:
    """Registry rows due, entry by entry (children before parents); a dry run counts exactly these."""

    def cut(entry: str) -> datetime:
        return policy.registry_cutoff(entry, as_of)

    return [target for entry in registry_entries() for target in entry.due(cut)]


def plan_retention(
    session_factory: sessionmaker[Session],
    lake: Lake,
    policy: RetentionPolicy,
    *,
    as_of: date,
    accepting_since: date | None = None,
) -> RetentionReport:
    """What applying the policy as of this day would delete and keep; deletes nothing."""
    with session_factory() as session:
        holds = active_holds(session, policy, as_of)
        counts: dict[str, int] = {}
        for t in registry_targets(policy, as_of):
            rows = int(session.scalar(select(func.count()).select_from(t.model).where(t.where)) or 0)
            counts[t.table] = counts.get(t.table, 0) + rows
        pending = session.scalar(select(func.count()).where(Purge.status == PurgeStatus.PENDING)) or 0
    due, held = partitions_due(
        lake.partitions(), policy, as_of=as_of, holds=holds, accepting_since=accepting_since
    )
    return RetentionReport(
        as_of=as_of,
        dry_run=True,
        lake=[LakePurge(p.date, p.kind, p.rows) for p in due],
        registry={table: n for table, n in counts.items() if n},
        held=held,
        pending=int(pending),
    )


# --- applying -----------------------------------------------------------------------------------


def apply_retention(
    session_factory: sessionmaker[Session],
    lake: Lake,
    policy: RetentionPolicy,
    *,
    as_of: date,
    now: datetime,
    actor: Actor = SYSTEM,
    accepting_since: date | None = None,
    source: str = "",
) -> RetentionReport:
    """Delete what the policy says must go as of this day, record it and audit it; see the module notes."""
    if as_of > now.date():
        raise ValueError(f"retention cannot be applied as of {as_of}, after today ({now.date()})")
    with FileLock(lake.root / ".retention.lock").exclusive():
        _finish_pending(session_factory, lake)
        plan = plan_retention(session_factory, lake, policy, as_of=as_of, accepting_since=accepting_since)
        run_id = new_id()
        _purge_lake(session_factory, lake, plan.lake, run_id=run_id, at=now)
        with transaction(session_factory) as session:
            _purge_registry(session, policy, as_of=as_of, run_id=run_id, at=now)
            report = _report_unaudited(session, as_of=as_of, held=plan.held)
            detail = {**report.detail(), "run_id": run_id, "policy": source}
            # result_count is a 32-bit column; a first run over a large lake can exceed it, and the
            # exact counts are in the detail anyway.
            total = min(report.total_rows, MAX_RESULT_COUNT)
            entry = AuditEntry(action=APPLIED, resource="retention", result_count=total, detail=detail)
            report.audit_seq = append(session, actor, entry, at=now)
            session.execute(
                update(Purge)
                .where(Purge.audit_seq.is_(None), Purge.status == PurgeStatus.DONE)
                .values(audit_seq=report.audit_seq)
            )
    return report


def _finish_pending(session_factory: sessionmaker[Session], lake: Lake) -> None:
    """Settle lake purges an interrupted run left pending.

    A partition already gone was deleted by that run after it counted the rows: the purge is
    done. A partition still there was never touched: the pending row is dropped and this run's
    plan decides afresh (a hold placed since then is honoured).
    """
    with session_factory() as session:
        pending = session.execute(
            select(Purge.id, Purge.day, Purge.kind).where(
                Purge.status == PurgeStatus.PENDING, Purge.target == LAKE
            )
        ).all()
    if not pending:
        return
    present = {(p.date.isoformat(), p.kind) for p in lake.partitions()}
    with transaction(session_factory) as session:
        for purge_id, day, kind in pending:
            if (day, kind) in present:
                session.execute(delete(Purge).where(Purge.id == purge_id))
            else:
                session.execute(update(Purge).where(Purge.id == purge_id).values(status=PurgeStatus.DONE))


def _purge_lake(
    session_factory: sessionmaker[Session], lake: Lake, due: Sequence[LakePurge], *, run_id: str, at: datetime
) -> None:
    if not due:
        return
    with transaction(session_factory) as session:
        rows = [
            Purge(
                run_id=run_id,
                at=at,
                status=PurgeStatus.PENDING,
                target=LAKE,
                kind=p.kind,
                day=p.day.isoformat(),
                rows=p.rows,
            )
            for p in due
        ]
        session.add_all(rows)
    dropped = lake.drop((p.day, p.kind) for p in due)
    with transaction(session_factory) as session:
        for purge, p in zip(rows, due, strict=True):
            # Absent now means another hand removed it: nothing was deleted by this run.
            session.execute(
                update(Purge)
                .where(Purge.id == purge.id)
                .values(status=PurgeStatus.DONE, rows=dropped.get((p.day, p.kind), 0))
            )


def _purge_registry(
    session: Session, policy: RetentionPolicy, *, as_of: date, run_id: str, at: datetime
) -> None:
    for target in registry_targets(policy, as_of):
        # Totals the rows carry (the ingest ledger's counts) live on in the purge ledger, so that
        # reconciliation still adds up: read them before the rows go.
        carried = dict(target.carried(session)) if target.carried is not None else {}
        result = session.execute(
            delete(target.model).where(target.where).execution_options(synchronize_session=False)
        )
        rows = int(getattr(result, "rowcount", 0) or 0)
        if not rows:
            continue
        unknown = set(carried) - set(CARRIED_TOTALS)
        if unknown:
            raise ValueError(f"{target.table}: the purge ledger keeps no totals named {sorted(unknown)}")
        session.add(
            Purge(run_id=run_id, at=at, status=PurgeStatus.DONE, target=target.table, rows=rows, **carried)
        )
    session.flush()


def _report_unaudited(session: Session, *, as_of: date, held: list[HeldPartition]) -> RetentionReport:
    """The report of every done purge no audit record has reported yet (this run's, and any
    finished on behalf of an interrupted run)."""
    report = RetentionReport(as_of=as_of, dry_run=False, held=held)
    for purge in session.scalars(
        select(Purge).where(Purge.audit_seq.is_(None), Purge.status == PurgeStatus.DONE).order_by(Purge.id)
    ):
        if purge.target == LAKE:
            report.lake.append(LakePurge(date.fromisoformat(purge.day or ""), purge.kind or "", purge.rows))
        else:
            report.registry[purge.target] = report.registry.get(purge.target, 0) + purge.rows
    return report


__all__ = [
    "APPLIED",
    "LakePurge",
    "RetentionReport",
    "apply_retention",
    "plan_retention",
    "registry_targets",
]
