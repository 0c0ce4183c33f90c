"""The community officer's visit list (走访核查) as use cases: tasks from housing warnings, outcomes, rounds.

Every housing warning (places/rounds.py says which) becomes one task for the officer of the
community its compound lies in. Tasks are made when the alert service announces a raised alert
on the ALERTS topic (a subscriber group of its own, so a persistent bus redelivers what a crash
interrupted), and, for what a stopped process missed, by a catch-up over the recent alerts when
the worker starts; both are idempotent (one task per alert). The officer lists the tasks of the
communities they reach, grouped by place and flat with a suggested walking round, records what
each visit found (only in a community they reach), marks flats visited, and reads each rule's
precision from the outcomes. Every change and read of the list is audited.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import (
    AlertError,
    AlertFilter,
    AlertNotFound,
    AlertService,
    AlertStatus,
    AlertView,
    ChangeType,
)
from safecity.bus import ALERTS, Bus
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import SYSTEM, Context
from safecity.core.errors import AccessDenied
from safecity.core.finding import Ref
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.models import (
    COMPOUND,
    FLAT,
    Building,
    Compound,
    Flat,
    VisitOutcome,
    VisitStatus,
    VisitTask,
)
from safecity.places.rounds import (
    Stop,
    alert_outcome_of,
    is_housing_kind,
    is_housing_warning,
    priority_of,
    walking_round,
)
from safecity.places.rounds import precision as precision_of
from safecity.places.visit_places import places_of_tasks, round_start, visit_out
from safecity.places.visit_schemas import (
    FlatVisitedOut,
    OutcomeIn,
    RoundStop,
    RulePrecision,
    VisitedIn,
    VisitListOut,
    VisitOut,
    WalkingRound,
)
from safecity.security import Permission
from safecity.store import transaction

log = structlog.get_logger(__name__)

BUILDING = "building"  # Ref entity of a building (the shared contract: Ref("building", id))
MAX_TASKS = 500
CATCH_UP = timedelta(days=7)  # how far back a starting worker looks for warnings it may have missed
CATCH_UP_PAGE = 500


@dataclass(frozen=True, slots=True)
class VisitFilter:
    """Which tasks a list keeps: of one community, status (`open`, `done`, `all`), rule, compound."""

    community_id: str | None = None
    status: str = "open"
    rule: str | None = None
    compound_id: str | None = None
    limit: int = MAX_TASKS


@dataclass(frozen=True, slots=True)
class RaisedWarning:
    """What a task is made from: an alert's id, rule, severity, title and refs."""

    alert_id: str
    rule: str
    rule_kind: str
    severity: str
    title: str
    refs: tuple[Ref, ...]
    at: datetime

    @classmethod
    def of(cls, alert: AlertView) -> RaisedWarning:
        """The warning an alert of the alert service describes."""
        return cls(
            alert_id=alert.id,
            rule=alert.rule,
            rule_kind=alert.rule_kind,
            severity=alert.severity,
            title=alert.title,
            refs=tuple(Ref.from_json(r) for r in alert.refs or ()),
            at=alert.created_at,
        )

    def ref(self, entity: str) -> str | None:
        """The id of the first reference to an entity of this kind."""
        return next((r.id for r in self.refs if r.entity == entity), None)


