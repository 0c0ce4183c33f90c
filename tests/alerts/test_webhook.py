"""Signed webhooks: the signature scheme, real delivery, retries with backoff, filters, the bus worker."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import (
    AlertService,
    DeliveryStatus,
    InvalidAlertInput,
    WebhookDispatcher,
    WebhookNotFound,
    sign,
    verify_signature,
)
from safecity.alerts.models import WebhookDelivery
from safecity.alerts.target import TargetPolicy, parse_networks
from safecity.alerts.webhook import HookOwner, OwnerReader
from safecity.bus import MemoryBus
from safecity.core.clock import ManualClock
from safecity.core.context import Context

from .conftest import MakeFinding

SECRET = "a-shared-secret-of-some-length"
OWNER = HookOwner(7, "commander-7")
LOOPBACK = TargetPolicy(parse_networks("127.0.0.0/8"))  # the tests' receiver runs on this machine


def reader(*, areas: frozenset[str] | None = None, permissions: frozenset[str] | None = None) -> OwnerReader:
    """The webhooks' owners as they are now: account 7, city-wide (or in `areas`), reading alerts."""
    owner = Context(
        actor=OWNER.username,
        role="commander",
        account_id=OWNER.account_id,
        permissions=frozenset({"alerts.read"}) if permissions is None else permissions,
        city_wide=areas is None,
        areas=areas or frozenset(),
    )
    return lambda account_id: owner if account_id == OWNER.account_id else None


READER = reader()


@given(st.binary(max_size=512), st.integers(1_600_000_000, 2_000_000_000))
def test_signature_round_trips_and_any_change_breaks_it(body: bytes, t: int) -> None:
    header = sign(SECRET, body, timestamp=t)
    assert verify_signature(SECRET, header, body, now=t + 299)
    assert not verify_signature(SECRET, header, body + b"x", now=t)
    assert not verify_signature("another-secret-of-some-length", header, body, now=t)
    assert not verify_signature(SECRET, header, body, now=t + 301)  # too old: a replay
    assert not verify_signature(SECRET, header.replace(f"t={t}", f"t={t + 1}"), body, now=t)


