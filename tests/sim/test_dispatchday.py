"""The simulated day of calls: how the calls are drawn, and each policy played through the real
dispatch code on the tiny city (its own SQLite registry)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest

from safecity.core.geo import distance_m
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import RoadData
from safecity.sim import City
from safecity.sim.city import ROADS_FILE, UTC_OFFSET_H
from safecity.sim.dispatchday import (
    CALL_HANDLING,
    KIND_SHARES,
    POLICIES,
    TURNOUT,
    Call,
    plan_calls,
    play_day,
)

DAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def network(tiny_city: City) -> RoadNetwork:
    return RoadNetwork(RoadData.load(tiny_city.out_dir / ROADS_FILE))


def test_a_day_of_calls_follows_the_hours_types_and_people_of_the_city(
    tiny_city: City, network: RoadNetwork
) -> None:
    calls = plan_calls(tiny_city, network, count=2000, day=DAY, seed=5)
    assert len(calls) == 2000  # the tiny city's homes are all near a road
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    hours = Counter((c.at + timedelta(hours=UTC_OFFSET_H)).hour for c in calls)
    assert all((c.at + timedelta(hours=UTC_OFFSET_H)).date() == DAY for c in calls)
    assert sum(hours[h] for h in (3, 4, 5)) * 3 < sum(hours[h] for h in (19, 20, 21))  # dawn is quiet
    kinds = Counter(c.kind for c in calls)
    assert set(kinds) == set(KIND_SHARES)
    assert kinds["theft"] > kinds["missing_person"]
    box = tiny_city.bbox
    assert all(box.south < c.lat < box.north and box.west < c.lon < box.east for c in calls)
    assert 5 < float(np.median([c.scene_min for c in calls])) < 60
    assert plan_calls(tiny_city, network, count=50, day=DAY, seed=5) == plan_calls(
        tiny_city, network, count=50, day=DAY, seed=5
    )


@pytest.fixture(scope="module")
def calls(tiny_city: City, network: RoadNetwork) -> list[Call]:
    return plan_calls(tiny_city, network, count=30, day=DAY, seed=9)


def test_every_policy_reaches_every_call_and_the_desks_figures_agree(
    tiny_city: City, network: RoadNetwork, calls: list[Call]
) -> None:
    results = {policy: play_day(tiny_city, network, calls, policy) for policy in POLICIES}
    least = (CALL_HANDLING + TURNOUT) / timedelta(minutes=1)
    for policy, result in results.items():
        assert result.calls == result.reached == len(calls), policy
        assert min(result.arrivals_min) >= least  # no crew arrives before it is sent and sets off
        kpi = result.report.overall
        assert kpi.incidents == len(calls) and kpi.not_reached == 0
        assert kpi.call_to_arrival.mean == pytest.approx(result.mean_min, abs=0.01)
        assert result.untrusted_fixes == 0  # crews drive the roads at road speeds
    # Same calls, same crews: what differs is which unit goes, and road time is never worse here.
    assert results["road_time"].mean_min <= results["straight_line"].mean_min
    assert results["road_time_reposition"].repositions > 0


def test_an_unknown_policy_or_an_empty_day_is_refused(
    tiny_city: City, network: RoadNetwork, calls: list[Call]
) -> None:
    with pytest.raises(ValueError, match="unknown policy 'nearest'; the policies are straight_line"):
        play_day(tiny_city, network, calls, "nearest")
    with pytest.raises(ValueError, match="a day needs at least one call"):
        play_day(tiny_city, network, [], "road_time")


@pytest.mark.parametrize("policy", ["straight_line", "road_time"])
def test_each_policy_sends_the_unit_it_says_nearest_as_the_crow_flies_or_by_road(
    tiny_city: City, network: RoadNetwork, policy: str
) -> None:
    from safecity.sim.forces import unit_plan

    (call,) = plan_calls(tiny_city, network, count=1, day=DAY, seed=3)
    assert call.kind not in ("traffic_accident",)  # a card that sends one patrol unit
    cars = [u for u in unit_plan(tiny_city.table("areas")) if u.department == "patrol" and u.kind == "car"]
    place = network.snap(call.lat, call.lon)
    band = network.speeds.band_at(call.at + CALL_HANDLING)
    by_air = {u.id: distance_m(u.home_lat, u.home_lon, call.lat, call.lon) for u in cars}
    by_road = {u.id: network.eta(network.snap(u.home_lat, u.home_lon), place, band) for u in cars}
    result = play_day(tiny_city, network, [call], policy)
    (sent,) = result.sent[0]  # the run card of a tiny city's call sends one patrol unit here
    ranking = by_air if policy == "straight_line" else by_road
    # Each station's two cars stand together: either of them is the nearest.
    assert ranking[sent] == pytest.approx(min(ranking.values()))
