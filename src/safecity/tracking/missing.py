"""Missing-person reports: a wearer reported missing resolves at once to where to look.

A guardian (through the portal, for the wearers they guard) or an officer (for the wearers of
their areas) reports a wearer missing. The report answers at once with the locator's last fix,
its path over the 24 hours before the report, and the likely search area (tracking/search_area.py);
it raises a `wearer-missing` warning whose evidence is the last fix, so the warning goes to the
station answerable for where the wearer was last placed (the officers nearest to the area), and
the wearer's guardians are told through the wearers' alert follower. Reading the report again
brings the path and the area up to date. It ends as found (where, when: the time from report to
found is kept and summed up per area) or withdrawn, closing the warning. Every step and every
read is audited, naming the wearer.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import AlertNotFound, TransitionNotAllowed
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.finding import Evidence, Finding, Ref
from safecity.store import transaction
from safecity.tracking.errors import TrackingError
from safecity.tracking.missing_models import MissingReport, MissingStatus
from safecity.tracking.missing_schemas import (
    FoundIn,
    MissingIn,
    MissingOut,
    MissingStats,
    MissingSummary,
    WithdrawIn,
)
from safecity.tracking.models import WEARER, Wearer, WearerStatus
from safecity.tracking.search_area import search_area
from safecity.tracking.wearer_errors import WearerConflict, WearerNotFound
from safecity.tracking.wearer_track import Track, thin, wearer_track
from safecity.tracking.wearers import guarded_wearers, officer_reads, wearer_in_reach

RULE = "wearer-missing"  # named like the rules file's rules
KIND = "wearer_missing"
LOOKBACK = timedelta(hours=24)
MAX_PATH = 2_000  # points sent to a map; a day of one fix a minute is 1,440
CLOCK_SKEW = timedelta(minutes=5)
PURPOSE = "missing person search"


class MissingPersons:
    """The missing-person use cases of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        path: Callable[..., pl.DataFrame],
        raise_findings: Callable[[list[Finding]], Any],
        close_alert: Callable[..., Any],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._path = path
        self._raise = raise_findings
        self._close_alert = close_alert

    # --- report -------------------------------------------------------------------------------

    def report(self, ctx: Context, wearer_id: int, body: MissingIn, *, resource: str) -> MissingOut:
        """Report a wearer missing: the answer carries the last fix, the day's path and the search area."""
        now = self._now()
        if body.last_seen_at is not None and body.last_seen_at > now + CLOCK_SKEW:
            raise TrackingError("last_seen_at is in the future", field="last_seen_at")
        with transaction(self._sessions) as session:
            wearer = wearer_in_reach(session, ctx, wearer_id)
            if wearer.status != WearerStatus.ACTIVE:
                raise WearerConflict(f"wearer {wearer_id} is no longer enrolled", field="wearer_id")
            if _open_report(session, wearer_id) is not None:
                raise WearerConflict(f"wearer {wearer_id} is reported missing already", field="wearer_id")
            track = self._track(session, wearer, start=now - LOOKBACK, end=now + CLOCK_SKEW)
            area = _area(track, now)
            report = MissingReport(
                wearer_id=wearer_id,
                status=MissingStatus.OPEN,
                area_id=wearer.area_id,
                reported_at=now,
                reported_by=ctx.actor,
                reporter_role=ctx.role,
                circumstances=body.circumstances,
                last_seen_at=body.last_seen_at,
                last_fix_at=track.ts[-1] if track.ts else None,
                last_lat=track.lat[-1] if track.ts else None,
                last_lon=track.lon[-1] if track.ts else None,
                search_area=area,
                outcome_note="",
            )
            session.add(report)
            session.flush()
            report_id, person_id = report.id, wearer.person_id
        self._audit(ctx, "report", resource, person_id, report_id, status=201)
        self._ensure_warning(report_id)
        return self.view(ctx, report_id, resource=resource, audit=False)

    def _ensure_warning(self, report_id: int) -> None:
        """Raise an open report's warning unless it has one: also after a crash between the two.

        The report is stored first (what was reported is never lost), then its warning is raised
        and its id kept; every later read of a report without one raises it. The warning's dedup
        key is the report, so raising it twice extends one alert.
        """
        with self._sessions() as session:
            report = session.get(MissingReport, report_id)
            if report is None or report.status != MissingStatus.OPEN or report.alert_id is not None:
                return
            wearer = session.get(Wearer, report.wearer_id)
            assert wearer is not None  # a foreign key
            at = report.reported_at
            track = self._track(session, wearer, start=at - LOOKBACK, end=at + CLOCK_SKEW)
        alert_id = self._raise_warning(report_id, wearer, track, at)
        with transaction(self._sessions) as session:
            stored = session.get(MissingReport, report_id)
            if stored is not None and stored.alert_id is None:
                stored.alert_id = alert_id

    def _raise_warning(self, report_id: int, wearer: Wearer, track: Track, now: datetime) -> str | None:
        """The `wearer-missing` warning: routed by the last fix, or by the wearer's area without one."""
        last = track.last
        evidence = Evidence(
            event_id=str(last["event_id"]) if last else f"missing-report-{report_id}",
            corr_id=str(last["corr_id"]) if last else f"missing-report-{report_id}",
            kind=str(last["kind"]) if last else "missing_report",
            subject=str(wearer.id),
            device=str(last["device"]) if last else "portal",
            ts=track.ts[-1] if track.ts else now,
            lat=track.lat[-1] if track.ts else None,
            lon=track.lon[-1] if track.ts else None,
            area=(last.get("area") or wearer.area_id) if last else wearer.area_id,
            code="missing",
        )
        finding = Finding(
            rule=RULE,
            rule_kind=KIND,
            severity="critical",
            title=f"Wearer {wearer.id} reported missing 老人走失",
            subject_kind=WEARER,
            subject=str(wearer.id),
            dedup_key=f"missing-{report_id}",
            at=now,
            evidence=(evidence,),
            facts={"missing_report": report_id, "wearer": wearer.id, "home_area": wearer.area_id},
            refs=(Ref(WEARER, str(wearer.id)),),
        )
        changes = self._raise([finding]) or []
        return next((c.alert_id for c in changes if getattr(c, "rule", None) == RULE), None)

    # --- read ---------------------------------------------------------------------------------

    def view(self, ctx: Context, report_id: int, *, resource: str, audit: bool = True) -> MissingOut:
        """The report with the path and the search area as of now (as of found, once found)."""
        now = self._now()
        with self._sessions() as session:
            report = session.get(MissingReport, report_id)
            if report is None:
                raise WearerNotFound("missing_report", report_id)
            wearer_in_reach(session, ctx, report.wearer_id)
            healing = report.status == MissingStatus.OPEN and report.alert_id is None
        if healing:
            self._ensure_warning(report_id)
        with self._sessions() as session:
            report = session.get(MissingReport, report_id)
            assert report is not None
            wearer = wearer_in_reach(session, ctx, report.wearer_id)
            until = report.found_at or report.closed_at or now
            track = self._track(session, wearer, start=report.reported_at - LOOKBACK, end=until + CLOCK_SKEW)
            out = _out(report, track, _area(track, until) if report.status == MissingStatus.OPEN else None)
            person_id = wearer.person_id
        if audit:
            self._audit(ctx, "read", resource, person_id, report_id)
        return out

    def reports(self, ctx: Context, *, status: str | None = None, resource: str) -> list[MissingSummary]:
        """Reports of the caller's areas (a guardian: of the wearers they guard), newest first."""
        with self._sessions() as session:
            stmt = _scoped(select(MissingReport), session, ctx)
            if status is not None:
                stmt = stmt.where(MissingReport.status == status)
            rows = list(session.scalars(stmt.order_by(MissingReport.reported_at.desc()).limit(500)))
        self._recorder.record(
            ctx, AuditEntry("missing.list", resource, result_count=len(rows), detail={"status": status})
        )
        return [
            MissingSummary(
                id=r.id,
                wearer_id=r.wearer_id,
                status=r.status,
                area_id=r.area_id,
                reported_at=r.reported_at,
                found_at=r.found_at,
                minutes_to_found=_minutes(r),
            )
            for r in rows
        ]

    def stats(self, ctx: Context) -> MissingStats:
        """How many reports the caller's areas had and how quickly the found were found."""
        with self._sessions() as session:
            stmt = _scoped(select(MissingReport.status, func.count()), session, ctx)
            rows = session.execute(stmt.group_by(MissingReport.status)).all()
            counts: dict[str, int] = {str(status): int(n) for status, n in rows}
            found = list(
                session.scalars(
                    _scoped(select(MissingReport), session, ctx).where(
                        MissingReport.status == MissingStatus.FOUND
                    )
                )
            )
        minutes = sorted(m for m in (_minutes(r) for r in found) if m is not None)
        return MissingStats(
            reports=sum(counts.values()),
            open=counts.get(MissingStatus.OPEN, 0),
            found=counts.get(MissingStatus.FOUND, 0),
            withdrawn=counts.get(MissingStatus.WITHDRAWN, 0),
            median_minutes_to_found=round(statistics.median(minutes), 1) if minutes else None,
            p90_minutes_to_found=round(minutes[min(len(minutes) - 1, int(0.9 * len(minutes)))], 1)
            if minutes
            else None,
            longest_minutes_to_found=round(minutes[-1], 1) if minutes else None,
        )

    # --- ending -------------------------------------------------------------------------------

    def found(self, ctx: Context, report_id: int, body: FoundIn, *, resource: str) -> MissingOut:
        """The wearer is found: where and when; the warning closes as confirmed."""
        now = self._now()
        at = body.found_at or now
        report, person_id = self._end(
            ctx, report_id, MissingStatus.FOUND, body.note, at=at, now=now, where=body
        )
        self._close(ctx, report, "confirmed", f"found: {body.note}".strip())
        self._audit(ctx, "found", resource, person_id, report_id)
        return self.view(ctx, report_id, resource=resource, audit=False)

    def withdraw(self, ctx: Context, report_id: int, body: WithdrawIn, *, resource: str) -> MissingOut:
        """The report is taken back (not missing after all); the warning closes as a false alarm."""
        now = self._now()
        report, person_id = self._end(ctx, report_id, MissingStatus.WITHDRAWN, body.note, at=now, now=now)
        self._close(ctx, report, "false_alarm", f"withdrawn: {body.note}")
        self._audit(ctx, "withdraw", resource, person_id, report_id)
        return self.view(ctx, report_id, resource=resource, audit=False)

    def _end(
        self,
        ctx: Context,
        report_id: int,
        status: MissingStatus,
        note: str,
        *,
        at: datetime,
        now: datetime,
        where: FoundIn | None = None,
    ) -> tuple[MissingReport, int]:
        """Close an open report in reach (found `where`, or withdrawn); the report and the wearer's person."""
        with transaction(self._sessions) as session:
            report = session.get(MissingReport, report_id)
            if report is None:
                raise WearerNotFound("missing_report", report_id)
            wearer = wearer_in_reach(session, ctx, report.wearer_id)
            if report.status != MissingStatus.OPEN:
                raise WearerConflict(f"report {report_id} is {report.status} already", field="report_id")
            if at < report.reported_at - CLOCK_SKEW or at > now + CLOCK_SKEW:
                raise TrackingError(
                    "found_at must be after the report and not in the future", field="found_at"
                )
            report.status, report.closed_at, report.closed_by = status, now, ctx.actor
            report.outcome_note = note
            if where is not None:
                report.found_at, report.found_lat, report.found_lon = at, where.lat, where.lon
            session.flush()
            session.expunge(report)
            return report, wearer.person_id

    def _close(self, ctx: Context, report: MissingReport, outcome: str, note: str) -> None:
        """Close the report's warning; one closed already by an officer stays as they left it."""
        if report.alert_id is None:
            return
        with suppress(TransitionNotAllowed, AlertNotFound):
            self._close_alert(report.alert_id, by=ctx.actor, outcome=outcome, note=note[:500])

    # --- helpers ------------------------------------------------------------------------------

    def _track(self, session: Session, wearer: Wearer, *, start: datetime, end: datetime) -> Track:
        return wearer_track(session, self._path, wearer.id, start=start, end=end)

    def _audit(
        self, ctx: Context, action: str, resource: str, person_id: int, report_id: int, *, status: int = 200
    ) -> None:
        entry = AuditEntry(
            f"missing.{action}",
            resource,
            status=status,
            purpose=PURPOSE,
            subjects=[subject("person", person_id)],
            detail={"report": report_id},
        )
        self._recorder.record(ctx, entry)


