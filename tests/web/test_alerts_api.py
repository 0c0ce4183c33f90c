"""Alert API: lifecycle over HTTP, explained alerts, CAP, webhooks, the SSE stream, JSON errors never 500."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import types
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

import safecity.alerts.models
import safecity.registry.models
import safecity.security.models  # noqa: F401  (tables for create_all)
from safecity.alerts import CAP_NS, AlertService, AlertStream
from safecity.bus import MemoryBus
from safecity.core.clock import ManualClock
from safecity.core.finding import Evidence, Finding
from safecity.registry.models import Area
from safecity.security import audit
from safecity.security.roles import Role
from safecity.security.service import Security
from safecity.settings import Settings
from safecity.store.db import Base, make_engine, make_session_factory, transaction
from safecity.web.api.alerts import router
from safecity.web.errors import install_error_handlers
from tests.authn import mint

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def _finding(
    device: str, minutes: int, lat: float, lon: float, tag: str = "A1B2C3D4", area: str = "C1"
) -> Finding:
    ts = T0 + timedelta(minutes=minutes)
    ev = Evidence(
        event_id=f"ev-{device}-{minutes}",
        corr_id=f"corr-{minutes}",
        kind="rfid_read",
        subject=tag,
        device=device,
        ts=ts,
        lat=lat,
        lon=lon,
        area=area,
    )
    return Finding(
        rule="stolen_bike",
        rule_kind="hotlist",
        severity="high",
        title="Stolen e-bike tag read",
        subject_kind="tag",
        subject=tag,
        dedup_key=f"tag:{tag}",
        at=ts,
        evidence=(ev,),
        facts={"watchlist_entry_id": 7},
        params={"list_kind": "stolen_bike"},
    )


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A database with one station S1 answerable for community C1."""
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        s.add_all(
            [
                Area(id="S1", kind="station", name="Wuma Police Station", station_id="S1"),
                Area(id="C1", kind="community", name="Wuma Community", parent_id="S1"),
            ]
        )
    yield factory
    engine.dispose()


def _app(service: AlertService, stream: AlertStream) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    security = Security(service._sessions, service._clock, token_key=b"k" * 32)
    app.state.platform = types.SimpleNamespace(
        alerts=service, alert_stream=stream, security=security, settings=Settings()
    )
    install_error_handlers(app)
    return app


def staff(app: FastAPI, role: Role = Role.INVESTIGATOR, **kw: Any) -> dict[str, str]:
    """Bearer headers of a new account of this role (city-wide unless areas are given)."""
    security: Security = app.state.platform.security
    return mint(security, role, **kw)


@pytest.fixture
def service(sessions: sessionmaker[Session]) -> AlertService:
    """An alert service without a bus."""
    return AlertService(
        session_factory=sessions,
        clock=ManualClock(T0 + timedelta(hours=1)),
        cap_sender="police@wenzhou.example",
        public_url="https://safecity.example",
    )


@pytest.fixture
def client(service: AlertService) -> Iterator[TestClient]:
    """HTTP client of an app serving only the alert router."""
    app = _app(service, AlertStream())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers.update(staff(app))
        yield test_client


@pytest.fixture
def alert_id(service: AlertService) -> str:
    """A stolen bike read at two base stations."""
    first = service.apply_findings([_finding("RS-1", 0, 28.0, 120.65)])[0].alert_id
    service.apply_findings([_finding("RS-2", 4, 28.01, 120.66)])
    return first


def test_alert_is_listed_and_explained(client: TestClient, alert_id: str) -> None:
    listed = client.get("/api/v1/alerts", params={"status": "new", "station_id": "S1"})
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["items"]] == [alert_id]

    detail = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["alert"]["hits"] == 2
    assert detail["facts"] == {"watchlist_entry_id": 7}
    assert [e["device"] for e in detail["evidence"]] == ["RS-1", "RS-2"]
    assert detail["path"]["geometry"]["type"] == "LineString"
    assert detail["routing"]["station_name"] == "Wuma Police Station"
    assert detail["steps"][0]["to_status"] == "new"


