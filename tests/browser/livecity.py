"""A tiny test city, its accounts, and a handle on a live safecity serving it, for the browser tests."""

from __future__ import annotations

import base64
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from safecity import registry
from safecity.core.ids import id_number_check_char
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security import accounts
from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import PASSWORD, enrol

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A few blocks of Wenzhou: one district, one station area, one community, two base stations.
WEST, SOUTH, EAST, NORTH = 120.640, 27.990, 120.700, 28.030
BASE_STATIONS = {
    "BS-0001": (28.0050, 120.6550, "Wuma St / Jiefang Rd"),
    "BS-0002": (28.0150, 120.6800, "Xinhe St / Renmin Rd"),
    "BS-0003": (28.0080, 120.6600, "五马街 / 解放路"),  # names in the field are Chinese
}
STATION_LATLON = (28.0100, 120.6650)


def valid_id_number(first17: str = "33030219900307123") -> str:
    """A GB 11643 identity number with its check character."""
    return first17 + id_number_check_char(first17)


def require_chromium() -> None:
    """Skip (or fail when CI=true) if the system Chromium is not installed."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the browser tests to run", pytrace=False)
    pytest.skip(reason)


def _rect(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def city_geojson() -> dict[str, Any]:
    """The map the test city serves: every layer the console draws."""
    lat, lon = STATION_LATLON
    features = [
        _feature(_rect(WEST, SOUTH, EAST, NORTH), layer="district", id="D01", name="Lucheng"),
        _feature(
            _rect(WEST + 0.005, SOUTH + 0.005, EAST - 0.005, NORTH - 0.005),
            layer="station_area",
            id="S0101",
            name="Wuma Station",
        ),
        _feature(
            _rect(WEST + 0.010, SOUTH + 0.010, EAST - 0.010, NORTH - 0.010),
            layer="community",
            id="C010101",
            name="Wuma Community",
        ),
        _feature(
            {"type": "LineString", "coordinates": [[WEST, 28.005], [EAST, 28.005]]},
            layer="road",
            id="R-H001",
            name="Jiefang Rd",
            road_class="major",
        ),
        _feature(
            {"type": "LineString", "coordinates": [[120.680, SOUTH], [120.680, NORTH]]},
            layer="road",
            id="R-V001",
            name="Xinhe St",
            road_class="minor",
        ),
        _feature(
            {"type": "Point", "coordinates": [lon, lat]},
            layer="police_station",
            id="S0101",
            name="Wuma Station",
        ),
    ]
    features += [
        _feature(
            {"type": "Point", "coordinates": [lon_, lat_]},
            layer="base_station",
            id=dev,
            name=name,
            area_id="C010101",
        )
        for dev, (lat_, lon_, name) in BASE_STATIONS.items()
    ]
    return {"type": "FeatureCollection", "bbox": [WEST, SOUTH, EAST, NORTH], "features": features}


def seed_registry(platform: Platform) -> dict[str, str]:
    """Areas and base stations of the test city; returns each device's secret."""
    now = platform.clock.now()
    secrets: dict[str, str] = {}
    with transaction(platform.session_factory) as session:
        lat, lon = STATION_LATLON
        session.add(Area(id="D01", kind="district", name="Lucheng", parent_id=None, station_id=None))
        session.add(
            Area(
                id="S0101",
                kind="station",
                name="Wuma Station",
                parent_id="D01",
                station_id="S0101",
                lat=lat,
                lon=lon,
            )
        )
        session.add(
            Area(id="C010101", kind="community", name="Wuma Community", parent_id="S0101", station_id="S0101")
        )
        session.flush()
        for dev, (lat_, lon_, name) in BASE_STATIONS.items():
            _, secrets[dev] = registry.create_device(
                session,
                device_id=dev,
                kind="rfid_station",
                name=name,
                lat=lat_,
                lon=lon_,
                area_id="C010101",
                now=now,
            )
    return secrets


@dataclass(frozen=True)
class Credentials:
    """What a person types into the sign-in form."""

    username: str
    display_name: str
    password: str
    totp_secret: str | None = None

    def totp(self) -> str:
        """The one-time code of this moment ("" for accounts without one)."""
        return totp_now(self.totp_secret) if self.totp_secret else ""


_serial = itertools.count(1)


def create_account(
    platform: Platform,
    role: Role,
    *,
    unit: str = "Wuma Station",
    areas: tuple[str, ...] = (),
    person_id: int | None = None,
    enrolled: bool = True,
) -> Credentials:
    """A new account that signs in with PASSWORD, and a one-time code where the role needs one: set
    up already (through the real enrolment), unless `enrolled` is False."""
    username = f"web-{role.value.replace('_', '-')}-{next(_serial)}"  # mint() names "<role>-<n>"
    display_name = username.replace("-", " ").title()
    with transaction(platform.session_factory) as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username=username,
                display_name=display_name,
                role=role,
                unit=unit,
                password=PASSWORD,
                areas=areas,
                person_id=person_id,
            ),
            by="tests",
            now=platform.clock.now(),
        )
        uses_totp = account.uses_totp
    secret = enrol(platform.security, username) if uses_totp and enrolled else None
    return Credentials(username, display_name, PASSWORD, secret)


@dataclass
class LiveCity:
    """A running safecity with a tiny city, and how to talk to it."""

    base_url: str
    platform: Platform
    secrets: dict[str, str]
    bearer: dict[str, str] = field(default_factory=dict)  # Authorization of the desk's investigator

    def api(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """An HTTP client for the JSON API, signed in with `headers` (default: the desk investigator)."""
        chosen = self.bearer if headers is None else headers
        return httpx.Client(base_url=self.base_url, headers=chosen, timeout=10.0)

    def account(self, role: Role, **kw: Any) -> Credentials:
        """A new account of `role` on this city (see create_account)."""
        return create_account(self.platform, role, **kw)

    def read_tag(self, device: str, tag: str) -> dict[str, Any]:
        """Post one RFID read of `tag` by `device`, as the base station would."""
        event = {
            "v": 1,
            "id": uuid.uuid4().hex,
            "kind": "rfid_read",
            "device": device,
            "subject": tag,
            "ts": datetime.now(UTC).isoformat(),
        }
        token = base64.b64encode(f"{device}:{self.secrets[device]}".encode()).decode()
        with self.api({}) as client:
            answer = client.post(
                "/api/v1/ingest",
                content=json.dumps(event) + "\n",
                headers={"Authorization": f"Basic {token}", "Content-Type": "application/x-ndjson"},
            )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@contextmanager
def watched_page(browser: Any, base_url: str, *, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A fresh page of this size; fails the test on any uncaught error or CSP violation in it."""
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and ("Content Security Policy" in msg.text or "Uncaught" in msg.text)
            else None
        ),
    )
    yield page
    context.close()
    assert not problems, "\n".join(problems)
