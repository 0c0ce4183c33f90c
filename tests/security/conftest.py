"""A live platform with two districts, for the access-control tests.

District D1 holds station area S1 and community C1; D2 holds S2 and C2. Objects "in area" belong
to S1/C1, objects "out of area" to S2/C2; area-scoped test accounts reach S1 (staff) or C1
(partners). The server runs under uvicorn in a thread so that streaming routes answer as in
production.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.core.finding import Evidence, Finding
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security import accounts, cases
from safecity.security.models import Account
from safecity.security.roles import CITY_WIDE, ROLE_KIND, AccountKind, Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import PASSWORD

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
IN, OUT = "in", "out"
SITE = {
    IN: {
        "district": "D1",
        "station": "S1",
        "community": "C1",
        "device": "BS-IN",
        "lat": 28.00,
        "lon": 120.65,
    },
    OUT: {
        "district": "D2",
        "station": "S2",
        "community": "C2",
        "device": "BS-OUT",
        "lat": 28.05,
        "lon": 120.75,
    },
}
ID_NUMBERS = {IN: "11010519491231002X", OUT: "330302198001011230"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RoleAccount:
    """A test account of one role and a fresh bearer token for it."""

    role: Role
    username: str
    account_id: int
    headers: dict[str, str]
    case_id: str | None = None  # an open case in S1 the account works, where its role may open one


@dataclass
class World:
    """The running platform, its base URL and the fixtures the access tests act on."""

    platform: Platform
    base_url: str
    accounts: dict[Role, RoleAccount] = field(default_factory=dict)
    bikes: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    other_case: str = ""  # an open case in S2 none of the test accounts works
    landlords: dict[str, int] = field(default_factory=dict)  # site -> the landlord row letting its flats
    hazmat: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # site -> its hazmat sites, tracker, shipment
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def incident(self, where: str) -> int:
        """A new open incident (a theft call) at the site."""
        from safecity.dispatch.incidents import Incidents
        from safecity.dispatch.schemas import IncidentIn

        site = SITE[where]
        body = IncidentIn(kind="theft", lat=float(site["lat"]), lon=float(site["lon"]))  # type: ignore[arg-type]
        return self.platform.service(Incidents).create(SYSTEM, body, resource="setup").id

    def order(self, where: str) -> int:
        """A new issued order about a new incident at the site (its unit, or the desk once taken)."""
        from safecity.dispatch.orders import Orders

        return self.platform.service(Orders).dispatch(SYSTEM, self.incident(where), resource="setup")[0].id

    def client(self) -> httpx.Client:
        """An HTTP client of the live server."""
        return httpx.Client(base_url=self.base_url, timeout=30.0)

    def token(self, account: RoleAccount) -> dict[str, str]:
        """A fresh session for the account (for requests that end their session)."""
        now = self.platform.clock.now()
        with transaction(self.platform.session_factory) as session:
            found = session.get(Account, account.account_id)
            assert found is not None
            auth, _ = accounts.start_session(session, found, now=now, ttl_s=3600)
            token = self.platform.security.tokens.issue(
                account_id=found.id, session_id=auth.id, role=found.role, now=now
            )
        return {"Authorization": f"Bearer {token}"}

    def alert(self, where: str, *, acknowledged: bool = False) -> str:
        """A new alert raised at the site's base station (a fresh tag each time)."""
        site = SITE[where]
        n = next(self.serial)
        tag = f"{0xA0000000 + n:08X}"
        ts = NOW - timedelta(minutes=30) + timedelta(seconds=n)
        evidence = Evidence(
            event_id=f"ev-{n}",
            corr_id=f"corr-{n}",
            kind="rfid_read",
            subject=tag,
            device=str(site["device"]),
            ts=ts,
            lat=float(site["lat"]),  # type: ignore[arg-type]
            lon=float(site["lon"]),  # type: ignore[arg-type]
            area=str(site["community"]),
        )
        finding = Finding(
            rule="stolen_bike",
            rule_kind="hotlist",
            severity="high",
            title="Stolen e-bike tag read",
            subject_kind="tag",
            subject=tag,
            dedup_key=f"tag:{tag}",
            at=ts,
            evidence=(evidence,),
            facts={"watchlist_entry_id": n},
            params={"list_kind": "stolen_bike"},
        )
        alert_id = self.platform.alerts.apply_findings([finding])[0].alert_id
        if acknowledged:
            self.platform.alerts.acknowledge(alert_id, by="setup")
        return alert_id

    def device(self, where: str, kind: str = "rfid_station") -> str:
        """A new device (a base station unless told) in the site's community."""
        device_id = f"DEV-{next(self.serial)}"
        with transaction(self.platform.session_factory) as session:
            registry.create_device(
                session,
                device_id=device_id,
                kind=kind,
                name=device_id,
                lat=float(SITE[where]["lat"]),  # type: ignore[arg-type]
                lon=float(SITE[where]["lon"]),  # type: ignore[arg-type]
                area_id=str(SITE[where]["community"]),
                now=NOW,
            )
        return device_id

    def entry(self, where: str) -> int:
        """A new stolen-bike entry owned by the site's station."""
        bike_id = self.new_bike(where)
        with transaction(self.platform.session_factory) as session:
            entry = registry.report_stolen(
                session,
                bike_id=bike_id,
                reported_by="owner",
                basis="report 1",
                owner="setup",
                owner_station_id=str(SITE[where]["station"]),
                now=NOW,
            )
            return entry.id

    # --- places: a compound and a building in each site's community; the test landlord lets IN flats

    def flat(self, where: str) -> int:
        """A new flat in the site's building (let by the test landlord IN, by another landlord OUT)."""
        from safecity.places import Places
        from safecity.places.schemas import FlatIn

        places = self.platform.service(Places)
        body = FlatIn(
            building_id=f"B-{where}",
            number=f"F{next(self.serial)}",
            capacity=4,
            landlord_id=self.landlords[where],
        )
        return places.add_flat(SYSTEM, body, resource="setup").id

    def tenancy(self, where: str) -> int:
        """An open tenancy of a new tenant in a new flat of the site."""
        from safecity.places import Places
        from safecity.places.schemas import IdCardIn, TenantIn

        places = self.platform.service(Places)
        card = IdCardIn(id_number=self.id_number(), name="Tenant")
        return places.register_tenant(
            SYSTEM, self.flat(where), TenantIn(card=card), resource="setup"
        ).tenant.tenancy_id

    def visitor_pass(self, who: RoleAccount, where: str) -> int:
        """A pass in force at the site's compound, issued by `who` IN (a resident revokes only their own)
        and by someone else OUT (where a resident could not have issued one)."""
        from safecity.places import Visitors
        from safecity.places.schemas import VisitorPassIn

        body = VisitorPassIn(
            compound_id=f"CP-{where}",
            id_number=self.id_number(),
            name="Visitor",
            valid_until=NOW + timedelta(hours=4),
        )
        issuer = msgspec.structs.replace(SYSTEM, actor=who.username) if where == IN else SYSTEM
        return self.platform.service(Visitors).register(issuer, body, resource="setup").id

    def shop(self, where: str) -> int:
        """A new shop in the site's community (owned by the test shop owner IN, by nobody's account OUT)."""
        from safecity.places.shop_schemas import ShopIn
        from safecity.places.shops import Shops

        body = ShopIn(
            name=f"Shop {next(self.serial)}",
            community_id=str(SITE[where]["community"]),
            owner_id_number=self.id_number(),
            owner_name="Owner",
            owner_account=self.accounts[Role.SHOP_OWNER].username if where == IN else None,
        )
        return self.platform.service(Shops).register(SYSTEM, body, resource="setup").id

    def shop_staff(self, where: str) -> tuple[int, int]:
        """A new shop of the site (as `shop`) with one staff member: (shop id, staff id)."""
        from safecity.places.schemas import IdCardIn
        from safecity.places.shop_schemas import StaffIn
        from safecity.places.shop_staff import ShopStaffRoster

        shop_id = self.shop(where)
        body = StaffIn(card=IdCardIn(id_number=self.id_number(), name="Staff"))
        added = self.platform.service(ShopStaffRoster).add(SYSTEM, shop_id, body, resource="setup")
        return shop_id, added.id

    def id_number(self) -> str:
        """A valid identity number nobody has yet."""
        from safecity.core.ids import id_number_check_char

        first17 = f"3303021990{next(self.serial) % 10_000_000:07d}"[:17]
        first17 = first17[:6] + "19900307" + first17[-3:]
        return first17 + id_number_check_char(first17)

    def new_bike(self, where: str) -> int:
        """A new bike owned by the site's person."""
        n = next(self.serial)
        with transaction(self.platform.session_factory) as session:
            bike = registry.register_bike(
                session,
                reg=registry.BikeRegistration(
                    tag_id=f"{0xB0000000 + n:08X}",
                    frame_number=f"F-{n}",
                    model="Yadea",
                    colour="red",
                    owner_id_number=ID_NUMBERS[where],
                    owner_name=f"Owner {where}",
                ),
                by="setup",
                now=NOW,
                pseudonymize=self.platform.pseudonyms.pseudonym,
            )
            return bike.id

    def user(self) -> str:
        """A new patrol officer account to administer."""
        username = f"target-{next(self.serial)}"
        with transaction(self.platform.session_factory) as session:
            accounts.create_account(
                session,
                accounts.NewAccount(
                    username=username,
                    display_name=username,
                    role=Role.PATROL_OFFICER,
                    unit="Patrol",
                    password=PASSWORD,
                    areas=("S1",),
                ),
                by="tests",
                now=NOW,
            )
        return username

    def case(self, account: RoleAccount, where: str = IN) -> str:
        """A new open case in the site's station area worked by the account."""
        with transaction(self.platform.session_factory) as session:
            found = session.get(Account, account.account_id)
            assert found is not None
            principal = self.platform.security.principal_of(found, session_id=None)
            case = cases.open_case(
                session,
                principal,
                title="test case",
                basis="order 1",
                area_id=str(SITE[where]["station"]),
                window_start=NOW - timedelta(days=7),
                window_end=NOW + timedelta(days=1),
                now=NOW,
            )
            return case.id


