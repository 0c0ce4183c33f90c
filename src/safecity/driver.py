"""The demo driver: put a generated city into a platform and feed it with simulated devices.

In process (`safecity demo`), station uploads are coalesced for up to 100 ms and handed to the
ingest pipeline as one micro-batch, the way the MQTT adapter coalesces messages. Remotely
(`safecity simulate`), each station posts its own uploads over HTTP with its own secret (or
publishes them over MQTT), exactly as a real device would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import selectors
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import structlog
from rich.console import Console

from safecity import registry
from safecity.core.filemode import make_private_dirs, private_file
from safecity.ingest import Part
from safecity.places import Doors, Visitors
from safecity.places import bulk as places_bulk
from safecity.platform import Platform
from safecity.registry import Conflict
from safecity.security import Role, accounts
from safecity.sim import City, CityAlreadyLoaded, ReportStolen, SimBatch, Simulation, ensure_city, load_city
from safecity.sim.community import make_community
from safecity.sim.community_loader import CommunityAlreadyLoaded, load_community
from safecity.sim.doorsim import DemoDoors
from safecity.sim.housing import TABLES as HOUSING_TABLES
from safecity.sim.housing import Housing, ensure_housing
from safecity.sim.housing_loader import SECRETS_FILE as HOUSING_SECRETS
from safecity.sim.housing_loader import HousingAlreadyLoaded, load_housing
from safecity.store import transaction

log = structlog.get_logger(__name__)

DUTY_OFFICER = "duty-officer"
HORIZON = timedelta(hours=6)  # thefts are planned this far ahead; a new plan follows
# The first plan is short, so that its thefts (planted in its first 40 %) are reported early;
# starting it in the past replays a backlog at once: most of its thefts have been reported and
# their bikes read again by now, so the demo's first alarms show within seconds of starting.
FIRST_HORIZON = timedelta(minutes=90)
WARM_UP = timedelta(minutes=45)


def city_summary(city: City) -> str:
    """One line about a city."""
    c = city.counts
    return f"city '{city.scale.name}' seed {city.seed}: " + ", ".join(f"{v:,} {k}" for k, v in c.items())


def ensure_loaded(
    platform: Platform, *, seed: int, scale: str, console: Console | None = None, replace: bool = False
) -> City:
    """Generate the city if missing and load it into the registry if the registry is empty."""
    started = time.perf_counter()
    city = ensure_city(platform.settings.city_dir, seed=seed, scale=scale)
    try:
        report = load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms, replace=replace)
        if console is not None:
            console.print(
                f"loaded {report.bikes:,} bikes, {report.devices:,} stations, "
                f"{report.areas:,} areas into the registry in {time.perf_counter() - started:.1f} s"
            )
    except CityAlreadyLoaded:
        if not city.secrets_path.exists():
            raise
    housing = ensure_housing(city, seed=seed)
    try:
        done = load_housing(
            city,
            housing,
            platform.session_factory,
            pseudonymizer=platform.pseudonyms,
            now=platform.clock.now(),
        )
        if console is not None:
            console.print(
                f"loaded {done.compounds:,} compounds, {done.doors:,} doors, {done.flats:,} flats, "
                f"{done.tenancies:,} tenants into the registry in {done.elapsed_s:.1f} s"
            )
    except HousingAlreadyLoaded:
        if not (housing.folder / HOUSING_SECRETS).exists():
            raise
    _ensure_community(platform, housing, seed=seed, console=console)
    return city


def _ensure_community(platform: Platform, housing: Housing, *, seed: int, console: Console | None) -> None:
    """The smart communities of the housing (panels and zones, gate cameras, residents' cars), once."""
    tables = {name: housing.table(name) for name in HOUSING_TABLES}
    community = make_community(tables, np.random.default_rng(np.random.SeedSequence([seed, 40])))
    try:
        done = load_community(community, platform.session_factory, now=platform.clock.now())
    except CommunityAlreadyLoaded:
        return
    if console is not None:
        console.print(
            f"loaded {done.alarm_zones:,} alarm zones, {done.devices:,} panels and gate cameras, "
            f"{done.vehicles:,} residents' vehicles into the registry"
        )


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A seeded demo account and its one-time-shown credentials."""

    username: str
    role: str
    reach: str
    password: str
    totp: bool  # sets up a one-time code at its first sign-in


# One account per kind of user the console serves; reach is "city", "district", "community" or "owner".
DEMO_ACCOUNTS: tuple[tuple[str, Role, str, str], ...] = (
    ("dispatcher", Role.DISPATCHER, "city", "Command Centre"),
    ("patrol", Role.PATROL_OFFICER, "district", "Patrol Unit 1"),
    ("community", Role.COMMUNITY_OFFICER, "community", "Community Police Office"),
    ("investigator", Role.INVESTIGATOR, "city", "Criminal Investigation Brigade"),
    ("commander", Role.COMMANDER, "city", "City Police Command"),
    ("auditor", Role.AUDITOR, "city", "Inspection Office"),
    ("admin", Role.ADMINISTRATOR, "city", "Information Technology Office"),
    ("guard", Role.GUARD, "community", "Community Security"),
    ("landlord", Role.LANDLORD, "landlord", "-"),
    ("citizen", Role.CITIZEN, "owner", "-"),
)


def seed_demo_accounts(platform: Platform) -> list[DemoAccount]:
    """Create the demo's accounts with random passwords, once; [] if any account exists already."""
    now = platform.security.now()
    created: list[DemoAccount] = []
    with transaction(platform.session_factory) as session:
        if accounts.count_accounts(session):
            return []
        district = registry.first_area(session, kind="district")
        # Community accounts work where most tenants live: the demo's doors and warnings are there.
        community = places_bulk.busiest_community(session) or registry.first_area(session, kind="community")
        owner = registry.first_owner(session)
        for username, role, reach, unit in DEMO_ACCOUNTS:
            areas = {"district": (district,), "community": (community,)}.get(reach, ())
            landlord = None
            if reach == "landlord":  # acts for the landlord letting the most flats in the community
                landlord = (
                    places_bulk.busiest_landlord(session, community_id=community) if community else None
                )
                if landlord is None:
                    continue
            if None in areas or (reach == "owner" and owner is None):
                continue
            password = secrets.token_urlsafe(12)
            account = accounts.create_account(
                session,
                accounts.NewAccount(
                    username=username,
                    display_name=username.capitalize(),
                    role=role,
                    unit=unit if reach != "owner" else "citizen",
                    password=password,
                    areas=tuple(a for a in areas if a is not None),
                    city_wide=True if reach == "city" else None,
                    person_id=owner if reach == "owner" else None,
                ),
                by="demo",
                now=now,
            )
            if landlord is not None:
                places_bulk.give_account(session, landlord_id=landlord, account_id=account.id)
            shown = {"city": "whole city", "owner": "own data", "landlord": "own flats"}.get(
                reach, ", ".join(a for a in areas if a)
            )
            created.append(DemoAccount(username, role.value, shown, password, account.uses_totp))
    return created


def print_demo_accounts(created: list[DemoAccount], console: Console) -> None:
    """Show the seeded credentials once (they are stored only as hashes)."""
    if not created:
        console.print(
            "Demo accounts exist already (their passwords were shown when they were created); "
            "`safecity users reset-password NAME` sets a new one."
        )
        return
    # Plain lines, not a table: a narrow terminal must never cut a password short.
    console.print("[bold]Demo accounts[/bold] (username, role, reach, password):")
    for a in created:
        totp = "  + one-time code, set up at first sign-in" if a.totp else ""
        console.print(
            f"  {a.username:<13} {a.role:<18} {a.reach:<11} password {a.password}{totp}", soft_wrap=True
        )
    console.print(
        "[bold yellow]These passwords are shown only now.[/bold yellow] Accounts with a one-time code "
        "show a QR code and key at their first sign-in: add it to an authenticator app (or "
        "`oathtool --totp -b KEY`); 'dispatcher' and 'patrol' need none."
    )


def report_stolen(platform: Platform, action: ReportStolen) -> int | None:
    """List a bike the simulation had stolen, as the duty officer taking the owner's report."""
    try:
        with transaction(platform.session_factory) as session:
            entry = registry.report_stolen(
                session,
                bike_id=action.bike_id,
                reported_by=action.reported_by,
                basis=action.basis,
                owner=DUTY_OFFICER,
                owner_station_id=action.station_id,
                now=action.at,
            )
            return entry.id
    except Conflict:
        return None  # listed already (a re-run over the same simulated period)


class Coalescer:
    """Collects station uploads for up to `linger_s` and submits them as one micro-batch."""

    def __init__(
        self, submit: Callable[[list[Part]], Awaitable[Any]], *, linger_s: float = 0.1, max_parts: int = 2_000
    ) -> None:
        self._submit = submit
        self._linger_s = linger_s
        self._max_parts = max_parts
        self._parts: list[Part] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, part: Part) -> None:
        """Queue one upload; flush when full or after the linger time."""
        self._parts.append(part)
        if len(self._parts) >= self._max_parts:
            await self.flush()
        elif self._flusher is None:
            self._flusher = asyncio.create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(self._linger_s)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        """Submit what is queued."""
        parts, self._parts = self._parts, []
        if parts:
            await self._submit(parts)


