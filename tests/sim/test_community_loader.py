"""Loading a city's smart communities into the registry (SQLite and PostgreSQL): panels and cameras with
working secrets, zones whose armed hours the intrusion facts read back, residents' cars the vehicle
facts know, and refusal of a second load."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places.vehicles import VehicleFacts
from safecity.places.zones import ZoneFacts
from safecity.registry.models import Device
from safecity.security.pseudonym import Pseudonymizer
from safecity.sim import City, load_city
from safecity.sim.community import make_community
from safecity.sim.community_loader import CommunityAlreadyLoaded, load_community
from safecity.sim.housing import TABLES, Housing, generate_housing
from safecity.sim.housing_loader import load_housing

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Wenzhou
NIGHT = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 01:00 in Wenzhou


@pytest.fixture(scope="module")
def housing(tiny_city: City) -> Housing:
    return generate_housing(tiny_city, seed=4)


def test_the_community_loads_as_generated_and_the_rules_facts_read_it(
    tiny_city: City, housing: Housing, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    load_housing(tiny_city, housing, session_factory, pseudonymizer=pseudonymizer, now=NOW)
    community = make_community({n: housing.table(n) for n in TABLES}, np.random.default_rng(4))

    report = load_community(community, session_factory, now=NOW)

    assert (report.devices, report.alarm_zones, report.vehicles) == tuple(
        community[t].height for t in ("devices", "alarm_zones", "vehicles")
    )
    with session_factory() as session:
        device_id, secret = next(iter(report.secrets.items()))
        device = session.get(Device, device_id)
        assert device is not None and device.kind == "alarm_panel"
        assert registry.is_secret_valid(secret, device.secret_hash)
    zones = ZoneFacts(session_factory)
    frame = zones.frame()
    assert frame.height == community["alarm_zones"].height
    perimeter, garage = (frame.filter(pl.col("zone") == z)["zone_id"][0] for z in ("Z1", "Z2"))
    assert not zones.armed(perimeter, NOW) and zones.armed(perimeter, NIGHT)
    assert zones.armed(garage, NOW)
    cars = VehicleFacts(session_factory).registered()
    assert cars.height == community["vehicles"]["plate"].n_unique()
    with pytest.raises(CommunityAlreadyLoaded):
        load_community(community, session_factory, now=NOW)