def test_lifecycle_over_http(client: TestClient, alert_id: str) -> None:
    duty = staff(client.app, Role.DISPATCHER, username="duty-3")  # type: ignore[arg-type]
    patrol = staff(client.app, Role.PATROL_OFFICER, username="patrol-12", areas=["S1"])  # type: ignore[arg-type]
    ack = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "seen"}, headers=duty)
    assert (ack.status_code, ack.json()["status"]) == (200, "acknowledged")
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/dispatch", json={}, headers=duty).json()["status"]
        == "dispatched"
    )
    closed = client.post(
        f"/api/v1/alerts/{alert_id}/close",
        json={"outcome": "confirmed", "note": "recovered"},
        headers=patrol,
    )
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "confirmed")
    steps = client.get(f"/api/v1/alerts/{alert_id}").json()["steps"]
    assert [(s["to_status"], s["by"]) for s in steps] == [
        ("new", "rule:stolen_bike"),
        ("acknowledged", "duty-3"),
        ("dispatched", "duty-3"),
        ("closed", "patrol-12"),
    ]
    rows = client.get("/api/v1/alerts/precision", params={"by": "rule"}).json()
    assert rows == [
        {"key": "stolen_bike", "confirmed": 1, "false_alarm": 0, "unverified": 0, "open": 0, "precision": 1.0}
    ]
    assert client.get("/api/v1/alerts/precision", params={"by": "device"}).json()[0]["key"] == "RS-1"


def test_steps_are_audited_by_the_use_case_and_refusals_by_the_error_handler(
    client: TestClient, service: AlertService, alert_id: str
) -> None:
    with transaction(service._sessions) as session:
        session.add(Area(id="S2", kind="station", name="Nanhui Police Station", station_id="S2"))
    elsewhere = staff(client.app, Role.DISPATCHER, username="duty-s2", areas=["S2"])  # type: ignore[arg-type]
    here = staff(client.app, Role.DISPATCHER, username="duty-s1", areas=["S1"])  # type: ignore[arg-type]
    path = f"/api/v1/alerts/{alert_id}/acknowledge"

    refused = client.post(path, json={"note": "mine"}, headers=elsewhere)
    taken = client.post(path, json={"note": "mine"}, headers=here)

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "outside_area")
    assert (taken.status_code, taken.json()["status"]) == (200, "acknowledged")
    with service._sessions() as session:
        trail = [
            (r.actor, r.action, r.outcome, r.status, r.resource, json.loads(r.subjects))
            for r in reversed(audit.search(session))
        ]
    assert trail == [
        ("duty-s2", "alerts.acknowledge", "refused", 403, f"POST {path}", []),
        (
            "duty-s1",
            "alerts.acknowledge",
            "allowed",
            200,
            f"POST {path}",
            [f"alert:{alert_id}", "tag:A1B2C3D4"],
        ),
    ]


def test_step_out_of_order_is_409_naming_the_status(client: TestClient, alert_id: str) -> None:
    response = client.post(f"/api/v1/alerts/{alert_id}/dispatch", json={})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_not_allowed"
    assert "is new" in error["message"]
    assert error["field"] == "status"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/alerts/01NOSUCHALERT"),
        ("GET", "/api/v1/alerts/01NOSUCHALERT/cap"),
        ("POST", "/api/v1/alerts/01NOSUCHALERT/acknowledge"),
        ("DELETE", "/api/v1/webhooks/01NOSUCHHOOK"),
    ],
)
def test_unknown_ids_are_404_with_a_json_error(client: TestClient, method: str, path: str) -> None:
    headers = staff(client.app, Role.COMMANDER) if "webhooks" in path else None  # type: ignore[arg-type]
    response = client.request(method, path, json={} if method == "POST" else None, headers=headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("alert_not_found", "webhook_not_found")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("acknowledge", {"note": 5}, "note"),
        ("acknowledge", {"by": "x"}, "by"),  # the actor is the signed-in account, not a body field
        ("acknowledge", {"colour": "red"}, "colour"),
        ("close", {}, "outcome"),
        ("close", {"outcome": "maybe"}, "outcome"),
        ("close", {"note": 5, "outcome": "confirmed"}, "note"),
        ("close", ["outcome"], None),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    client: TestClient, alert_id: str, path: str, body: Any, field: str | None
) -> None:
    response = client.post(f"/api/v1/alerts/{alert_id}/{path}", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert error["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "bogus"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"since": "2024-05-01T08:00:00"},
        {"since": "yesterday"},
    ],
)
def test_bad_queries_are_422(client: TestClient, alert_id: str, query: dict[str, Any]) -> None:
    response = client.get("/api/v1/alerts", params=query)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == next(iter(query))


