"""The simulated wanderers: deterministic per seed, and their ground truth is what their trackers send."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safecity.sim import City
from safecity.sim.tracked import ALARM, FIX, STATUS, Emission, Plane, distance
from safecity.sim.wanderers import (
    ENTER_MARGIN_M,
    EXIT_MARGIN_M,
    KINDS,
    NO_FIX_HOURS,
    Wanderer,
    WandererPlan,
    plan_wanderers,
)
from tests.sim.conftest import MORNING


@pytest.fixture(scope="module")
def plan(tiny_city: City) -> WandererPlan:
    return plan_wanderers(tiny_city, seed=3, start=MORNING, hours=24, count=20, plants=2)


def _reports(plan: WandererPlan, who: Wanderer, kind: str | None = None) -> list[Emission]:
    return [e for e in plan.emissions if e.terminal == who.imei and (kind is None or e.kind == kind)]


def _out_m(plane: Plane, who: Wanderer, e: Emission) -> float:
    """Metres outside the wanderer's zone (negative: inside)."""
    home = plane.xy(*who.home)
    return distance(plane.xy(e.reading.lat, e.reading.lon), home) - who.radius_m


def test_the_same_seed_gives_the_same_wanderers_and_reports(tiny_city: City, plan: WandererPlan) -> None:
    again = plan_wanderers(tiny_city, seed=3, start=MORNING, hours=24, count=20, plants=2)
    other = plan_wanderers(tiny_city, seed=4, start=MORNING, hours=24, count=20, plants=2)

    assert again.emissions == plan.emissions and again.episodes == plan.episodes
    assert again.wanderers == plan.wanderers
    assert other.emissions != plan.emissions
    assert [e.ts for e in plan.emissions] == sorted(e.ts for e in plan.emissions)


def test_every_fix_is_in_the_city_and_each_wanderer_lives_in_a_community(
    tiny_city: City, plan: WandererPlan
) -> None:
    box = tiny_city.bbox
    assert all(
        box.south < e.reading.lat < box.north and box.west < e.reading.lon < box.east for e in plan.emissions
    )
    assert all(w.area_id is not None for w in plan.wanderers)
    assert len({w.imei for w in plan.wanderers}) == len(plan.wanderers) == 20


def test_wanderers_without_an_exit_stay_well_inside_their_zone(tiny_city: City, plan: WandererPlan) -> None:
    plane = Plane(tiny_city.grid)
    calm = [w for w in plan.wanderers if w.episode not in ("exit", "missing", "jitter")]
    assert calm
    for w in calm:
        fixes = _reports(plan, w, FIX) + _reports(plan, w, ALARM)
        assert max(_out_m(plane, w, e) for e in fixes) < -EXIT_MARGIN_M, w.n


def test_a_planted_exit_leaves_beyond_the_margin_and_comes_back(tiny_city: City, plan: WandererPlan) -> None:
    plane = Plane(tiny_city.grid)
    exits = [e for e in plan.episodes if e.tag == "exit"]
    assert len(exits) == 2
    for episode in exits:
        who = next(w for w in plan.wanderers if f"device:{w.device_id}" in episode.refs)
        fixes = _reports(plan, who, FIX)
        before = [e for e in fixes if e.ts < episode.start]
        during = [e for e in fixes if episode.start <= e.ts < episode.end]
        back = next(e for e in fixes if e.ts == episode.end)
        assert all(_out_m(plane, who, e) < EXIT_MARGIN_M for e in before)
        assert _out_m(plane, who, during[0]) > EXIT_MARGIN_M
        assert max(_out_m(plane, who, e) for e in during) > 200
        assert _out_m(plane, who, back) < -ENTER_MARGIN_M


def test_a_missing_wanderer_walks_away_and_stays_out(tiny_city: City, plan: WandererPlan) -> None:
    plane = Plane(tiny_city.grid)
    for episode in (e for e in plan.episodes if e.tag == "missing"):
        who = next(w for w in plan.wanderers if f"device:{w.device_id}" in episode.refs)
        after = [e for e in _reports(plan, who, FIX) if e.ts >= episode.start]
        assert episode.end == plan.end
        assert all(_out_m(plane, who, e) > EXIT_MARGIN_M for e in after)


def test_jitter_on_the_edge_is_never_an_exit(tiny_city: City, plan: WandererPlan) -> None:
    plane = Plane(tiny_city.grid)
    assert len(plan.decoys) == 2
    for decoy in plan.decoys:
        who = next(w for w in plan.wanderers if f"device:{w.device_id}" in decoy.refs)
        fixes = _reports(plan, who, FIX)
        on_edge = [e for e in fixes if decoy.start <= e.ts <= decoy.end]
        outside = [_out_m(plane, who, e) > 0 for e in fixes]
        assert any(_out_m(plane, who, e) > 0 for e in on_edge)  # it does cross the line
        assert max(_out_m(plane, who, e) for e in fixes) < EXIT_MARGIN_M
        assert not any(a and b for a, b in zip(outside, outside[1:], strict=False))  # never twice running
        assert not any(who.device_id in r for e in plan.episodes for r in e.refs)


def test_alarms_are_sent_when_the_truth_says(tiny_city: City, plan: WandererPlan) -> None:
    for kind in ("sos", "fall"):
        planted = [e for e in plan.episodes if e.rule_kind == f"wearer_{kind}"]
        sent = [e for e in plan.emissions if e.kind == ALARM and e.alarm == kind]
        assert len(planted) == len(sent) == 2
        assert sorted(e.start for e in planted) == sorted(e.ts for e in sent)


def test_a_dying_battery_reports_level_one_and_a_low_battery_alarm_then_recovers(plan: WandererPlan) -> None:
    planted = [e for e in plan.episodes if e.rule_kind == "wearer_low_battery"]
    assert len(planted) == 2
    for episode in planted:
        who = next(w for w in plan.wanderers if f"device:{w.device_id}" in episode.refs)
        statuses = _reports(plan, who, STATUS)
        alarm = [e for e in _reports(plan, who, ALARM) if e.alarm == "low_battery"]
        assert [e.ts for e in alarm] == [episode.start]
        assert min(e.battery_level for e in statuses) == 1
        assert all(e.battery_level >= 2 for e in statuses if e.ts < episode.start)
        assert all(e.battery_level == 1 for e in statuses if episode.start <= e.ts < episode.end)
    calm = [w for w in plan.wanderers if w.episode != "battery"]
    assert all(e.battery_level == 6 for w in calm for e in _reports(plan, w, STATUS))


def test_a_silent_tracker_sends_nothing_after_its_last_fix(plan: WandererPlan) -> None:
    planted = [e for e in plan.episodes if e.rule_kind == "wearer_no_fix"]
    silent = [w for w in plan.wanderers if w.episode == "silent"]
    assert len(silent) == 2
    for episode in planted:
        who = next(w for w in silent if f"device:{w.device_id}" in episode.refs)
        last = max(e.ts for e in _reports(plan, who))
        assert episode.start == last  # the warning's evidence: where the silence began
        assert last < plan.end - timedelta(hours=NO_FIX_HOURS)


def test_one_episode_kind_per_planted_wanderer(plan: WandererPlan) -> None:
    assert [w.episode for w in plan.wanderers[: 2 * len(KINDS)]] == list(KINDS) * 2
    assert all(w.episode == "" for w in plan.wanderers[2 * len(KINDS) :])
