"""The simulated tanker trips: deterministic per seed, and their ground truth is what their terminals send."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from safecity.sim import City
from safecity.sim.tankers import (
    KINDS,
    LOADED_T,
    MAX_OFF_ROUTE_M,
    OFF_ENTER_M,
    OFF_EXIT_M,
    Tanker,
    TankerPlan,
    off_route_m,
    plan_tankers,
)
from safecity.sim.tracked import Emission, Plane
from tests.sim.conftest import MORNING

HOURS = 8


@pytest.fixture(scope="module")
def plan(tiny_city: City) -> TankerPlan:
    return plan_tankers(tiny_city, seed=3, start=MORNING, hours=HOURS, count=16, plants=2)


def _fixes(plan: TankerPlan, t: Tanker) -> list[Emission]:
    return [e for e in plan.emissions if e.terminal == t.phone]


def _off(plane: Plane, t: Tanker, e: Emission) -> float:
    path = np.array([plane.xy(lat, lon) for lon, lat in t.route])
    return off_route_m(path, *plane.xy(e.reading.lat, e.reading.lon))


def _tanker(plan: TankerPlan, refs: tuple[str, ...]) -> Tanker:
    return next(t for t in plan.tankers if f"device:{t.device_id}" in refs)


def test_the_same_seed_gives_the_same_trips(tiny_city: City, plan: TankerPlan) -> None:
    again = plan_tankers(tiny_city, seed=3, start=MORNING, hours=HOURS, count=16, plants=2)
    other = plan_tankers(tiny_city, seed=4, start=MORNING, hours=HOURS, count=16, plants=2)

    assert again.emissions == plan.emissions and again.episodes == plan.episodes
    assert again.tankers == plan.tankers and again.actions == plan.actions
    assert other.emissions != plan.emissions


def test_routes_run_on_the_road_lattice_and_fixes_stay_in_the_city(tiny_city: City, plan: TankerPlan) -> None:
    plane = Plane(tiny_city.grid)
    box = tiny_city.bbox
    for t in plan.tankers:
        path = np.array([plane.xy(lat, lon) for lon, lat in t.route])
        legs = np.diff(path, axis=0)
        assert np.all(
            np.isclose(legs[:, 0], 0, atol=0.5) | np.isclose(legs[:, 1], 0, atol=0.5)
        )  # axis-aligned
        assert np.abs(legs).sum() >= 1500
    assert all(
        box.south < e.reading.lat < box.north and box.west < e.reading.lon < box.east for e in plan.emissions
    )


def test_each_kind_is_planted_with_its_truth(plan: TankerPlan) -> None:
    kinds = {e.tag for e in plan.episodes}
    assert kinds == set(KINDS)
    assert [t.episode for t in plan.tankers[: 2 * len(KINDS)]].count("off_route") == 2


def test_an_off_route_excursion_goes_beyond_the_margin_and_comes_back(
    tiny_city: City, plan: TankerPlan
) -> None:
    plane = Plane(tiny_city.grid)
    for episode in (e for e in plan.episodes if e.rule_kind == "hazmat_off_route"):
        t = _tanker(plan, episode.refs)
        fixes = _fixes(plan, t)
        assert all(_off(plane, t, e) <= MAX_OFF_ROUTE_M + OFF_EXIT_M for e in fixes if e.ts < episode.start)
        assert _off(plane, t, next(e for e in fixes if e.ts == episode.start)) > MAX_OFF_ROUTE_M + OFF_EXIT_M
        assert _off(plane, t, next(e for e in fixes if e.ts == episode.end)) < MAX_OFF_ROUTE_M - OFF_ENTER_M
    plain = [t for t in plan.tankers if t.episode != "off_route"]
    assert all(_off(plane, t, e) < MAX_OFF_ROUTE_M - OFF_ENTER_M for t in plain for e in _fixes(plan, t))


def test_only_the_planted_tanker_enters_a_restricted_zone(tiny_city: City, plan: TankerPlan) -> None:
    plane = Plane(tiny_city.grid)
    entries = [e for e in plan.episodes if e.rule_kind == "hazmat_restricted_zone"]
    assert len(entries) == len(plan.zones) >= 1

    def inside(e: Emission, ring: list[tuple[float, float]]) -> bool:
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        return min(lons) < e.reading.lon < max(lons) and min(lats) < e.reading.lat < max(lats)

    for name, ring in plan.zones:
        entered = {e.terminal for e in plan.emissions if inside(e, ring)}
        owner = next(t for t in plan.tankers if t.n == int(name.split()[-1]))
        assert entered == {owner.phone}
        assert plane.xy(*ring[0][::-1])  # a ring of (lon, lat)


def test_speeding_long_stops_and_windows_are_in_the_fixes(plan: TankerPlan) -> None:
    fast = {e.terminal for e in plan.emissions if e.reading.speed_kmh > 80}
    assert fast == {t.phone for t in plan.tankers if t.episode == "speeding"}
    for episode in (e for e in plan.episodes if e.rule_kind == "hazmat_long_stop"):
        t = _tanker(plan, episode.refs)
        stopped = [
            e
            for e in _fixes(plan, t)
            if e.ts <= episode.end and e.ts >= episode.start - timedelta(minutes=30)
        ]
        assert all(e.reading.speed_kmh <= 3 for e in stopped)
        assert episode.end - episode.start >= timedelta(minutes=10)
    for episode in (e for e in plan.episodes if e.rule_kind == "hazmat_outside_window"):
        t = _tanker(plan, episode.refs)
        moving = [e for e in _fixes(plan, t) if e.reading.speed_kmh > 5]
        assert moving and moving[0].ts < t.depart_from - timedelta(minutes=30)


def test_actions_depart_then_deliver_and_the_silent_and_short_deliveries(plan: TankerPlan) -> None:
    by_tanker: dict[int, list[str]] = {}
    for a in plan.actions:
        by_tanker.setdefault(a.n, []).append(a.what)
    for t in plan.tankers:
        assert by_tanker[t.n] == (["depart"] if t.episode == "silent" else ["depart", "deliver"])
    short = {a.n: a.quantity_t for a in plan.actions if a.what == "deliver" and a.quantity_t != LOADED_T}
    assert set(short) == {t.n for t in plan.tankers if t.episode == "mismatch"}
    for episode in (e for e in plan.episodes if e.rule_kind == "hazmat_silent_terminal"):
        t = _tanker(plan, episode.refs)
        assert episode.start == max(e.ts for e in _fixes(plan, t))
