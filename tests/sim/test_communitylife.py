"""The smart communities and shops of a generated city (sim.community, sim.communitylife): panels,
zones, cameras and residents' cars; a week with every community and shop warning planted beside
decoys; and the replay of that week through the platform's engine on the tiny city, which finds
every planted incident and stays quiet on the decoys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from safecity.core.clock import ManualClock
from safecity.places.rules.accuracy import score
from safecity.places.shops import Shops
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.sim import City, load_city
from safecity.sim.community import COMMUNITY_TABLES, make_community
from safecity.sim.community_loader import CommunityAlreadyLoaded, load_community
from safecity.sim.communitylife import CommunityLife, community_life
from safecity.sim.housing import HOUSING_SCALES, TABLES, generate_housing, make_housing
from safecity.sim.housing_loader import load_housing
from safecity.sim.replay import incidents, ingest_rows, raised_alerts, replay

START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday 08:00 in Wenzhou
DAYS = 7
KINDS = {"community_intrusion", "shop_armed_breach", "community_unregistered_vehicle"}


@pytest.fixture(scope="module")
def housing(tiny_city: City) -> dict[str, pl.DataFrame]:
    return make_housing(tiny_city, HOUSING_SCALES["tiny"], np.random.default_rng(2))


@pytest.fixture(scope="module")
def community(housing: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return make_community(housing, np.random.default_rng(5))


@pytest.fixture(scope="module")
def life(housing: dict[str, pl.DataFrame], community: dict[str, pl.DataFrame]) -> CommunityLife:
    return community_life(housing, community, start=START, days=DAYS, seed=7, plants=3)


def test_every_compound_has_a_panel_with_two_zones_a_camera_and_some_residents_cars(
    housing: dict[str, pl.DataFrame], community: dict[str, pl.DataFrame]
) -> None:
    compounds = housing["compounds"].height
    assert set(community) == set(COMMUNITY_TABLES)
    assert community["devices"].group_by("kind").len().sort("kind").rows() == [
        ("alarm_panel", compounds),
        ("plate_camera", compounds),
    ]
    zones = community["alarm_zones"]
    assert zones.height == 2 * compounds and zones["id"].is_unique().all()
    perimeter = zones.filter(pl.col("zone") == "Z1")["armed_hours"].to_list()
    assert all(json.loads(h)["mon"] == [["22:00", "06:00"]] for h in perimeter)
    assert zones.filter(pl.col("zone") == "Z2")["armed_hours"].null_count() == compounds
    cars = community["vehicles"]
    assert cars["plate"].is_unique().all() and cars["plate"].str.starts_with("浙C").all()
    assert 0.1 * housing["tenancies"].height < cars.height < 0.25 * housing["tenancies"].height
    lives = housing["tenancies"].select("person_id", "compound_id")
    assert cars.join(
        lives, on=["person_id", "compound_id"], how="anti"
    ).is_empty()  # a car where its owner lives


def test_the_same_tables_and_seed_give_the_same_community_and_week(
    housing: dict[str, pl.DataFrame], community: dict[str, pl.DataFrame], life: CommunityLife
) -> None:
    again = make_community(housing, np.random.default_rng(5))
    for name in COMMUNITY_TABLES:
        assert_frame_equal(again[name], community[name])
    week = community_life(housing, community, start=START, days=DAYS, seed=7, plants=3)
    assert_frame_equal(week.records, life.records)
    assert_frame_equal(week.truth, life.truth)
    other = community_life(housing, community, start=START, days=DAYS, seed=8, plants=3)
    assert not other.records.equals(life.records)


def test_every_kind_is_planted_with_its_decoys_inside_the_week(life: CommunityLife) -> None:
    for frame in (life.truth, life.decoys):
        assert frame.group_by("rule_kind").len().sort("rule_kind").rows() == [(k, 3) for k in sorted(KINDS)]
    records = life.records
    assert records["ts"].is_sorted()
    assert records["ts"].min() >= START and records["ts"].max() < START + timedelta(days=DAYS)  # type: ignore[operator]
    # Planted intrusions at night, decoys in the afternoon (local); decoy shops opened without force.
    local_hour = pl.col("start").dt.convert_time_zone("Asia/Shanghai").dt.hour()
    planted = life.truth.filter(pl.col("rule_kind") == "community_intrusion").select(local_hour)["start"]
    decoyed = life.decoys.filter(pl.col("rule_kind") == "community_intrusion").select(local_hour)["start"]
    assert planted.max() < 6 and decoyed.min() >= 13  # type: ignore[operator]
    # A planted car comes on five different days; a visitor's once.
    reads = records.filter(pl.col("kind") == "plate_read")
    for refs in life.truth.filter(pl.col("rule_kind") == "community_unregistered_vehicle")["refs"]:
        plate = refs[0].removeprefix("plate:")
        assert reads.filter(pl.col("subject") == plate)["ts"].dt.date().n_unique() == 5
    for refs in life.decoys.filter(pl.col("rule_kind") == "community_unregistered_vehicle")["refs"]:
        assert reads.filter(pl.col("subject") == refs[0].removeprefix("plate:")).height == 1


def test_shop_staff_swipe_in_during_business_hours_on_most_days(
    housing: dict[str, pl.DataFrame], life: CommunityLife
) -> None:
    staff = housing["shop_staff"].join(housing["people"].select("person_id", "id_number"), on="person_id")
    assert staff.group_by("shop_id").len()["len"].is_between(1, 2).all()
    assert set(staff["shop_id"]) == set(housing["shops"]["id"])
    door = ("DC-SHOP-" + pl.col("shop_id").cast(pl.String).str.zfill(5)).alias("device")
    hours = housing["shops"].select(pl.col("id").alias("shop_id"), "opens", "closes")
    swipes = life.records.filter(pl.col("kind") == "door_swipe").join(
        staff.join(hours, on="shop_id").select(door, pl.col("id_number").alias("subject"), "opens", "closes"),
        on=["device", "subject"],
    )
    # Six days of seven each, at least one swipe a working day: no fewer than half the staff-days.
    assert swipes.height >= staff.height * DAYS // 2
    local = swipes["ts"].dt.convert_time_zone("Asia/Shanghai").dt.strftime("%H:%M")
    assert (local >= swipes["opens"]).all() and (local < swipes["closes"]).all()
    assert set(swipes["code"]) == {"granted"}


def test_days_too_few_for_a_planted_car_are_refused(
    housing: dict[str, pl.DataFrame], community: dict[str, pl.DataFrame]
) -> None:
    with pytest.raises(ValueError, match="days"):
        community_life(housing, community, start=START, days=3, seed=1)


def test_the_week_replayed_on_the_tiny_city_finds_every_planted_incident_and_no_decoy(
    tiny_city: City, tmp_path: Path
) -> None:
    clock = ManualClock(START - timedelta(days=2))
    settings = Settings(data_dir=tmp_path / "data")
    platform = Platform.build(settings, clock=clock)
    load_city(tiny_city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    generated = generate_housing(tiny_city, seed=11)
    before = START - timedelta(days=60)
    load_housing(
        tiny_city, generated, platform.session_factory, pseudonymizer=platform.pseudonyms, now=before
    )
    tables = {name: generated.table(name) for name in TABLES}
    community = make_community(tables, np.random.default_rng(11))
    report = load_community(community, platform.session_factory, now=before)
    assert (report.alarm_zones, report.vehicles) == (
        community["alarm_zones"].height,
        community["vehicles"].height,
    )
    with pytest.raises(CommunityAlreadyLoaded):
        load_community(community, platform.session_factory, now=START)
    platform = Platform.build(settings, clock=clock)  # facts and rules read the loaded registry

    week = community_life(tables, community, start=START, days=DAYS, seed=11, plants=3)
    areas = pl.concat(
        [
            tables["doors"].select(pl.col("device_id").alias("device"), pl.col("area_id").alias("area")),
            community["devices"].select(pl.col("device_id").alias("device"), pl.col("area_id").alias("area")),
        ]
    )
    records = ingest_rows(week.records, areas, platform.pseudonyms.column)
    shops = platform.service(Shops)
    findings = replay(
        platform.rules,
        records,
        start=START,
        end=START + timedelta(days=DAYS),
        set_clock=clock.set,
        every_tick=lambda _: shops.apply_schedule(),
    )
    raised = [r for r in raised_alerts(findings) if r.rule_kind in KINDS]
    slack = timedelta(hours=2)
    scores = score(incidents(week.truth, platform.pseudonyms.pseudonym), raised, slack=slack)
    # Recall and precision 1.0: each planted incident found, each alert about one.
    assert {s.rule_kind: (s.planted, s.found, s.raised, s.right) for s in scores} == dict.fromkeys(
        KINDS, (3, 3, 3, 3)
    )
    quiet = score(incidents(week.decoys, platform.pseudonyms.pseudonym), raised, slack=slack)
    assert [(s.rule_kind, s.found) for s in quiet] == [(k, 0) for k in sorted(KINDS)]


def test_loading_the_city_again_clears_its_zones_and_cars(tiny_city: City, tmp_path: Path) -> None:
    from safecity.places import bulk as places_bulk

    platform = Platform.build(Settings(data_dir=tmp_path / "data"), clock=ManualClock(START))
    load_city(tiny_city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    generated = generate_housing(tiny_city, seed=11)
    load_housing(tiny_city, generated, platform.session_factory, pseudonymizer=platform.pseudonyms, now=START)
    community = make_community({n: generated.table(n) for n in TABLES}, np.random.default_rng(1))
    load_community(community, platform.session_factory, now=START)

    load_city(tiny_city, platform.session_factory, pseudonymizer=platform.pseudonyms, replace=True)

    with platform.session_factory() as session:
        assert places_bulk.counts(session) == dict.fromkeys(places_bulk.counts(session), 0)
