"""The demo's command centre on the tiny city: units at every station with their handsets, and the
crews of units nobody signed on to driving the road network to a call and home again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.orders import Orders
from safecity.dispatch.schemas import IncidentIn
from safecity.dispatch.units import Units
from safecity.driver import ensure_loaded
from safecity.driver.dispatchdemo import _tick, register_units
from safecity.platform import Platform
from safecity.settings import Settings


def test_a_demo_crew_drives_to_the_call_reports_back_and_drives_home(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # 10:00 in Wenzhou: the day band
    platform = Platform.build(Settings(data_dir=tmp_path), clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    added = register_units(platform, city)
    assert added > 0 and register_units(platform, city) == 0  # a restart registers nothing twice
    units, orders = platform.service(Units), platform.service(Orders)
    all_units = units.list(SYSTEM)
    assert all(u.device_id == f"MDT-{u.id}" and u.status == "available" for u in all_units)
    stations = city.table("areas").filter(kind="station")
    lat, lon = float(stations["lat"][0]) + 0.004, float(stations["lon"][0]) + 0.004
    incident = platform.service(Incidents).create(
        SYSTEM, IncidentIn(kind="theft", lat=lat, lon=lon), resource="t"
    )
    (order,) = orders.dispatch(SYSTEM, incident.id, resource="t")
    unit = order.unit_id
    assert unit is not None

    seen, fixes = _follow(platform, clock, unit)
    assert seen == ["assigned", "en_route", "on_scene", "returning", "available"], seen
    done = orders.of_incident(SYSTEM, incident.id)[0]
    assert done.status == "reported" and "演示" in done.report
    # It drove there (its fixes end near the call) and back home.
    assert len(fixes) >= 4
    arrived = min(abs(f[0] - lat) + abs(f[1] - lon) for f in fixes)
    assert arrived < 0.003
    home = units.get(SYSTEM, unit)
    assert abs(home.lat - home.home_lat) + abs(home.lon - home.home_lon) < 0.003  # type: ignore[operator]
    platform.engine.dispose()


def test_a_demo_drone_flies_to_a_traffic_accident_and_back(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    platform = Platform.build(Settings(data_dir=tmp_path), clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    register_units(platform, city)
    orders = platform.service(Orders)
    stations = city.table("areas").filter(kind="station")
    lat, lon = float(stations["lat"][0]) + 0.006, float(stations["lon"][0]) - 0.004
    incident = platform.service(Incidents).create(
        SYSTEM, IncidentIn(kind="traffic_accident", lat=lat, lon=lon), resource="t"
    )
    sent = orders.dispatch(SYSTEM, incident.id, resource="t")
    (drone,) = [o.unit_id for o in sent if o.unit_id and o.unit_id.startswith("UAV-")]
    seen, fixes = _follow(platform, clock, drone)
    assert seen == ["assigned", "en_route", "on_scene", "returning", "available"], seen
    assert len(fixes) >= 2  # it flew: fixes on the way there and back, all trusted
    platform.engine.dispose()


def _follow(platform: Platform, clock: ManualClock, unit: str) -> tuple[list[str], list[tuple[float, float]]]:
    """Tick the demo crews every 30 s until `unit` is available again: the statuses it went
    through and its fixes (each taken as a handset's would be, and trusted)."""
    units = platform.service(Units)
    trips: dict = {}
    scene: dict = {}
    seen: list[str] = []
    fixes: list[tuple[float, float]] = []
    for _ in range(200):
        for device, fix in _tick(platform, trips, scene):
            if device == f"MDT-{unit}":
                fixes.append((float(fix["lat"]), float(fix["lon"])))  # type: ignore[arg-type]
                at = datetime.fromisoformat(str(fix["ts"]))
                assert units.record_fix(unit, fixes[-1][0], fixes[-1][1], at) is None
        status = units.get(SYSTEM, unit).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "available" and len(seen) > 1:
            break
        clock.advance(timedelta(seconds=30))
    return seen, fixes