def _ndjson(events: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e, separators=(",", ":")) for e in events).encode()


DEMO_GATEWAY = "SMS-GW-DEMO"


def sms_file(platform: Platform) -> Path:
    """Where the demo's stand-in for an SMS gateway writes the text messages sent to people."""
    return platform.settings.data_dir / "log" / "sms.log"


async def deliver_texts(platform: Platform, stop: asyncio.Event, *, every_s: float = 2.0) -> None:
    """The demo's SMS gateway: fetch the messages to people over the gateway use case, write them down.

    A demo has no SMS provider, so codes sent to an owner's phone (a bike registered to them, an
    account asking to be linked) land in `sms_file`, where whoever plays the owner reads them.
    """
    now = platform.clock.now()
    with transaction(platform.session_factory) as session:
        try:
            _, secret = registry.create_device(
                session,
                device_id=DEMO_GATEWAY,
                kind="sms_gateway",
                name="Demo SMS gateway",
                lat=None,
                lon=None,
                area_id=None,
                now=now,
            )
        except Conflict:
            secret = registry.rotate_device_secret(session, device_id=DEMO_GATEWAY)
    path = sms_file(platform)
    make_private_dirs(path.parent)
    private_file(path)  # phone numbers and codes: the owner's alone, whatever the umask
    while not stop.is_set():
        sent = await asyncio.to_thread(platform.registry.sms.fetch, DEMO_GATEWAY, secret)
        if sent:
            with path.open("a", encoding="utf-8") as out:
                for message in sent:
                    out.write(
                        f"{datetime.now(UTC).isoformat(timespec='seconds')} to {message.to}: {message.body}\n"
                    )
        for message in sent:
            await asyncio.to_thread(
                platform.registry.sms.report, DEMO_GATEWAY, secret, message.id, sent=True, error=None
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


def demo_doors(platform: Platform, city: City, *, seed: int) -> DemoDoors:
    """A simulated controller at every door of the city's housing, wired to this platform."""
    housing = ensure_housing(city, seed=seed)
    return DemoDoors(
        tables={name: housing.table(name) for name in HOUSING_TABLES},
        doors=platform.service(Doors),
        visitors=platform.service(Visitors),
        sessions=platform.session_factory,
        submit=platform.ingest.submit_parts,
        now=platform.clock.now,
        seed=seed,
    )


async def run_in_process(
    platform: Platform,
    *,
    city: City,
    speedup: float,
    thefts_per_hour: float,
    seed: int,
    stop: asyncio.Event | None = None,
    doors: DemoDoors | None = None,
) -> None:
    """Simulate the city live against this platform, plan after plan, until stopped.

    The bikes and, beside them, the doors of the city's housing (`doors`, by default one
    controller at every door: sim/doorsim.py).
    """
    stop = stop or asyncio.Event()
    coalescer = Coalescer(platform.ingest.submit_parts)
    texts = asyncio.create_task(deliver_texts(platform, stop), name="demo-sms")
    if doors is None:
        doors = await asyncio.to_thread(demo_doors, platform, city, seed=seed)
    door_life = asyncio.create_task(
        doors.live(platform.hub, stop, start=platform.clock.now() - WARM_UP), name="demo-doors"
    )
    door_life.add_done_callback(_log_failure)

    async def send(batch: SimBatch) -> None:
        for action in batch.actions:
            if await asyncio.to_thread(report_stolen, platform, action) is not None:
                log.info("sim.bike_reported_stolen", bike_id=action.bike_id, tag=action.tag)
        if batch.device_id is not None and batch.events:
            await coalescer.add(Part(body=_ndjson(batch.events), device_id=batch.device_id, source="sim"))

    plan = 0
    # Start a little in the past: the backlog is replayed at once, so the first planted thefts
    # are reported (and their alarms raised) within the first minute of the demo.
    start = platform.clock.now() - WARM_UP
    try:
        while not stop.is_set():
            horizon = FIRST_HORIZON if plan == 0 else HORIZON
            thefts = max(3, round(thefts_per_hour * horizon.total_seconds() / 3600))
            sim = await asyncio.to_thread(
                Simulation,
                city,
                seed=seed + plan,
                start=start,
                speedup=speedup,
                thefts=thefts,
                horizon=horizon,
            )
            log.info("sim.plan", plan=plan, start=start.isoformat(), thefts=thefts)
            # Paced from the platform's own time: what lies before it (the warm-up) is sent at once.
            await sim.run_live(send, stop_event=stop, end=start + horizon, pace_from=platform.clock.now())
            await coalescer.flush()
            start, plan = start + horizon, plan + 1
    finally:
        for task in (texts, door_life):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _log_failure(task: asyncio.Task[None]) -> None:
    """A demo task that ended by an error says so (nobody awaits it until the demo stops)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("demo.task_failed", task=task.get_name(), error=repr(task.exception()))


async def run_remote(
    city_dir: Path,
    *,
    url: str,
    mqtt_url: str,
    speedup: float,
    thefts_per_hour: float,
    seed: int,
    duration_s: float,
) -> None:
    """Simulate the city against a running platform over HTTP (or MQTT), as real devices would."""
    city = City.open(city_dir)
    secrets = city.device_secrets()
    stop = asyncio.Event()
    if duration_s:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        publishers = DevicePublishers(mqtt_url, secrets, _topic_prefix()) if mqtt_url else None
        limiter = asyncio.Semaphore(32)

        async def post(batch: SimBatch) -> None:
            async with limiter:
                response = await client.post(
                    "/api/v1/ingest",
                    content=_ndjson(batch.events),
                    auth=(batch.device_id or "", secrets.get(batch.device_id or "", "")),
                    headers={"content-type": "application/x-ndjson"},
                )
                if response.status_code != 200:
                    log.warning(
                        "sim.upload_refused",
                        device=batch.device_id,
                        status=response.status_code,
                        body=response.text[:200],
                    )

        async def send(batch: SimBatch) -> None:
            for action in batch.actions:
                response = await client.post(
                    f"/api/v1/bikes/{action.bike_id}/stolen",
                    json={
                        "reported_by": action.reported_by,
                        "basis": action.basis,
                        "owner": DUTY_OFFICER,
                        "owner_station_id": action.station_id,
                    },
                )
                log.info("sim.bike_reported_stolen", bike_id=action.bike_id, status=response.status_code)
            if batch.device_id is None or not batch.events:
                return
            if publishers is not None:
                publishers.publish(batch.device_id, _ndjson(batch.events))
            else:
                asyncio.create_task(post(batch))

        sim = Simulation(
            city,
            seed=seed,
            start=datetime.now(UTC),
            speedup=speedup,
            thefts=max(1, round(thefts_per_hour * HORIZON.total_seconds() / 3600)),
            horizon=HORIZON,
        )
        try:
            sent = await sim.run_live(send, stop_event=stop)
        finally:
            if publishers is not None:
                publishers.close()
        log.info("sim.finished", batches=sent)


class DevicePublishers:
    """One MQTT connection per device, signed in with its own id and secret, as real devices are.

    A broker set up by `safecity mqtt broker-config` lets a device publish only on its own
    topic, so one shared connection cannot speak for them all. One thread serves every
    connection through a selector (a city has thousands of stations: a thread each is too many).
    """

    def __init__(self, mqtt_url: str, secrets: dict[str, str], prefix: str) -> None:
        host, _, port = mqtt_url.removeprefix("mqtt://").rpartition("@")[2].partition(":")
        self._host, self._port = host, int(port or 1883)
        self._secrets, self._prefix = secrets, prefix
        self._clients: dict[str, Any] = {}
        self._sockets: dict[str, Any] = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mqtt-devices", daemon=True)
        self._thread.start()

    def publish(self, device_id: str, body: bytes) -> None:
        """Publish a device's batch on its own events topic (QoS 1), connecting it first if need be."""
        client = self._clients.get(device_id) or self._connect(device_id)
        client.publish(f"{self._prefix}/devices/{device_id}/events", body, qos=1)

    def _connect(self, device_id: str) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"safecity-sim-{device_id}")
        client.username_pw_set(device_id, self._secrets.get(device_id, ""))
        client.on_connect = _log_refusal
        client.connect(self._host, self._port)
        with self._lock:
            self._clients[device_id] = client
            self._sockets[device_id] = client.socket()
            self._selector.register(self._sockets[device_id], selectors.EVENT_READ, device_id)
        return client

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                clients = dict(self._clients)
            if not clients:
                self._stop.wait(0.05)
                continue
            for key, _events in self._selector.select(timeout=0.05):
                client = clients.get(key.data)
                if client is not None and client.loop_read() != 0:  # refused or closed by the broker
                    self._drop(key.data)
            for device_id, client in clients.items():
                if client.want_write() and client.loop_write() != 0:
                    self._drop(device_id)
                else:
                    client.loop_misc()

    def _drop(self, device_id: str) -> None:
        """Forget a connection the broker closed (the next batch of the device connects again)."""
        with self._lock:
            self._clients.pop(device_id, None)
            sock = self._sockets.pop(device_id, None)
            if sock is not None:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)

    def close(self) -> None:
        """Disconnect every device."""
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self._clients.values():
            client.disconnect()


def _log_refusal(_client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
    if reason.is_failure:
        log.warning("sim.mqtt_refused", reason=str(reason))


def _topic_prefix() -> str:
    from safecity.ingest.settings import IngestSettings
    from safecity.settings import Settings

    return Settings().section(IngestSettings).mqtt_topic_prefix
