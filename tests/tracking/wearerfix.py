"""A small city for the wearer tests: two stations' areas, tracker devices, callers, and enrolment bodies.

District D1 holds station S1 and community C1 (in reach of the test officer); D2 holds S2 and C2
(not). Trackers TRK-1..TRK-4 are registered in C1, TRK-9 in C2, and BS-1 is a base station (not a
tracker). Home is a circle of 200 m around (28.0, 120.65).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.ids import id_number_check_char
from safecity.core.record import RECORD_SCHEMA
from safecity.registry.models import Area
from safecity.store import transaction
from safecity.tracking.wearer_schemas import ConsentIn, GuardianIn, WearerIn, ZoneIn
from tests.conftest import T0

HOME = (28.0, 120.65)  # lat, lon
HOME_RADIUS_M = 200.0
M_PER_DEG_LAT = 111_320.0


def id_number(n: int) -> str:
    """A valid GB 11643 number, distinct for each n (born 1940, as the wearers are)."""
    first17 = f"3303021940{1 + n % 12:02d}{1 + n % 28:02d}{n:03d}"[:17]
    return first17 + id_number_check_char(first17)


def north_of_home(metres: float) -> tuple[float, float]:
    """A point `metres` north of home's centre (lat, lon)."""
    return HOME[0] + metres / M_PER_DEG_LAT, HOME[1]


OFFICER = Context(
    actor="officer.c1",
    role="community_officer",
    permissions=frozenset({"wearers.read", "wearers.manage"}),
    areas=frozenset({"S1", "C1"}),
    home_areas=("S1",),
)
PATROL = Context(
    actor="patrol.s1",
    role="patrol_officer",
    permissions=frozenset({"wearers.read"}),
    areas=frozenset({"S1", "C1"}),
    home_areas=("S1",),
)


def guardian_context(person_id: int | None) -> Context:
    """A citizen account linked to `person_id` (None: not linked)."""
    return Context(
        actor=f"citizen-{person_id}",
        role="citizen",
        permissions=frozenset({"wearers.guard"}),
        person_id=person_id,
    )


@dataclass
class ListRecorder:
    """An audit recorder that keeps what it is told (for tests without the platform's trail)."""

    entries: list[AuditEntry] = field(default_factory=list)

    def record(self, who: Context, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)

    def actions(self) -> list[str]:
        return [e.action for e in self.entries]


def seed_city(session_factory: sessionmaker[Session]) -> None:
    """Areas D1/S1/C1 and D2/S2/C2, trackers TRK-1..4 in C1 and TRK-9 in C2, base station BS-1."""
    with transaction(session_factory) as session:
        for n in (1, 2):
            session.add(Area(id=f"D{n}", kind="district", name=f"District {n}"))
            session.flush()
            session.add(
                Area(id=f"S{n}", kind="station", name=f"Station {n}", parent_id=f"D{n}", station_id=f"S{n}")
            )
            session.flush()
            session.add(
                Area(
                    id=f"C{n}", kind="community", name=f"Community {n}", parent_id=f"S{n}", station_id=f"S{n}"
                )
            )
            session.flush()
        for device, kind, area in [
            *((f"TRK-{i}", "tracker", "C1") for i in range(1, 5)),
            ("TRK-9", "tracker", "C2"),
            ("BS-1", "rfid_station", "C1"),
        ]:
            registry.create_device(
                session,
                device_id=device,
                kind=kind,
                name=device,
                lat=HOME[0],
                lon=HOME[1],
                area_id=area,
                now=T0,
            )


def home_zone(**over: Any) -> ZoneIn:
    """Home: a circle of 200 m."""
    return ZoneIn(**{"name": "home", "lat": HOME[0], "lon": HOME[1], "radius_m": HOME_RADIUS_M, **over})


def consent(n: int = 900) -> ConsentIn:
    """A guardian's consent on a signed form."""
    return ConsentIn(
        given_by_id_number=id_number(n),
        given_by_name="Chen Jie",
        capacity="guardian",
        basis="form WZ-2026-0042",
    )


def guardian(n: int, phone: str = "13900000001") -> GuardianIn:
    """A guardian (person n)."""
    return GuardianIn(id_number=id_number(n), name=f"Guardian {n}", relation="daughter", phone=phone)


def wearer_in(
    n: int = 1, *, devices: tuple[str, ...] = ("TRK-1",), area: str = "C1", **over: Any
) -> WearerIn:
    """Enrolment of wearer n wearing `devices`, with consent, one guardian (person 100+n) and home."""
    body: dict[str, Any] = {
        "id_number": id_number(n),
        "name": f"Wearer {n}",
        "area_id": area,
        "device_ids": list(devices),
        "notes": "dementia; walks to the river",
        "consent": consent(),
        "guardians": [guardian(100 + n)],
        "safe_zones": [home_zone()],
        **over,
    }
    return WearerIn(**body)


class Records:
    """Builds record batches of tracker fixes, alarms and heartbeats with unique event ids."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, rows: list[dict[str, Any]]) -> pl.DataFrame:
        """A record batch; each row names at least kind, device and ts (fixes: lat, lon)."""
        full = []
        for row in rows:
            self._n += 1
            base: dict[str, Any] = {
                "event_id": f"r{self._n}",
                "corr_id": f"r{self._n}",
                "kind": "tracker_fix",
                "subject_kind": "tracker",
                "subject": "864717003283581",
                "device": "TRK-1",
                "ts": T0,
                "lat": HOME[0],
                "lon": HOME[1],
                "cell": 1,
                "area": "C9",  # where the pipeline placed it: the warnings must route by the wearer instead
                "code": None,
                "value": None,
                "attrs": '{"valid":true}',
                "source": "gt06",
                "received_at": T0,
            }
            base.update(row)
            full.append(base)
        return pl.DataFrame(full, schema=RECORD_SCHEMA)

    def track(self, device: str, start: datetime, metres: list[float], *, every_s: int = 60) -> pl.DataFrame:
        """Fixes of `device` at these distances north of home's centre, one every `every_s` seconds."""
        rows = []
        for i, m in enumerate(metres):
            lat, lon = north_of_home(m)
            rows.append(
                {"device": device, "ts": start + timedelta(seconds=i * every_s), "lat": lat, "lon": lon}
            )
        return self(rows)


def at(minutes: float) -> datetime:
    """T0 plus minutes."""
    return T0 + timedelta(minutes=minutes)


Clock = Callable[[], datetime]
