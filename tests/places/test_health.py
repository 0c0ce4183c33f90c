"""Device health on a small planted lake: online, usage and swipe rates per compound, community, station
and district (the local day's edges in Wenzhou time), the doors dragging them down, reach and the route;
and a door controller falling silent is warned about by the packaged rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.context import SYSTEM
from safecity.core.record import RECORD_SCHEMA
from safecity.places import Places
from safecity.places.health import DeviceHealth
from safecity.places.health_schemas import HealthOut, Level
from safecity.places.models import Door
from safecity.places.schemas import BuildingIn, CompoundIn
from safecity.places.shop_schemas import ShopIn
from safecity.places.shops import Shops
from safecity.platform import Platform
from safecity.rules import build_rules, load_rules
from safecity.rules.config import DEFAULT_RULES_FILE
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import _areas
from tests.places.shopfix import id_number

# T0 is 16:00 on Sunday 2026-11-22 in Wenzhou; that local day began at 16:00 UTC on the 21st.
LOCAL_MIDNIGHT = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
_serial = itertools.count(1)


def rec(
    device: str, kind: str, at: datetime, code: str | None = None, *, received: datetime | None = None
) -> dict[str, Any]:
    n = next(_serial)
    return {
        **dict.fromkeys(RECORD_SCHEMA),
        "event_id": f"{device}-{n}",
        "corr_id": f"{device}-{n}",
        "kind": kind,
        "subject_kind": "id_card" if kind == "door_swipe" else "device",
        "subject": f"1.{n:032x}" if kind == "door_swipe" else device,
        "device": device,
        "ts": at,
        "code": code,
        "source": "test",
        "received_at": received or at,
    }


def plant(platform: Platform) -> None:
    """Five door controllers in C1 and C2, a disabled one and a base station; a day of their records."""
    places, shops = platform.service(Places), platform.service(Shops)
    _areas(platform)
    for n, community in ((1, "C1"), (2, "C2")):
        places.add_compound(
            SYSTEM, CompoundIn(id=f"CP{n}", name=f"小区{n}", community_id=community), resource="t"
        )
        places.add_building(SYSTEM, BuildingIn(id=f"B{n}", compound_id=f"CP{n}", name="1"), resource="t")
    shop = shops.register(
        SYSTEM,
        ShopIn(name="店", community_id="C1", owner_id_number=id_number(7), owner_name="O"),
        resource="t",
    ).id
    with transaction(platform.session_factory) as session:
        for device, kind, area in (
            ("DC-1", "door_controller", None),
            ("DC-2", "door_controller", None),
            ("DC-3", "door_controller", None),
            ("DC-4", "door_controller", None),
            ("DC-5", "door_controller", "C2"),  # registered without a door row: counted in its area
            ("DC-OFF", "door_controller", "C1"),
            ("BS-1", "rfid_station", "C1"),
        ):
            registry.create_device(
                session, device_id=device, kind=kind, name=device, lat=None, lon=None, area_id=area, now=T0
            )
        session.flush()
        registry.revoke_device(session, device_id="DC-OFF")
        session.add_all(
            [
                Door(device_id="DC-1", compound_id="CP1", name="gate"),
                Door(device_id="DC-2", compound_id="CP1", name="side gate"),
                Door(device_id="DC-3", building_id="B2", name="entrance"),
                Door(device_id="DC-4", shop_id=shop, name="shop door"),
            ]
        )
    minute = timedelta(minutes=1)
    rows = [
        rec("DC-1", "heartbeat", T0 - 2 * minute),
        *(rec("DC-1", "door_swipe", T0 - (i + 1) * 10 * minute, "granted") for i in range(9)),
        rec("DC-1", "door_swipe", LOCAL_MIDNIGHT + 30 * minute, "granted"),  # 00:30 local: today
        rec("DC-1", "door_swipe", LOCAL_MIDNIGHT - 30 * minute, "granted"),  # 23:30 local yesterday
        rec("DC-1", "alarm", T0 - 90 * minute, "door_opened_no_swipe"),
        rec("DC-2", "heartbeat", T0 - 30 * minute),
        rec("DC-2", "door_swipe", T0 - 40 * minute, "denied"),
        rec("DC-2", "door_swipe", T0 - 41 * minute, "denied"),
        rec("DC-3", "heartbeat", T0 - 3 * minute, received=T0 - minute),
        rec("DC-3", "alarm", T0 - 50 * minute, "door_forced"),
        rec("DC-4", "heartbeat", T0 - 5 * minute),
        *(rec("DC-4", "door_swipe", T0 - (i + 1) * 7 * minute, "granted") for i in range(3)),
        rec("DC-OFF", "door_swipe", T0 - 5 * minute, "granted"),
        rec("BS-1", "heartbeat", T0 - minute),
    ]
    platform.lake.append(pl.DataFrame(rows, schema=RECORD_SCHEMA))


def figures(platform: Platform, level: Level, **kw: Any) -> HealthOut:
    return platform.service(DeviceHealth).figures(SYSTEM, level=level, resource="test", **kw)


def table(out: HealthOut) -> dict[str, tuple[Any, ...]]:
    return {r.key: (r.doors, r.online, r.used, r.openings, r.by_swipe) for r in out.rows}


def test_rates_per_community_count_the_local_day_and_active_doors_only(platform: Platform) -> None:
    plant(platform)
    out = figures(platform, Level.COMMUNITY)

    assert out.day.isoformat() == "2026-11-22"
    assert table(out) == {"C1": (3, 2, 3, 14, 13), "C2": (2, 1, 0, 1, 0)}
    c1 = next(r for r in out.rows if r.key == "C1")
    assert (c1.online_rate, c1.usage_rate, c1.swipe_rate) == (round(2 / 3, 4), 1.0, round(13 / 14, 4))
    assert [r.key for r in out.rows] == ["C2", "C1"]  # worst first
    assert (out.total.doors, out.total.online, out.total.openings, out.total.by_swipe) == (5, 3, 15, 13)


def test_rates_per_compound_station_and_district(platform: Platform) -> None:
    plant(platform)
    assert table(figures(platform, Level.COMPOUND)) == {"CP1": (2, 1, 2, 11, 10), "CP2": (1, 1, 0, 1, 0)}
    assert table(figures(platform, Level.STATION)) == {"S1": (5, 3, 3, 15, 13)}
    district = figures(platform, Level.DISTRICT)
    assert table(district) == {"D1": (5, 3, 3, 15, 13)}
    assert district.rows[0].name == "Lucheng"


def test_the_doors_dragging_each_figure_down_are_named_with_why(platform: Platform) -> None:
    plant(platform)
    out = figures(platform, Level.COMMUNITY)

    assert [(d.reason, d.device, d.key) for d in out.dragging] == [
        ("offline", "DC-2", "C1"),
        ("offline", "DC-5", "C2"),
        ("unused", "DC-3", "C2"),
        ("unused", "DC-5", "C2"),
        ("unswiped", "DC-3", "C2"),  # its only opening was forced
    ]
    assert out.dragging_total == 3
    assert out.dragging[0].last_seen == T0 - timedelta(minutes=30)
    assert out.dragging[1].last_seen is None


def test_another_day_counts_that_days_swipes(platform: Platform) -> None:
    plant(platform)
    yesterday = figures(platform, Level.COMMUNITY, day=(T0 - timedelta(days=1)).date())
    assert table(yesterday)["C1"][2:] == (1, 1, 1)  # DC-1's swipe at 23:30 local


def test_an_officer_sees_the_doors_of_their_areas_only(api: TestClient, platform: Platform) -> None:
    plant(platform)
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))

    answer = api.get("/api/v1/health/devices", params={"level": "community"}, headers=officer)

    assert answer.status_code == 200, answer.text
    assert [r["key"] for r in answer.json()["rows"]] == ["C1"]
    assert {d["device"] for d in answer.json()["dragging"]} == {"DC-2"}
    refused = api.get("/api/v1/health/devices", params={"area_id": "C2"}, headers=officer)
    assert refused.status_code == 403
    assert api.get("/api/v1/health/devices", params={"level": "planet"}, headers=officer).status_code == 422
    landlord = mint(platform.security, Role.LANDLORD)
    assert api.get("/api/v1/health/devices", headers=landlord).status_code == 403


def test_a_city_with_no_doors_has_no_rates(platform: Platform) -> None:
    out = figures(platform, Level.STATION)
    assert out.rows == [] and out.total.doors == 0 and out.total.online_rate is None


@pytest.mark.parametrize("silent_min", [14, 16])
def test_a_silent_door_controller_is_warned_about_by_the_packaged_rules(
    platform: Platform, silent_min: int
) -> None:
    _areas(platform)
    with transaction(platform.session_factory) as session:
        registry.create_device(
            session,
            device_id="DC-9",
            kind="door_controller",
            name="DC-9",
            lat=None,
            lon=None,
            area_id="C1",
            now=T0,
        )
    [rule] = [r for r in build_rules(load_rules(DEFAULT_RULES_FILE)) if r.name == "door-controller-offline"]
    platform.devices.invalidate()
    rule.evaluate(pl.DataFrame([rec("DC-9", "heartbeat", T0)], schema=RECORD_SCHEMA), platform.facts, T0)

    found = rule.tick(platform.facts, T0 + timedelta(minutes=silent_min))

    assert [f.subject for f in found] == (["DC-9"] if silent_min > 15 else [])


def test_the_default_day_is_the_local_one(platform: Platform) -> None:
    plant(platform)
    platform.clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # type: ignore[attr-defined]  # 01:00 on the 23rd
    out = figures(platform, Level.COMMUNITY)
    assert out.day.isoformat() == "2026-11-23"
    assert out.total.openings == 0 and out.total.online == 0  # a new local day; every door silent for hours


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1969-12-31"])
def test_a_day_outside_the_platforms_time_is_refused_by_name(
    api: TestClient, platform: Platform, day: str
) -> None:
    """Found by the API fuzz test: 0001-01-01 was a 500 (its local midnight falls before year 1 in UTC)."""
    plant(platform)
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))

    answer = api.get("/api/v1/health/devices", params={"day": day}, headers=officer)

    assert answer.status_code == 422, answer.text
    assert "day" in answer.text