class Visits:
    """The visit-list use cases of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        alerts: AlertService,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._alerts = alerts
        self._now = now

    # --- tasks from warnings ----------------------------------------------------------------

    def take(self, warnings: Iterable[RaisedWarning]) -> list[int]:
        """Make a task of each housing warning that has none yet; the ids of the tasks made."""
        wanted = {w.alert_id: w for w in warnings if is_housing_warning(w.rule_kind, w.refs)}
        if not wanted:
            return []
        try:
            ids = self._insert(wanted)
        except IntegrityError:
            # Another process made some of these tasks meanwhile (one task per alert): make the rest.
            ids = self._insert(wanted)
        if ids:
            self._recorder.record(
                SYSTEM,
                AuditEntry(
                    "visits.tasks_add",
                    "visits",
                    status=201,
                    result_count=len(ids),
                    detail={"tasks": ids},
                ),
            )
        return ids

    def _insert(self, wanted: dict[str, RaisedWarning]) -> list[int]:
        with transaction(self._sessions) as session:
            have = set(
                session.scalars(select(VisitTask.alert_id).where(VisitTask.alert_id.in_(list(wanted))))
            )
            made = [
                t for w in wanted.values() if w.alert_id not in have and (t := _task(session, w)) is not None
            ]
            session.add_all(made)
            session.flush()
            return [t.id for t in made]

    def take_alert(self, alert_id: str) -> list[int]:
        """Make the task of one raised alert, if it is a housing warning (what the worker calls)."""
        try:
            alert = self._alerts.get(alert_id).alert
        except AlertNotFound:
            log.warning("visits.alert_missing", alert_id=alert_id)
            return []
        return self.take([RaisedWarning.of(alert)])

    def catch_up(self, *, window: timedelta = CATCH_UP) -> list[int]:
        """Make the tasks of recent housing warnings that have none (raised while no worker listened).

        Alerts closed already need no visit (handled at the console, or settled by a visit whose
        task retention has since removed). At most 100 pages of the window's alerts are read: a
        city raising more in a week relies on the live stream for the rest.
        """
        since = self._now() - window
        made: list[int] = []
        for offset in range(0, 100 * CATCH_UP_PAGE, CATCH_UP_PAGE):
            page = self._alerts.list_alerts(AlertFilter(since=since, limit=CATCH_UP_PAGE, offset=offset))
            made += self.take(
                RaisedWarning.of(a)
                for a in page
                if is_housing_kind(a.rule_kind) and a.status != AlertStatus.CLOSED
            )
            if len(page) < CATCH_UP_PAGE:
                break
        return made

    async def follow(self, bus: Bus, *, group: str = "places-visits") -> None:
        """Make tasks of the housing warnings the alert service announces, until cancelled."""
        sub = bus.subscribe(ALERTS, group=group)  # before catching up, so nothing falls in between
        try:
            await asyncio.to_thread(self.catch_up)
        except Exception:  # the live stream still makes tasks; the next start catches up again
            log.exception("visits.catch_up_failed")
        try:
            async for delivery in sub:
                notice = delivery.payload
                if (
                    isinstance(notice, dict)
                    and notice.get("type") == ChangeType.RAISED.value
                    and is_housing_kind(notice.get("rule_kind"))
                ):
                    try:
                        await asyncio.to_thread(self.take_alert, str(notice["alert_id"]))
                    except Exception:
                        # Not acknowledged: a persistent bus redelivers it; the next start catches up.
                        log.exception("visits.take_failed", alert_id=notice.get("alert_id"))
                        continue
                await delivery.ack()
        finally:
            await sub.close()

    # --- the officer's list -----------------------------------------------------------------

    def tasks(
        self,
        ctx: Context,
        where: VisitFilter = VisitFilter(),
        *,
        lat: float | None = None,
        lon: float | None = None,
        resource: str,
    ) -> VisitListOut:
        """Tasks of the caller's communities grouped by place and flat, by priority, with a walking round.

        The round starts at the officer's position (`lat`, `lon`: both or neither) if given.
        """
        if (lat is None) != (lon is None):
            raise PlacesError(
                "give both lat and lon (the officer's position), or neither",
                field="lat" if lat is None else "lon",
            )
        position = (lat, lon) if lat is not None and lon is not None else None
        if where.status not in ("open", "done", "all"):
            raise PlacesError("status must be open, done or all", field="status")
        if not 1 <= where.limit <= MAX_TASKS:
            raise PlacesError(f"limit must be 1 to {MAX_TASKS}", field="limit")
        with self._sessions() as session:
            stmt = _scoped(select(VisitTask), ctx, where.community_id)
            if where.status != "all":
                stmt = stmt.where(VisitTask.status == where.status)
            if where.rule is not None:
                stmt = stmt.where(VisitTask.rule == where.rule)
            if where.compound_id is not None:
                stmt = stmt.where(VisitTask.compound_id == where.compound_id)
            stmt = stmt.order_by(VisitTask.priority, VisitTask.created_at, VisitTask.id).limit(where.limit)
            rows = list(session.scalars(stmt))
            places = places_of_tasks(session, rows)
            open_count = session.scalar(
                _scoped(select(func.count()).select_from(VisitTask), ctx, where.community_id).where(
                    VisitTask.status == VisitStatus.OPEN
                )
            )
            start, start_from = round_start(session, where.community_id, position, places)
        stops = [Stop(p.key, p.lat, p.lon) for p in places]
        legs = walking_round(start, stops)
        by_key = {p.key: p for p in places}
        round_ = WalkingRound(
            start=list(start) if start is not None else None,
            start_from=start_from,
            stops=[
                RoundStop(
                    key=leg.key,
                    order=leg.order,
                    lat=by_key[leg.key].lat,
                    lon=by_key[leg.key].lon,
                    distance_m=leg.distance_m,
                )
                for leg in legs
            ],
            total_m=round(sum(leg.distance_m or 0.0 for leg in legs), 1),
        )
        self._recorder.record(
            ctx,
            AuditEntry(
                "visits.read",
                resource,
                result_count=len(rows),
                detail={"community": where.community_id, "status": where.status},
            ),
        )
        return VisitListOut(
            places=places, round=round_, open_tasks=int(open_count or 0), shown_tasks=len(rows)
        )

    # --- outcomes ---------------------------------------------------------------------------

    def record_outcome(self, ctx: Context, task_id: int, body: OutcomeIn, *, resource: str) -> VisitOut:
        """Record what a visit found; done unless no one was home (then it stays on the list)."""
        now = self._now()
        with transaction(self._sessions) as session:
            # Locked (PostgreSQL): of two officers recording at once, the second sees the first's outcome.
            task = session.get(VisitTask, task_id, with_for_update=True)
            if task is None:
                raise PlaceNotFound("visit", task_id)
            ctx.require_area(task.community_id, what=f"visit {task_id}")
            if task.status == VisitStatus.DONE:
                raise PlaceConflict(f"visit {task_id} is done already ({task.outcome})", field="visit_id")
            outcome = VisitOutcome(body.outcome)
            task.outcome, task.note = outcome.value, body.note
            task.visited_at, task.visited_by = now, ctx.actor
            if outcome is not VisitOutcome.NO_ONE_HOME:
                task.status = VisitStatus.DONE
                # Someone answered the door: the flat was visited today.
                if task.flat_id is not None and (flat := session.get(Flat, task.flat_id)) is not None:
                    flat.visited_on = now.date()
            session.flush()
            out = visit_out(task)
        closed = self._settle_alert(ctx, out)
        self._recorder.record(
            ctx,
            AuditEntry(
                "visits.outcome",
                resource,
                detail={
                    "visit": task_id,
                    "alert": out.alert_id,
                    "rule": out.rule,
                    "outcome": out.outcome,
                    "alert_closed_as": closed,
                },
            ),
        )
        return out

    def _settle_alert(self, ctx: Context, visit: VisitOut) -> str | None:
        """Close the warning a visit settled, as what it turned out to be; the outcome closed with.

        After the visit is committed, in the alert service's own transaction: the visit is the
        record, and an alert closed in the console meanwhile (or routed beyond the officer's reach)
        simply stays as it is.
        """
        outcome = alert_outcome_of(visit.outcome)
        if outcome is None or not ctx.can(Permission.ALERTS_ACT):
            return None
        note = f"visit {visit.id}: {visit.outcome}"
        try:
            self._alerts.close(visit.alert_id, by=ctx.actor, outcome=outcome, note=note, ctx=ctx)
        except (AlertError, AccessDenied) as exc:
            log.info("visits.alert_left_open", alert_id=visit.alert_id, reason=type(exc).__name__)
            return None
        return outcome

    def mark_visited(self, ctx: Context, flat_id: int, body: VisitedIn, *, resource: str) -> FlatVisitedOut:
        """Mark a flat of a community the caller reaches as visited on a day (today by default)."""
        today = self._now().date()
        on = body.on or today
        if on > today:
            raise PlacesError("a visit cannot be in the future", field="on")
        with transaction(self._sessions) as session:
            flat = session.get(Flat, flat_id)
            if flat is None:
                raise PlaceNotFound("flat", flat_id)
            building = session.get(Building, flat.building_id)
            compound = session.get(Compound, building.compound_id) if building is not None else None
            if compound is None:
                raise PlaceNotFound("flat", flat_id)  # a flat's building and compound are foreign keys
            ctx.require_area(compound.community_id, what=f"flat {flat_id}")
            # A later visit recorded first stays the last visit.
            flat.visited_on = max(on, flat.visited_on) if flat.visited_on is not None else on
            out = FlatVisitedOut(flat_id=flat_id, visited_on=flat.visited_on)
        self._recorder.record(
            ctx, AuditEntry("visits.flat_visited", resource, detail={"flat": flat_id, "on": on.isoformat()})
        )
        return out

    def precision(
        self, ctx: Context, *, community_id: str | None = None, resource: str
    ) -> list[RulePrecision]:
        """How the visits of each rule's warnings turned out, over the caller's communities."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with self._sessions() as session:
            stmt = _scoped(
                select(VisitTask.rule, VisitTask.status, VisitTask.outcome, func.count()), ctx, community_id
            ).group_by(VisitTask.rule, VisitTask.status, VisitTask.outcome)
            for rule, status, outcome, n in session.execute(stmt):
                key = outcome if outcome is not None else "open"
                if status == VisitStatus.OPEN and outcome != VisitOutcome.NO_ONE_HOME:
                    key = "open"
                counts[rule][key] += int(n)
        rows = [
            RulePrecision(
                rule=rule,
                confirmed=c["confirmed"],
                explained=c["explained"],
                no_one_home=c["no_one_home"],
                false_alarm=c["false_alarm"],
                open=c["open"],
                precision=precision_of(c["confirmed"], c["false_alarm"]),
            )
            for rule, c in sorted(counts.items())
        ]
        self._recorder.record(
            ctx,
            AuditEntry(
                "visits.precision", resource, result_count=len(rows), detail={"community": community_id}
            ),
        )
        return rows


def _scoped(stmt: Any, ctx: Context, community_id: str | None) -> Any:
    """Keep tasks of one community the caller reaches, or of every community they reach."""
    if community_id is not None:
        ctx.require_area(community_id, what=f"community {community_id}")
        return stmt.where(VisitTask.community_id == community_id)
    if not ctx.city_wide:
        return stmt.where(VisitTask.community_id.in_(sorted(ctx.areas)))
    return stmt


def _task(session: Session, warning: RaisedWarning) -> VisitTask | None:
    """The task of a housing warning, placed at its compound, building and flat as far as known."""
    compound = session.get(Compound, warning.ref(COMPOUND))
    if compound is None:
        log.warning("visits.compound_unknown", alert_id=warning.alert_id, compound=warning.ref(COMPOUND))
        return None
    flat_ref = warning.ref(FLAT)
    flat = session.get(Flat, int(flat_ref)) if flat_ref is not None and flat_ref.isdigit() else None
    building_id = flat.building_id if flat is not None else warning.ref(BUILDING)
    building = session.get(Building, building_id) if building_id is not None else None
    if building is not None and building.compound_id != compound.id:
        building, flat = None, None  # refs that contradict each other: trust the compound alone
    return VisitTask(
        alert_id=warning.alert_id,
        community_id=compound.community_id,
        compound_id=compound.id,
        building_id=building.id if building is not None else None,
        flat_id=flat.id if flat is not None else None,
        rule=warning.rule[:64],
        title=warning.title[:200],
        priority=priority_of(warning.severity),
        status=VisitStatus.OPEN,
        created_at=warning.at,
    )


__all__ = ["RaisedWarning", "VisitFilter", "Visits"]
