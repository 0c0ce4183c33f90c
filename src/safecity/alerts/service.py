"""Alert use cases: apply findings, move alerts through their lifecycle, explain them, manage webhooks.

`AlertService` owns a session factory, a clock and an optional publish callback. Every change is
committed first and then announced on the ALERTS topic, so a notice never describes a change that
was rolled back. The callback may be sync or async: async ones run on the caller's event loop when
there is one, else on the loop given at construction (the platform's), which lets sync callers in
worker threads (FastAPI's threadpool, `asyncio.to_thread`) publish safely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Literal

import structlog
from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import intake, outbox, query
from safecity.alerts.cap import to_cap
from safecity.alerts.errors import InvalidAlertInput, TransitionNotAllowed
from safecity.alerts.models import Alert, AlertStatus, AlertStep, OutboxNotice, Outcome
from safecity.alerts.notice import AlertChange, ChangeType, change_of
from safecity.alerts.policy import allowed_next, is_transition_allowed
from safecity.alerts.target import TargetPolicy
from safecity.alerts.webhook import HookOwner, WebhookView, create_webhook, deactivate_webhook, list_webhooks
from safecity.bus import ALERTS
from safecity.core.capabilities import extensions
from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.core.finding import AlertFollower, Finding
from safecity.store import transaction

log = structlog.get_logger(__name__)

PublishFn = Callable[[str, dict[str, Any]], Awaitable[None] | None]

ALERT_CHANGES = Counter("safecity_alert_changes_total", "Alert changes by type", ["type"])
NOTICES_UNPUBLISHED = Counter(
    "safecity_alert_notices_unpublished_total", "Alert notices that could not be handed to the bus"
)

DEFAULT_FALLBACK_STATION = "command-centre"


class AlertService:
    """The warning lifecycle: dedup, routing, evidence, owner notices and change notices."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        publish: PublishFn | None = None,
        fallback_station_id: str = DEFAULT_FALLBACK_STATION,
        fallback_station_name: str = "the command centre",
        loop: asyncio.AbstractEventLoop | None = None,
        publish_timeout_s: float = 10.0,
        cap_sender: str = "safecity@localhost",
        cap_sender_name: str = "safecity",
        public_url: str = "",
        followers: Sequence[AlertFollower] | None = None,
        webhook_targets: TargetPolicy | None = None,
    ) -> None:
        self._sessions = session_factory
        self.webhook_targets = webhook_targets or TargetPolicy()
        # Who else hears of a new alert (the registry tells bike owners); by default every installed one.
        self.followers = tuple(extensions(AlertFollower) if followers is None else followers)
        self._clock = clock
        self._publish = publish
        self.fallback_station_id = fallback_station_id
        self._fallback_name = fallback_station_name
        self._loop = loop
        self._publish_timeout_s = publish_timeout_s
        self._pending: set[asyncio.Future[None]] = set()
        self._cap_sender = cap_sender
        self._cap_sender_name = cap_sender_name
        self._public_url = public_url

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publish from worker threads on this loop (the platform's, once it runs)."""
        self._loop = loop

    # --- findings -------------------------------------------------------------------------

    def apply_findings(self, findings: Sequence[Finding]) -> list[AlertChange]:
        """Merge findings into open alerts (same rule and dedup key) or raise new, routed alerts."""
        with transaction(self._sessions) as session:
            changes = intake.apply_findings(
                session,
                findings,
                now=self._clock.now(),
                fallback_station_id=self.fallback_station_id,
                fallback_station_name=self._fallback_name,
                followers=self.followers,
            )
        self._emit(changes)
        return changes

    # --- lifecycle ------------------------------------------------------------------------

    # A step taken for a caller (`ctx`) is refused, changing nothing, unless the caller reaches
    # where the alert was routed or raised: checked on the row the step then changes.

    def acknowledge(
        self, alert_id: str, *, by: str, note: str = "", ctx: Context | None = None
    ) -> query.AlertView:
        """An officer has seen the alert and is handling it."""
        return self._transition(alert_id, AlertStatus.ACKNOWLEDGED, by=by, note=note, ctx=ctx)

    def dispatch(
        self, alert_id: str, *, by: str, note: str = "", ctx: Context | None = None
    ) -> query.AlertView:
        """Someone has been sent to act on the alert."""
        return self._transition(alert_id, AlertStatus.DISPATCHED, by=by, note=note, ctx=ctx)

    def close(
        self, alert_id: str, *, by: str, outcome: str, note: str = "", ctx: Context | None = None
    ) -> query.AlertView:
        """Close an open alert with what it turned out to be (confirmed, false alarm, unverified)."""
        try:
            judged = Outcome(outcome)
        except ValueError:
            choices = ", ".join(o.value for o in Outcome)
            raise InvalidAlertInput(f"outcome must be one of {choices}", field="outcome") from None
        return self._transition(alert_id, AlertStatus.CLOSED, by=by, note=note, outcome=judged, ctx=ctx)

    def _transition(
        self,
        alert_id: str,
        to: AlertStatus,
        *,
        by: str,
        note: str,
        outcome: Outcome | None = None,
        ctx: Context | None = None,
    ) -> query.AlertView:
        by = by.strip()
        if not by or len(by) > 64:
            raise InvalidAlertInput("say who acts: 1 to 64 characters", field="by")
        now = self._clock.now()
        with transaction(self._sessions) as session:
            alert = query.require_alert(session, alert_id)
            if ctx is not None:
                require_reach(ctx, alert)
            current = alert.status
            if not is_transition_allowed(current, to):
                raise TransitionNotAllowed(alert_id, current, to)
            # Conditional update: of two officers acting at once, exactly one wins the step.
            result = session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.status == current)
                .values(status=to.value, outcome=outcome.value if outcome else None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 1) != 1:
                session.refresh(alert)
                raise TransitionNotAllowed(alert_id, alert.status, to)
            session.add(
                AlertStep(
                    alert_id=alert_id,
                    from_status=current,
                    to_status=to.value,
                    by=by,
                    at=now,
                    note=note,
                    outcome=outcome.value if outcome else None,
                )
            )
            session.flush()
            session.refresh(alert)
            view = query.AlertView.of(alert)
        log.info("alert transitioned", alert_id=alert_id, from_status=current, to_status=to.value, by=by)
        self._emit(
            [
                change_of(
                    ChangeType.TRANSITIONED,
                    view.model_dump(),
                    at=now,
                    from_status=current,
                    to_status=to.value,
                    by=by,
                    allowed_next=allowed_next(to.value),
                )
            ]
        )
        return view

    # --- queries --------------------------------------------------------------------------

    def get(self, alert_id: str, *, ctx: Context | None = None) -> query.AlertDetail:
        """One alert with its evidence by time, steps, GeoJSON path and routing.

        Asked for a caller (`ctx`), refused (AccessDenied) unless the caller reaches the alert.
        """
        with self._sessions() as session:
            detail = query.get_detail(session, alert_id)
        if ctx is not None:
            require_reach(ctx, detail.alert)
        return detail

    def list_alerts(
        self, where: query.AlertFilter = query.AlertFilter(), *, areas: Collection[str] | None = None
    ) -> list[query.AlertView]:
        """Alerts matching the filter, most recently seen first; `areas` limits where (None: all)."""
        with self._sessions() as session:
            return query.list_alerts(session, where, areas=areas)

    def count_open(self) -> int:
        """How many alerts are not closed yet, everywhere (the terminal's status line)."""
        with self._sessions() as session:
            return query.count_open(session)

    def export_cap(self, alert_id: str) -> bytes:
        """The alert as a CAP 1.2 XML message (no personal data)."""
        return self.cap_of(self.get(alert_id))

    def cap_of(self, detail: query.AlertDetail) -> bytes:
        """An alert already read, as this platform's CAP 1.2 XML message (no personal data)."""
        return to_cap(
            detail,
            sender=self._cap_sender,
            sender_name=self._cap_sender_name,
            web_base_url=self._public_url,
        )

    def precision(self, by: Literal["rule", "device"] = "rule") -> list[query.PrecisionRow]:
        """How alerts turned out, per rule or per device of their first evidence."""
        with self._sessions() as session:
            return query.precision_rows(session, by=by)

    # --- webhooks and owner notices -------------------------------------------------------

    def create_webhook(
        self,
        *,
        url: str,
        owner: HookOwner,
        secret: str | None = None,
        description: str = "",
        rules: list[str] | None = None,
        stations: list[str] | None = None,
    ) -> tuple[WebhookView, str]:
        """Register a webhook delivering for `owner`; returns it with its signing secret.

        The URL must point at a public address (or a network the operator allows): TargetPolicy.
        """
        self.webhook_targets.check_registration(url)
        with transaction(self._sessions) as session:
            return create_webhook(
                session,
                url=url,
                secret=secret,
                description=description,
                rules=rules,
                stations=stations,
                owner=owner,
                now=self._clock.now(),
            )

    def list_webhooks(
        self, *, include_inactive: bool = False, owner_account_id: int | None = None
    ) -> list[WebhookView]:
        """Registered webhooks (secrets never included); one owner's when `owner_account_id` is given."""
        with self._sessions() as session:
            return list_webhooks(
                session, include_inactive=include_inactive, owner_account_id=owner_account_id
            )

    def delete_webhook(self, webhook_id: str, *, owner_account_id: int | None = None) -> None:
        """Stop delivering to a webhook (one owner's only, if given); its delivery history is kept."""
        with transaction(self._sessions) as session:
            deactivate_webhook(session, webhook_id=webhook_id, owner_account_id=owner_account_id)

    def pending_notices(self, *, limit: int = 100) -> list[OutboxNotice]:
        """Owner notices waiting for the SMS channel."""
        with self._sessions() as session:
            return outbox.pending_notices(session, limit=limit)

    def mark_notice(self, notice_id: str, *, sent: bool = True, error: str | None = None) -> OutboxNotice:
        """Record a send attempt of an owner notice."""
        with transaction(self._sessions) as session:
            return outbox.mark_notice(
                session, notice_id=notice_id, now=self._clock.now(), sent=sent, error=error
            )

    # --- notices --------------------------------------------------------------------------

    def _emit(self, changes: Sequence[AlertChange]) -> None:
        """Hand each change's notice to the publish callback, in order."""
        for change in changes:
            ALERT_CHANGES.labels(type=change.type.value).inc()
        if self._publish is None or not changes:
            return
        awaitables: list[Awaitable[None]] = []
        for change in changes:
            try:
                result = self._publish(ALERTS, change.notice)
            except Exception:
                NOTICES_UNPUBLISHED.inc()
                log.exception("alert notice not published", alert_id=change.alert_id, type=change.type)
                continue
            if inspect.isawaitable(result):
                awaitables.append(result)
        if awaitables:
            self._schedule(awaitables)

    def _schedule(self, awaitables: list[Awaitable[None]]) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            task = running.create_task(_await_all(awaitables))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        elif self._loop is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(_await_all(awaitables), self._loop)
            try:
                future.result(timeout=self._publish_timeout_s)  # back-pressure from a full bus
            except concurrent.futures.TimeoutError:
                log.warning("alert notices still publishing", count=len(awaitables))
        else:
            for pending in awaitables:
                if inspect.iscoroutine(pending):
                    pending.close()
            NOTICES_UNPUBLISHED.inc(len(awaitables))
            log.error("alert notices not published: async publish needs an event loop", count=len(awaitables))

    async def flush_notices(self) -> None:
        """Wait until every notice scheduled on this loop has been handed to the bus."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def require_reach(ctx: Context, alert: query.AlertSummary | Alert) -> None:
    """Refuse (AccessDenied, outside_area) unless the caller reaches where the alert was routed or raised."""
    ctx.require_area(alert.station_id, alert.area_id, what=f"alert {alert.id}")


async def _await_all(awaitables: list[Awaitable[None]]) -> None:
    """Await publishes one after the other so that notices keep their order."""
    for pending in awaitables:
        try:
            await pending
        except Exception:
            NOTICES_UNPUBLISHED.inc()
            log.exception("alert notice not published")
