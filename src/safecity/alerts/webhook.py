"""Signed webhooks: registration, the signature scheme, and the worker that delivers alert notices.

Each delivery is an HTTP POST of the notice as compact UTF-8 JSON with these headers:

    Content-Type: application/json
    Safecity-Event: AlertRaised | AlertUpdated | AlertTransitioned
    Safecity-Delivery: <id, the same on every retry of one delivery: use it to drop repeats>
    Safecity-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

The receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes with the
shared secret, compares in constant time, and refuses timestamps older than a tolerance (five
minutes by default) so that a captured request cannot be replayed later. `verify_signature`
does exactly that. Each retry is signed afresh, so a late retry still passes the tolerance.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts.errors import InvalidAlertInput, WebhookNotFound
from safecity.alerts.models import DeliveryStatus, Webhook, WebhookDelivery
from safecity.alerts.policy import matches_filter
from safecity.alerts.target import TargetPolicy
from safecity.bus import ALERTS, Bus
from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.core.record import new_id
from safecity.security import Permission
from safecity.store import transaction

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Safecity-Signature"
EVENT_HEADER = "Safecity-Event"
DELIVERY_HEADER = "Safecity-Delivery"
MIN_SECRET_CHARS = 16
# Worth retrying: the receiver or the network may recover. Other 4xx answers are final.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

DELIVERIES = Counter("safecity_webhook_deliveries_total", "Webhook deliveries by final status", ["status"])


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """Return the Safecity-Signature header value for a body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes | str, tolerance_s: int = 300, *, now: float | None = None
) -> bool:
    """Check a Safecity-Signature header against the raw body; False if forged, malformed or stale."""
    raw = body.encode() if isinstance(body, str) else body
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = now if now is not None else time.time()
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, raw, timestamp=timestamp).split(",v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


# --- registration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookView:
    """A registered webhook, without its secret."""

    id: str
    url: str
    description: str
    active: bool
    created_at: datetime
    rules: list[str] | None
    stations: list[str] | None
    owner: str

    @classmethod
    def of(cls, hook: Webhook) -> WebhookView:
        """Copy a webhook row."""
        flt = hook.filter or {}
        return cls(
            id=hook.id,
            url=hook.url,
            description=hook.description,
            active=hook.active,
            created_at=hook.created_at,
            rules=flt.get("rules"),
            stations=flt.get("stations"),
            owner=hook.owner,
        )


@dataclass(frozen=True, slots=True)
class HookOwner:
    """The account a webhook delivers for: only what it may read goes out."""

    account_id: int | None
    username: str = ""


def create_webhook(
    session: Session,
    *,
    url: str,
    secret: str | None,
    description: str,
    rules: list[str] | None,
    stations: list[str] | None,
    owner: HookOwner,
    now: datetime,
) -> tuple[WebhookView, str]:
    """Register a webhook; returns it with its secret (256 random bits when not given)."""
    if secret is not None and len(secret) < MIN_SECRET_CHARS:
        raise InvalidAlertInput(f"secret must have at least {MIN_SECRET_CHARS} characters", field="secret")
    secret = secret or secrets.token_hex(32)
    flt = {"rules": rules or None, "stations": stations or None} if (rules or stations) else None
    hook = Webhook(
        id=new_id(),
        url=url,
        secret=secret,
        description=description,
        active=True,
        created_at=now,
        filter=flt,
        owner_account_id=owner.account_id,
        owner=owner.username,
    )
    session.add(hook)
    session.flush()
    log.info("webhook registered", webhook_id=hook.id, url=url, owner=owner.username)
    return WebhookView.of(hook), secret


def list_webhooks(
    session: Session, *, include_inactive: bool = False, owner_account_id: int | None = None
) -> list[WebhookView]:
    """Registered webhooks, oldest first; of one owner when `owner_account_id` is given."""
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    if not include_inactive:
        query = query.where(Webhook.active.is_(True))
    if owner_account_id is not None:
        query = query.where(Webhook.owner_account_id == owner_account_id)
    return [WebhookView.of(h) for h in session.scalars(query)]


def deactivate_webhook(session: Session, *, webhook_id: str, owner_account_id: int | None = None) -> None:
    """Stop delivering to a webhook; the row stays so that its deliveries remain explained.

    With `owner_account_id`, only that account's webhook: another's is "not found" to it.
    """
    hook = session.get(Webhook, webhook_id)
    if hook is None or not hook.active:
        raise WebhookNotFound(webhook_id)
    if owner_account_id is not None and hook.owner_account_id != owner_account_id:
        raise WebhookNotFound(webhook_id)
    hook.active = False
    log.info("webhook deactivated", webhook_id=webhook_id)


# --- delivery -----------------------------------------------------------------------------


# The owner of a webhook as it is now (None: unknown or disabled), asked before each notice goes out.
OwnerReader = Callable[[int], Context | None]


def may_receive(owner: Context | None, notice: dict[str, Any]) -> bool:
    """Whether a webhook's owner may read the alert a notice is about, today."""
    return (
        owner is not None
        and owner.can(Permission.ALERTS_READ)
        and owner.reaches(notice.get("station_id"), notice.get("area_id"))
    )


@dataclass(frozen=True, slots=True)
class Target:
    """What a delivery needs of a webhook."""

    id: str
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of delivering one notice to one webhook."""

    webhook_id: str
    alert_id: str
    event: str
    status: DeliveryStatus
    http_status: int | None
    attempts: int
    last_error: str | None
    at: datetime


class WebhookDispatcher:
    """Consume ALERTS notices and POST each, signed, to every active webhook whose filter matches."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        owners: OwnerReader,
        targets: TargetPolicy | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._owners = owners
        self._policy = targets or TargetPolicy()
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._concurrency = concurrency
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None

    def backoff_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): doubling, capped."""
        return float(min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s))

    @contextlib.asynccontextmanager
    async def _client_scope(self) -> AsyncIterator[httpx.AsyncClient]:
        """The worker's shared client while `run` is active, else a client for this call only."""
        if self._client is not None:
            yield self._client
            return
        async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
            yield client

    async def run(self, bus: Bus, *, group: str = "webhooks") -> None:
        """Deliver notices until cancelled; a slow receiver holds one slot, never the whole stream."""
        sub = bus.subscribe(ALERTS, group=group)
        slots = asyncio.Semaphore(self._concurrency)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
            self._client = client
            try:
                async for delivery in sub:
                    if not isinstance(delivery.payload, dict):
                        await delivery.ack()
                        continue
                    await slots.acquire()
                    task = asyncio.create_task(self._handle(delivery.payload, delivery.ack, slots))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._client = None
                await sub.close()

    async def _handle(
        self, notice: dict[str, Any], ack: Callable[[], Awaitable[None]], slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.dispatch(notice)
            await ack()
        except Exception:
            # Not acknowledged: a persistent bus redelivers it once the database is back.
            log.exception("webhook dispatch failed", alert_id=notice.get("alert_id"))
        finally:
            slots.release()

    async def dispatch(self, notice: dict[str, Any]) -> list[DeliveryResult]:
        """Deliver one notice to every matching webhook and record each delivery."""
        targets = await asyncio.to_thread(self._targets, notice)
        if not targets:
            return []
        body = json.dumps(notice, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        async with self._client_scope() as client:
            results = await asyncio.gather(*(self.deliver(client, t, notice, body) for t in targets))
        await asyncio.to_thread(self._record, results)
        return list(results)

    def _targets(self, notice: dict[str, Any]) -> list[Target]:
        with self._sessions() as session:
            hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
        wanted = [
            h
            for h in hooks
            if matches_filter(h.filter, rule=str(notice.get("rule")), station_id=notice.get("station_id"))
        ]
        # A webhook delivers only what its owner may read: the owner's role and areas as they are now.
        owners = {h.owner_account_id for h in wanted if h.owner_account_id is not None}
        reach = {account_id: self._owners(account_id) for account_id in owners}
        return [
            Target(h.id, h.url, h.secret)
            for h in wanted
            if h.owner_account_id is not None and may_receive(reach[h.owner_account_id], notice)
        ]

    async def deliver(
        self, client: httpx.AsyncClient, target: Target, notice: dict[str, Any], body: bytes
    ) -> DeliveryResult:
        """POST one notice to one webhook, retrying with exponential backoff on transient failures."""
        event = str(notice.get("type", "AlertNotice"))
        delivery_id = new_id()
        http_status: int | None = None
        error: str | None = None
        attempt = 0
        while attempt < self._max_attempts:
            attempt += 1
            headers = {
                "Content-Type": "application/json",
                EVENT_HEADER: event,
                DELIVERY_HEADER: delivery_id,
                SIGNATURE_HEADER: sign(target.secret, body, timestamp=int(self._clock.now().timestamp())),
            }
            retry = True
            refused = await self._policy.delivery_refusal(target.url)
            if refused is not None:
                error = refused
                break  # re-pointed inside since registration: never sent, not retried
            try:
                response = await client.post(target.url, content=body, headers=headers)
                http_status = response.status_code
                if response.is_success:
                    return self._result(target, notice, event, DeliveryStatus.DELIVERED, http_status, attempt)
                error = f"HTTP {http_status}"
                retry = http_status in RETRY_STATUSES
            except httpx.HTTPError as exc:
                http_status, error = None, f"{type(exc).__name__}: {exc}"
            if not retry:
                break
            if attempt < self._max_attempts:
                await self._sleep(self.backoff_for(attempt))
        log.warning(
            "webhook delivery failed", webhook_id=target.id, url=target.url, attempts=attempt, error=error
        )
        return self._result(target, notice, event, DeliveryStatus.FAILED, http_status, attempt, error)

    def _result(
        self,
        target: Target,
        notice: dict[str, Any],
        event: str,
        status: DeliveryStatus,
        http_status: int | None,
        attempts: int,
        error: str | None = None,
    ) -> DeliveryResult:
        DELIVERIES.labels(status=status.value).inc()
        return DeliveryResult(
            webhook_id=target.id,
            alert_id=str(notice.get("alert_id", "")),
            event=event,
            status=status,
            http_status=http_status,
            attempts=attempts,
            last_error=error,
            at=self._clock.now(),
        )

    def _record(self, results: list[DeliveryResult]) -> None:
        with transaction(self._sessions) as session:
            session.add_all(
                WebhookDelivery(
                    webhook_id=r.webhook_id,
                    alert_id=r.alert_id,
                    event=r.event,
                    status=r.status.value,
                    http_status=r.http_status,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    at=r.at,
                )
                for r in results
            )