def _areas_for(role: Role) -> tuple[str, ...]:
    if role in CITY_WIDE or role in (Role.CITIZEN, Role.LANDLORD, Role.LIAISON):
        return ()
    return ("C1",) if ROLE_KIND[role] is AccountKind.PARTNER else ("S1",)


def _seed(platform: Platform, world: World) -> None:
    with transaction(platform.session_factory) as session:
        for where in (IN, OUT):
            site = SITE[where]
            session.add(Area(id=site["district"], kind="district", name=f"District {where}"))
            session.flush()
            session.add(
                Area(
                    id=site["station"],
                    kind="station",
                    name=f"Station {where}",
                    parent_id=site["district"],
                    station_id=site["station"],
                )
            )
            session.flush()
            session.add(
                Area(
                    id=site["community"],
                    kind="community",
                    name=f"Community {where}",
                    parent_id=site["station"],
                    station_id=site["station"],
                )
            )
            session.flush()
            registry.create_device(
                session,
                device_id=str(site["device"]),
                kind="rfid_station",
                name=str(site["device"]),
                lat=float(site["lat"]),  # type: ignore[arg-type]
                lon=float(site["lon"]),  # type: ignore[arg-type]
                area_id=str(site["community"]),
                now=NOW,
            )
    for where in (IN, OUT):
        world.bikes[where] = world.new_bike(where)
    with transaction(platform.session_factory) as session:
        from safecity.registry.models import EBike

        for where in (IN, OUT):
            bike = session.get(EBike, world.bikes[where])
            assert bike is not None
            bike.owner.home_area_id = str(SITE[where]["community"])
            world.people[where] = bike.owner_id
    for role in Role:
        username = f"t-{role.value.replace('_', '-')}"
        with transaction(platform.session_factory) as session:
            account = accounts.create_account(
                session,
                accounts.NewAccount(
                    username=username,
                    display_name=username,
                    role=role,
                    unit=f"{role.value} unit",
                    password=PASSWORD,
                    areas=_areas_for(role),
                    person_id=world.people[IN] if role is Role.CITIZEN else None,
                ),
                by="tests",
                now=NOW,
            )
            account_id = account.id
        entry = RoleAccount(role, username, account_id, {})
        entry.headers = world.token(entry)
        world.accounts[role] = entry
    for role in (Role.INVESTIGATOR, Role.COMMANDER):
        world.accounts[role].case_id = world.case(world.accounts[role])
    _seed_places(platform, world)
    _seed_hazmat(platform, world)
    _seed_dispatch(platform, world)
    # A case in the other district, worked by an account outside the tests' reach.
    with transaction(platform.session_factory) as session:
        outsider = accounts.create_account(
            session,
            accounts.NewAccount(
                username="outsider",
                display_name="Outsider",
                role=Role.INVESTIGATOR,
                unit="D2 unit",
                password=PASSWORD,
                areas=("S2",),
            ),
            by="tests",
            now=NOW,
        )
        outsider_id = outsider.id
    world.other_case = world.case(RoleAccount(Role.INVESTIGATOR, "outsider", outsider_id, {}), OUT)


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The platform behind uvicorn on a free port, seeded, on a clock stopped at NOW."""
    data_dir: Path = tmp_path_factory.mktemp("access")
    settings = Settings(
        data_dir=data_dir,
        rate_limit_public_per_min=100_000,
        rate_limit_login_per_min=100_000,
        rate_limit_refused_per_min=100_000,  # the matrix is refused hundreds of times a minute on purpose
        webhook_allowed_networks="127.0.0.0/8",  # the tests' webhook receivers run on this machine
    )
    settings.city_dir.mkdir(parents=True)
    (settings.city_dir / "city.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    platform = Platform.build(settings, clock=ManualClock(NOW))
    port = _free_port()
    world = World(platform, f"http://127.0.0.1:{port}")
    _seed(platform, world)
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield world
    server.should_exit = True
    thread.join(timeout=10)


def error_code(answer: httpx.Response) -> str | None:
    """The error code of a JSON error answer, if any."""
    try:
        body: Any = answer.json()
    except ValueError:
        return None
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def _seed_places(platform: Platform, world: World) -> None:
    """Compound CP-in in C1 and CP-out in C2, a building each; the test landlord lets the IN flats."""
    from safecity.places import Places
    from safecity.places.schemas import BuildingIn, CompoundIn, LandlordIn

    places = platform.service(Places)
    for where in (IN, OUT):
        site = SITE[where]
        places.add_compound(
            SYSTEM,
            CompoundIn(id=f"CP-{where}", name=f"Compound {where}", community_id=str(site["community"])),
            resource="setup",
        )
        places.add_building(
            SYSTEM, BuildingIn(id=f"B-{where}", compound_id=f"CP-{where}", name="1"), resource="setup"
        )
        account = world.accounts[Role.LANDLORD].username if where == IN else None
        landlord = places.add_landlord(
            SYSTEM,
            LandlordIn(id_number=world.id_number(), name=f"Landlord {where}", account=account),
            resource="setup",
        )
        world.landlords[where] = landlord.id
    # The test citizen (the IN person) lives in a flat of CP-in: a resident there, nowhere else.
    from safecity.places.schemas import IdCardIn, TenantIn

    home = TenantIn(card=IdCardIn(id_number=ID_NUMBERS[IN], name="Owner in"))
    places.register_tenant(SYSTEM, world.flat(IN), home, resource="setup")


def _seed_dispatch(platform: Platform, world: World) -> None:
    """A street lattice over both sites (the dispatch road network), each community a box around
    its site, and per site an available patrol car (U-IN, U-OUT) of its station."""
    from safecity.dispatch.models import UnitKind, UnitStatus
    from safecity.dispatch.schemas import UnitIn
    from safecity.dispatch.units import Units
    from safecity.sim.grid import Grid
    from safecity.sim.roadnet import city_roads

    grid = Grid(width_units=224, height_units=144, south=27.995, west=120.645)  # 11 x 7 km
    city_roads(grid, seed=1).save(platform.settings.city_dir / "roads.npz")
    with transaction(platform.session_factory) as session:
        for where in (IN, OUT):
            site = SITE[where]
            lat, lon = float(site["lat"]), float(site["lon"])  # type: ignore[arg-type]
            area = session.get(Area, site["community"])
            assert area is not None
            ring = [
                [lon - 0.01, lat - 0.01],
                [lon + 0.01, lat - 0.01],
                [lon + 0.01, lat + 0.01],
                [lon - 0.01, lat + 0.01],
            ]
            area.boundary = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    units = platform.service(Units)
    for where in (IN, OUT):
        site = SITE[where]
        unit_id = f"U-{where.upper()}"
        units.add(
            SYSTEM,
            UnitIn(
                id=unit_id,
                kind=UnitKind.CAR,
                department="patrol",
                station_id=str(site["station"]),
                area_id=str(site["station"]),
                home_lat=float(site["lat"]),  # type: ignore[arg-type]
                home_lon=float(site["lon"]),  # type: ignore[arg-type]
            ),
            resource="setup",
        )
        units.set_status(SYSTEM, unit_id, UnitStatus.AVAILABLE, expected_version=None, resource="setup")


def _seed_hazmat(platform: Platform, world: World) -> None:
    """Petrol; per site two licensed hazmat sites in its community, a tracker with a JT/T 808
    terminal, and a planned shipment between the two sites on it."""
    from safecity.tracking.hazmat_registry import HazmatRegistry
    from safecity.tracking.hazmat_schemas import ProductIn, ShipmentIn, SiteIn
    from safecity.tracking.shipments import Shipments

    hazmat = platform.service(HazmatRegistry)
    hazmat.add_product(SYSTEM, ProductIn(un_number="1203", name="petrol", hazard_class="3"), resource="setup")
    for n, where in enumerate((IN, OUT)):
        site = SITE[where]
        sites = [
            hazmat.add_site(
                SYSTEM,
                SiteIn(
                    name=f"{name} {where}",
                    area_id=str(site["community"]),
                    lat=float(site["lat"]),  # type: ignore[arg-type]
                    lon=float(site["lon"]),  # type: ignore[arg-type]
                    licence="L",
                    permitted_un=["1203"],
                ),
                resource="setup",
            ).id
            for name in ("from", "to")
        ]
        tracker, terminal = world.device(where, kind="tracker"), f"01390000000{n}"
        with transaction(platform.session_factory) as session:
            registry.register_terminal(
                session, device_id=tracker, protocol="jt808", terminal=terminal, now=NOW
            )
        line = [[float(site["lon"]), float(site["lat"])], [float(site["lon"]) + 0.01, float(site["lat"])]]  # type: ignore[arg-type]
        body = ShipmentIn.model_validate(
            {
                "un_number": "1203",
                "quantity": 1000,
                "consignor_site_id": sites[0],
                "consignee_site_id": sites[1],
                "carrier": "carrier",
                "plate": "浙C12345",
                "device_id": tracker,
                "terminal": terminal,
                "route": {"type": "LineString", "coordinates": line},
                "depart_from": NOW,
                "depart_until": NOW + timedelta(hours=1),
                "arrive_from": NOW,
                "arrive_until": NOW + timedelta(hours=2),
            }
        )
        shipment = platform.service(Shipments).create(SYSTEM, body, resource="setup")
        world.hazmat[where] = {
            "sites": sites,
            "tracker": tracker,
            "terminal": terminal,
            "shipment": shipment.id,
        }