def test_not_json_is_422(client: TestClient, alert_id: str) -> None:
    response = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge",
        content=b"{by:",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/v1/alerts/precision", params={"by": "colour"}).status_code == 422


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["by", "note", "outcome", "x"]), inner, max_size=4)
        ),
        max_leaves=8,
    )
)
def test_no_body_makes_a_transition_answer_500(client: TestClient, alert_id: str, body: Any) -> None:
    response = client.post(f"/api/v1/alerts/{alert_id}/close", json=body)
    assert response.status_code in (200, 409, 422)
    assert ("error" in response.json()) == (response.status_code != 200)


def test_cap_export_is_cap_xml(client: TestClient, alert_id: str) -> None:
    response = client.get(f"/api/v1/alerts/{alert_id}/cap")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{CAP_NS}}}alert"
    assert root.findtext(f"{{{CAP_NS}}}sender") == "police@wenzhou.example"


def test_webhooks_are_registered_listed_and_removed(client: TestClient) -> None:
    client.headers.update(staff(client.app, Role.COMMANDER))  # type: ignore[arg-type]
    created = client.post(
        "/api/v1/webhooks",
        json={
            "url": "https://control.example/hook",
            "description": "district control",
            "rules": ["stolen_bike"],
        },
    )
    assert created.status_code == 201
    hook = created.json()
    assert len(hook["secret"]) == 64
    listed = client.get("/api/v1/webhooks").json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert listed[0]["rules"] == ["stolen_bike"]
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert client.get("/api/v1/webhooks").json() == []
    bad = client.post("/api/v1/webhooks", json={"url": "not a url"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "url")
    short = client.post("/api/v1/webhooks", json={"url": "https://x.example/", "secret": "short"})
    assert (short.status_code, short.json()["error"]["field"]) == (422, "secret")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn server on a free port (streams need one); yields its URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)


@contextlib.asynccontextmanager
async def live(
    sessions: sessionmaker[Session], keepalive_s: float
) -> AsyncIterator[tuple[AlertService, FastAPI]]:
    """An alert service publishing on a bus, relayed to the live stream of an app; the relay ends after."""
    bus = MemoryBus()
    service = AlertService(
        session_factory=sessions, clock=ManualClock(T0), publish=bus.publish, loop=asyncio.get_running_loop()
    )
    stream = AlertStream(keepalive_s=keepalive_s)
    relay = asyncio.create_task(stream.run(bus))
    try:
        yield service, _app(service, stream)
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)