def _open_report(session: Session, wearer_id: int) -> int | None:
    return session.scalar(
        select(MissingReport.id).where(
            MissingReport.wearer_id == wearer_id, MissingReport.status == MissingStatus.OPEN
        )
    )


def _scoped(stmt: Any, session: Session, ctx: Context) -> Any:
    """Limit a query of reports to the caller's areas, or to the wearers a guardian guards."""
    if officer_reads(ctx):
        return stmt if ctx.city_wide else stmt.where(MissingReport.area_id.in_(sorted(ctx.areas)))
    return stmt.where(MissingReport.wearer_id.in_(sorted(guarded_wearers(session, ctx))))


def _area(track: Track, now: datetime) -> dict[str, Any] | None:
    return search_area(track.ts, track.lat, track.lon, now=now).as_dict() if track.ts else None


def _minutes(report: MissingReport) -> float | None:
    if report.found_at is None:
        return None
    return round(max(0.0, (report.found_at - report.reported_at).total_seconds()) / 60.0, 1)


def _out(report: MissingReport, track: Track, area: dict[str, Any] | None) -> MissingOut:
    path, thinned = thin(track, MAX_PATH)
    return MissingOut(
        id=report.id,
        wearer_id=report.wearer_id,
        status=report.status,
        area_id=report.area_id,
        reported_at=report.reported_at,
        reported_by=report.reported_by,
        circumstances=report.circumstances,
        last_seen_at=report.last_seen_at,
        alert_id=report.alert_id,
        last_fix=path[-1] if path else None,
        path=path,
        path_truncated=thinned,
        search_area=area,
        reported_search_area=report.search_area,
        found_at=report.found_at,
        found_lat=report.found_lat,
        found_lon=report.found_lon,
        closed_by=report.closed_by,
        outcome_note=report.outcome_note,
        minutes_to_found=_minutes(report),
    )


def build_missing(platform: Any) -> MissingPersons:
    """The missing-person use cases on a platform's parts (core.capabilities.Service)."""
    return MissingPersons(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        path=platform.lake.path,
        raise_findings=platform.alerts.apply_findings,
        close_alert=platform.alerts.close,
    )


__all__ = ["MissingPersons", "build_missing"]
