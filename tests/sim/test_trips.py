"""Daily trips from routines: commutes out and back on the same roads, fewer on weekends."""

from __future__ import annotations

from datetime import date

import numpy as np

from safecity.sim import City
from safecity.sim.trips import DELIVERY, KIND_AM, KIND_DELIVERY, KIND_PM, Fleet, day_trips, local_midnight

MONDAY, SUNDAY = date(2026, 11, 23), date(2026, 11, 29)


def _fleet(city: City) -> Fleet:
    return Fleet.from_tables(city.table("bikes"), city.table("routines"))


def test_morning_trips_go_home_to_destination_and_evening_trips_come_back(tiny_city: City) -> None:
    fleet = _fleet(tiny_city)
    trips = day_trips(fleet, tiny_city.grid, 1, MONDAY)
    am, pm = trips.take(trips.kind == KIND_AM), trips.take(trips.kind == KIND_PM)
    assert len(am) > 0.5 * fleet.size
    assert (am.wx[:, 0] == fleet.home_x[am.bike]).all()
    assert (am.wy[:, 0] == fleet.home_y[am.bike]).all()
    assert (am.wx[:, -1] == fleet.dest_x[am.bike]).all()
    assert (am.wy[:, -1] == fleet.dest_y[am.bike]).all()
    by_bike = {int(b): i for i, b in enumerate(am.bike)}
    for j, bike in enumerate(pm.bike.tolist()):
        i = by_bike[bike]
        assert (pm.wx[j] == am.wx[i][::-1]).all(), "the way back uses the same roads"
        assert pm.start_ms[j] >= am.end_ms(tiny_city.grid)[i]


def test_trips_start_at_plausible_local_hours_in_start_order(tiny_city: City) -> None:
    trips = day_trips(_fleet(tiny_city), tiny_city.grid, 1, MONDAY)
    hours = (trips.start_ms - int(local_midnight(MONDAY).timestamp() * 1000)) / 3_600_000
    assert (np.diff(trips.start_ms) >= 0).all()
    assert hours.min() >= 5.0
    assert hours.max() <= 24.0
    assert ((trips.speed_mps * 3.6 >= 12 - 1e-9) & (trips.speed_mps * 3.6 <= 25 + 1e-9)).all()


def test_weekends_have_fewer_commutes(tiny_city: City) -> None:
    fleet = _fleet(tiny_city)
    weekday = day_trips(fleet, tiny_city.grid, 1, MONDAY)
    weekend = day_trips(fleet, tiny_city.grid, 1, SUNDAY)
    assert (weekend.kind == KIND_AM).sum() < 0.6 * (weekday.kind == KIND_AM).sum()


def test_day_trips_are_deterministic_by_seed_and_day(tiny_city: City) -> None:
    fleet = _fleet(tiny_city)
    a, b = day_trips(fleet, tiny_city.grid, 1, MONDAY), day_trips(fleet, tiny_city.grid, 1, MONDAY)
    c = day_trips(fleet, tiny_city.grid, 2, MONDAY)
    assert (a.start_ms == b.start_ms).all()
    assert (a.key == b.key).all()
    assert len(a) != len(c) or (a.start_ms != c.start_ms).any()


def test_couriers_ride_rounds_from_their_depot_and_no_bike_rides_two_trips_at_once(tiny_city: City) -> None:
    fleet = _fleet(tiny_city)
    trips = day_trips(fleet, tiny_city.grid, 1, MONDAY)
    rounds = trips.take(trips.kind == KIND_DELIVERY)
    assert len(rounds) > 0
    assert (fleet.purpose[rounds.bike] == DELIVERY).all()
    depot_x, depot_y = fleet.dest_x[rounds.bike], fleet.dest_y[rounds.bike]
    leaving = (rounds.wx[:, 0] == depot_x) & (rounds.wy[:, 0] == depot_y)
    returning = (rounds.wx[:, -1] == depot_x) & (rounds.wy[:, -1] == depot_y)
    assert (leaving ^ returning).all()  # every round goes out from the depot and comes back to it
    assert leaving.sum() == returning.sum()
    ends = trips.end_ms(tiny_city.grid)
    order = np.lexsort((trips.start_ms, trips.bike))
    same_bike = trips.bike[order][1:] == trips.bike[order][:-1]
    assert not (same_bike & (trips.start_ms[order][1:] < ends[order][:-1])).any()
    assert len(np.unique(trips.key)) == len(trips)