def test_signature_header_has_the_documented_form() -> None:
    header = sign(SECRET, b'{"a":1}', timestamp=1714550400)
    t, v1 = header.split(",")
    assert t == "t=1714550400"
    assert v1.startswith("v1=")
    assert len(v1) == 3 + 64
    assert verify_signature(SECRET, header, '{"a":1}', now=1714550400)
    assert not verify_signature(SECRET, "garbage", b"", now=0)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep test output quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real HTTP server on 127.0.0.1 recording what it is sent."""
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/safecity", received
    server.shutdown()
    server.server_close()


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_notice_is_delivered_signed_to_a_real_receiver(
    service: AlertService,
    make_finding: MakeFinding,
    published: list[tuple[str, dict[str, Any]]],
    sessions: sessionmaker[Session],
    clock: ManualClock,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    service.webhook_targets = LOOPBACK
    hook, secret = service.create_webhook(owner=OWNER, url=url, description="district control room")
    service.apply_findings([make_finding("RS-1", 0)])
    dispatcher = WebhookDispatcher(
        session_factory=sessions, clock=clock, owners=READER, targets=LOOPBACK, timeout_s=5
    )

    results = await dispatcher.dispatch(published[0][1])

    assert [r.status for r in results] == [DeliveryStatus.DELIVERED]
    ((headers, body),) = received
    assert headers["Content-Type"] == "application/json"
    assert headers["Safecity-Event"] == "AlertRaised"
    assert verify_signature(secret, headers["Safecity-Signature"], body, now=clock.now().timestamp())
    assert json.loads(body)["alert_id"] == published[0][1]["alert_id"]
    (row,) = _deliveries(sessions)
    assert (row.webhook_id, row.event, row.status, row.http_status, row.attempts) == (
        hook.id,
        "AlertRaised",
        "delivered",
        204,
        1,
    )


def _flaky(statuses: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1])

    return httpx.MockTransport(handle)


async def test_transient_failures_are_retried_with_exponential_backoff(
    service: AlertService, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    service.create_webhook(owner=OWNER, url="https://receiver.example/hook", secret=SECRET)
    seen: list[httpx.Request] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    dispatcher = WebhookDispatcher(
        session_factory=sessions,
        clock=clock,
        owners=READER,
        transport=_flaky([503, 502, 200], seen),
        sleep=sleep,
    )
    (result,) = await dispatcher.dispatch({"type": "AlertRaised", "alert_id": "A1", "rule": "stolen_bike"})

    assert (result.status, result.attempts, result.http_status) == (DeliveryStatus.DELIVERED, 3, 200)
    assert waits == [0.5, 1.0]
    assert len({r.headers["Safecity-Delivery"] for r in seen}) == 1  # one delivery id across retries
    assert _deliveries(sessions)[0].attempts == 3


async def test_delivery_gives_up_after_five_attempts_and_records_why(
    service: AlertService, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    service.create_webhook(owner=OWNER, url="https://receiver.example/hook", secret=SECRET)
    waits: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    dispatcher = WebhookDispatcher(
        session_factory=sessions,
        clock=clock,
        owners=READER,
        transport=httpx.MockTransport(refuse),
        sleep=sleep,
    )
    (result,) = await dispatcher.dispatch({"type": "AlertRaised", "alert_id": "A1", "rule": "stolen_bike"})

    assert (result.status, result.attempts, result.http_status) == (DeliveryStatus.FAILED, 5, None)
    assert waits == [0.5, 1.0, 2.0, 4.0]
    row = _deliveries(sessions)[0]
    assert row.status == "failed"
    assert "connection refused" in (row.last_error or "")


async def test_a_refusing_receiver_is_not_retried(
    service: AlertService, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    service.create_webhook(owner=OWNER, url="https://receiver.example/hook", secret=SECRET)
    seen: list[httpx.Request] = []
    dispatcher = WebhookDispatcher(
        session_factory=sessions, clock=clock, owners=READER, transport=_flaky([401], seen)
    )

    (result,) = await dispatcher.dispatch({"type": "AlertRaised", "alert_id": "A1", "rule": "stolen_bike"})

    assert (result.status, result.attempts, result.last_error) == (DeliveryStatus.FAILED, 1, "HTTP 401")


async def test_webhooks_receive_only_the_rules_and_stations_they_asked_for(
    service: AlertService, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    tamper, _ = service.create_webhook(owner=OWNER, url="https://a.example/", rules=["tag_tamper"])
    s1, _ = service.create_webhook(owner=OWNER, url="https://b.example/", stations=["S1"])
    everything, _ = service.create_webhook(owner=OWNER, url="https://c.example/")
    gone, _ = service.create_webhook(owner=OWNER, url="https://d.example/")
    service.delete_webhook(gone.id)
    seen: list[httpx.Request] = []
    dispatcher = WebhookDispatcher(
        session_factory=sessions, clock=clock, owners=READER, transport=_flaky([200], seen)
    )

    results = await dispatcher.dispatch(
        {"type": "AlertRaised", "alert_id": "A1", "rule": "stolen_bike", "station_id": "S1"}
    )

    assert {r.webhook_id for r in results} == {s1.id, everything.id}
    assert tamper.id not in {r.webhook_id for r in results}


async def test_worker_delivers_what_the_alert_service_publishes_on_the_bus(
    sessions: sessionmaker[Session], clock: ManualClock, make_finding: MakeFinding
) -> None:
    bus = MemoryBus()
    service = AlertService(session_factory=sessions, clock=clock, publish=bus.publish)
    service.create_webhook(owner=OWNER, url="https://receiver.example/hook", secret=SECRET)
    seen: list[httpx.Request] = []
    dispatcher = WebhookDispatcher(
        session_factory=sessions, clock=clock, owners=READER, transport=_flaky([200], seen)
    )
    worker = asyncio.create_task(dispatcher.run(bus))
    await asyncio.sleep(0)  # let the worker subscribe

    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    service.acknowledge(alert_id, by="duty-officer-3")
    await service.flush_notices()
    for _ in range(200):
        if len(_deliveries(sessions)) == 2:
            break
        await asyncio.sleep(0.01)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)

    assert sorted(r.headers["Safecity-Event"] for r in seen) == ["AlertRaised", "AlertTransitioned"]
    assert {d.alert_id for d in _deliveries(sessions)} == {alert_id}


def test_webhook_registration_checks_url_and_secret(service: AlertService) -> None:
    with pytest.raises(InvalidAlertInput, match="url"):
        service.create_webhook(owner=OWNER, url="ftp://files.example/")
    with pytest.raises(InvalidAlertInput, match="secret"):
        service.create_webhook(owner=OWNER, url="https://ok.example/", secret="short")
    hook, secret = service.create_webhook(owner=OWNER, url="https://ok.example/")
    assert len(secret) == 64
    assert [h.id for h in service.list_webhooks()] == [hook.id]
    service.delete_webhook(hook.id)
    assert service.list_webhooks() == []
    assert [h.active for h in service.list_webhooks(include_inactive=True)] == [False]
    with pytest.raises(WebhookNotFound):
        service.delete_webhook(hook.id)