async def test_stream_delivers_alert_raised_as_server_sent_events(sessions: sessionmaker[Session]) -> None:
    lines: list[str] = []
    async with live(sessions, 0.2) as (service, app):
        officer = staff(app, Role.PATROL_OFFICER, areas=["S1"])
        async with (
            served(app) as url,
            httpx.AsyncClient(timeout=10, headers=officer) as http,
            http.stream("GET", f"{url}/api/v1/alerts/stream") as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            raised = service.apply_findings([_finding("RS-1", 0, 28.0, 120.65)])[0]
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith("data: "):
                    break
    assert ": keepalive" in lines or ": connected" in lines
    event = lines.index("event: AlertRaised")
    notice = json.loads(lines[event + 1].removeprefix("data: "))
    assert (notice["alert_id"], notice["station_id"], notice["status"]) == (raised.alert_id, "S1", "new")


async def test_stream_carries_only_the_callers_areas(sessions: sessionmaker[Session]) -> None:
    """An officer of another station sees nothing of S1's alerts on the live stream."""
    with transaction(sessions) as s:
        s.add(Area(id="S2", kind="station", name="Other Station", station_id="S2"))
    lines: list[str] = []
    async with (
        live(sessions, 0.1) as (service, app),
        served(app) as url,
        httpx.AsyncClient(timeout=10, headers=staff(app, Role.PATROL_OFFICER, areas=["S2"])) as http,
        http.stream("GET", f"{url}/api/v1/alerts/stream") as response,
    ):
        assert response.status_code == 200
        service.apply_findings([_finding("RS-1", 0, 28.0, 120.65)])
        async for line in response.aiter_lines():
            lines.append(line)
            if lines.count(": keepalive") >= 3:
                break
    assert not any(line.startswith("data: ") for line in lines)


async def test_a_station_whose_alert_moved_away_hears_where_it_went(sessions: sessionmaker[Session]) -> None:
    """An earlier read uploaded late moves the alert from S2 to S1: S2's console sees it go (issue 9, 18)."""
    with transaction(sessions) as s:
        s.add(Area(id="S2", kind="station", name="Nanhui Police Station", station_id="S2"))
        s.add(Area(id="C2", kind="community", name="Nanhui Community", parent_id="S2"))
    notices: list[tuple[str, dict[str, Any]]] = []
    async with (
        live(sessions, 0.2) as (service, app),
        served(app) as url,
        httpx.AsyncClient(timeout=10, headers=staff(app, Role.PATROL_OFFICER, areas=["S2"])) as http,
        http.stream("GET", f"{url}/api/v1/alerts/stream") as response,
    ):
        service.apply_findings([_finding("RS-3", 20, 28.02, 120.67, area="C2")])
        service.apply_findings([_finding("RS-1", 3, 28.0, 120.65, area="C1")])
        event = ""
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    notices.append((event, json.loads(line.removeprefix("data: "))))
                    if len(notices) == 2:
                        break
    (raised_type, raised), (moved_type, moved) = notices
    assert (raised_type, raised["station_id"]) == ("AlertRaised", "S2")
    assert (moved_type, moved["alert_id"]) == ("AlertUpdated", raised["alert_id"])
    assert (moved["station_id"], moved["rerouted_from"], moved["first_device"]) == ("S1", "S2", "RS-1")


async def test_stream_sends_keepalive_comments_while_quiet(sessions: sessionmaker[Session]) -> None:
    stream = AlertStream(keepalive_s=0.05)
    service = AlertService(session_factory=sessions, clock=ManualClock(T0))
    app = _app(service, stream)
    async with served(app) as url:
        async with (
            httpx.AsyncClient(timeout=10, headers=staff(app)) as http,
            http.stream("GET", f"{url}/api/v1/alerts/stream") as response,
        ):
            seen = []
            async for line in response.aiter_lines():
                seen.append(line)
                if line == ": keepalive":
                    break
        assert seen[-1] == ": keepalive"
        for _ in range(100):  # the server notices the disconnect and lets the client go
            if stream.clients == 0:
                break
            await asyncio.sleep(0.02)
        assert stream.clients == 0


async def _reauth_after(sessions: sessionmaker[Session], end_session: str) -> dict[str, str]:
    """Open the stream as a patrol officer, end their sign-in in one way, and return the
    `reauth` event's data (the stream must end right after it)."""
    clock = ManualClock(T0)
    stream = AlertStream(keepalive_s=0.05)
    app = _app(AlertService(session_factory=sessions, clock=clock), stream)
    security: Security = app.state.platform.security
    headers = staff(app, Role.PATROL_OFFICER, areas=["S1"])
    who = security.authenticate_token(headers["Authorization"].removeprefix("Bearer "))
    lines: list[str] = []
    async with (
        served(app) as url,
        httpx.AsyncClient(timeout=10, headers=headers) as http,
        http.stream("GET", f"{url}/api/v1/alerts/stream") as response,
    ):
        async for line in response.aiter_lines():
            lines.append(line)
            if line == ": keepalive" and lines.count(": keepalive") == 1:
                if end_session == "expiry":
                    clock.advance(timedelta(minutes=16))  # access tokens live 15 minutes
                else:
                    security.logout(who)
    # The stream ended by itself (aiter_lines returned) after saying why.
    event = lines.index("event: reauth")
    assert not any(line.startswith(": keepalive") for line in lines[event:])
    data: dict[str, str] = json.loads(lines[event + 1].removeprefix("data: "))
    return data


async def test_stream_ends_with_reauth_once_the_access_token_expires(sessions: sessionmaker[Session]) -> None:
    assert (await _reauth_after(sessions, "expiry"))["code"] == "token_expired"


async def test_stream_ends_with_reauth_once_the_session_is_signed_out(
    sessions: sessionmaker[Session],
) -> None:
    assert (await _reauth_after(sessions, "logout"))["code"] == "token_revoked"


@pytest.mark.parametrize("since", ["0.5", "1795335303", " 12 "])
def test_a_time_in_a_query_is_iso_8601_not_a_number(client: TestClient, since: str) -> None:
    """Issue 9 item 17: `since=0.5` was read as half a second after 1970."""
    answer = client.get("/api/v1/alerts", params={"since": since})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "since"
    assert "ISO 8601" in answer.json()["error"]["message"]
    assert client.get("/api/v1/alerts", params={"since": "2026-11-22T08:00:00Z"}).status_code == 200
