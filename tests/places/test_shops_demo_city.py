"""The demo city's shops and doors as loaded from the simulated city: their hours arm them at night,
and device health counts every door controller it brought."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from safecity.core.context import SYSTEM
from safecity.places.health import DeviceHealth
from safecity.places.health_schemas import Level
from safecity.places.shops import Shops
from safecity.platform import Platform
from safecity.sim import generate_city, load_city
from safecity.sim.housing import generate_housing
from safecity.sim.housing_loader import load_housing
from tests.conftest import T0


def test_the_loaded_shops_follow_their_hours_and_their_doors_are_counted(
    platform: Platform, tmp_path: Path
) -> None:
    city = generate_city(seed=11, scale="tiny", out_dir=tmp_path / "city")
    housing = generate_housing(city, seed=4)
    load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    load_housing(city, housing, platform.session_factory, pseudonymizer=platform.pseudonyms, now=T0)
    shops = platform.service(Shops)
    loaded = shops.shops(SYSTEM, limit=1000)
    assert loaded and all(s.business_hours and s.open_now is not None for s in loaded)

    platform.clock.set(T0 + timedelta(hours=15))  # type: ignore[attr-defined]  # Monday 07:00: all closed
    armed = shops.apply_schedule()

    assert set(armed) == {s.id for s in loaded} and all(armed.values())
    health = platform.service(DeviceHealth).figures(SYSTEM, level=Level.DISTRICT, resource="t")
    assert health.total.doors == housing.counts["doors"]
    assert health.total.online == 0 and len(health.rows) >= 1
